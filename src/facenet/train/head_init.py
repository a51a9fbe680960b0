"""Fine-tuning into a smaller embedding: initialise the new embedding layer from a PCA of the
pretrained model's own embeddings, so that the network starts as a good D'-dimensional
embedding instead of a random projection.

A network takes part when it exposes ``features(x) -> (N, F)`` and ``embedding_head() ->
(Linear, BatchNorm1d | None)``; its output is ``normalise(bn(linear(dropout(features(x)))))``.

With the source model's pre-normalisation embedding ``z = bn_s(W_s f)`` (N, D) computed on training
images, PCA gives the mean ``mu`` (D,) and the top-D' principal directions ``U`` (D, D'). The new
head computes ``U^T (z - mu)``, which is linear in ``f``: it is folded into the target's Linear
(and BatchNorm, in eval mode an exact affine map; its running statistics are set to the sample's,
so that train-mode BatchNorm computes nearly the same on typical batches).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from facenet.validation import check_type


def embedding_head(model: nn.Module) -> tuple[nn.Linear, nn.BatchNorm1d | None]:
    """``model``'s (Linear, BatchNorm1d or None) embedding layer; ValueError if it has none."""
    if not (hasattr(model, "embedding_head") and hasattr(model, "features")):
        raise ValueError(f"{type(model).__name__} exposes no features()/embedding_head(): it cannot take a PCA-initialised head.")
    return model.embedding_head()


def _affine(linear: nn.Linear, bn: nn.BatchNorm1d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, c) with eval-mode ``bn(linear(f)) == f @ A.T + c``: A (D, F), c (D,), float64."""
    a = linear.weight.detach().double()
    c = linear.bias.detach().double() if linear.bias is not None else torch.zeros(a.shape[0], dtype=torch.float64)
    if bn is not None:
        s = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
        g = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(s)
        b = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(s)
        a = a * (g * s)[:, None]
        c = (c - bn.running_mean.detach().double()) * g * s + b
    return a, c


@torch.no_grad()
def source_features(model: nn.Module, batches: Iterable[torch.Tensor]) -> torch.Tensor:
    """``model.features`` over ``batches`` (each (B, 3, H, W), already standardised), in eval mode:
    (N, F) float64."""
    was_training = model.training
    model.eval()
    try:
        out = [model.features(x).double() for x in batches]
    finally:
        model.train(was_training)
    if not out:
        raise ValueError("PCA head initialisation needs at least one batch of training images; got none.")
    return torch.cat(out)


@torch.no_grad()
def pca_head_init(source: nn.Module, target: nn.Module, feats: torch.Tensor) -> dict[str, float]:
    """Set ``target``'s embedding layer to the PCA projection of ``source``'s embedding.

    source, target: networks with the same ``features`` (the target's backbone already holds the
    source's weights); feats: (N, F) ``source.features`` of training images, N > target size.
    Returns {"explained_variance": fraction of the source embedding's variance kept, "n": N}.
    """
    lin_s, bn_s = embedding_head(source)
    lin_t, bn_t = embedding_head(target)
    d_out = lin_t.out_features
    if lin_s.in_features != lin_t.in_features:
        raise ValueError(f"source and target embedding layers take {lin_s.in_features} and {lin_t.in_features} features; "
                         "they must match.")
    check_type(feats, "feats", torch.Tensor, owner="pca_head_init", what="an (N, F) float tensor")
    if feats.ndim != 2 or not feats.is_floating_point() or feats.shape[1] != lin_s.in_features:
        raise ValueError(f"The 'feats' parameter of pca_head_init must be an (N, {lin_s.in_features}) float tensor. "
                         f"Got a {feats.dtype} tensor of shape {tuple(feats.shape)} instead.")
    feats = feats.double()
    if d_out > lin_s.out_features:
        raise ValueError(f"PCA can only shrink the embedding: source {lin_s.out_features}-D, target {d_out}-D.")
    if feats.shape[0] <= d_out:
        raise ValueError(f"PCA to {d_out} dimensions needs more than {d_out} images; got {feats.shape[0]}.")
    if bn_t is None and lin_t.bias is None:
        raise ValueError("a target embedding layer without BatchNorm needs a bias for PCA initialisation.")
    if bn_t is not None and (bn_t.weight is None or bn_t.bias is None):
        raise ValueError("PCA initialisation needs an affine BatchNorm in the target embedding layer.")
    a, c = _affine(lin_s, bn_s)
    z = feats @ a.T + c                                   # (N, D) pre-normalisation source embedding
    mu = z.mean(0)
    _, s, vt = torch.linalg.svd(z - mu, full_matrices=False)
    u = vt[:d_out].T                                      # (D, D')
    explained = float((s[:d_out] ** 2).sum() / (s ** 2).sum())
    w_new = u.T @ a                                       # (D', F)
    b_new = u.T @ (c - mu)                                # (D',)
    lin_t.weight.copy_(w_new.to(lin_t.weight.dtype))
    if bn_t is None:
        lin_t.bias.copy_(b_new.to(lin_t.bias.dtype))
    else:
        # Linear (bias zeroed) then BatchNorm: raw = f W^T; BN(raw) = (raw - m) / sqrt(v + eps) * g + b.
        # With m, v the sample's statistics of raw, g = sqrt(v + eps) and b = m + b_new, eval-mode
        # BN(raw) = raw + b_new exactly.
        if lin_t.bias is not None:
            lin_t.bias.zero_()
        raw = feats @ w_new.T
        m, v = raw.mean(0), raw.var(0, unbiased=False).clamp_min(1e-12)
        bn_t.running_mean.copy_(m.to(bn_t.running_mean.dtype))
        bn_t.running_var.copy_(v.to(bn_t.running_var.dtype))
        bn_t.weight.copy_(torch.sqrt(v + bn_t.eps).to(bn_t.weight.dtype))
        bn_t.bias.copy_((m + b_new).to(bn_t.bias.dtype))
    return {"explained_variance": explained, "n": int(feats.shape[0])}
