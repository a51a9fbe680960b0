"""PCA initialisation of a smaller embedding layer, and the backbone learning-rate multiplier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from facenet.train import TrainConfig
from facenet.train.head_init import pca_head_init, source_features
from facenet.train.optim import build_optimizer, param_groups


class _Tiny(nn.Module):
    """features: a fixed random projection; head: Linear (+ BatchNorm1d), like the real networks."""

    def __init__(self, d: int, bn: bool = True) -> None:
        super().__init__()
        self.body = nn.Linear(12, 16)
        self.lin = nn.Linear(16, d, bias=not bn)
        self.bn = nn.BatchNorm1d(d) if bn else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.body(x))

    def embedding_head(self):
        return self.lin, self.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.lin(self.features(x))
        return F.normalize(self.bn(z) if self.bn is not None else z, dim=1)


def _source(bn: bool) -> _Tiny:
    torch.manual_seed(0)
    src = _Tiny(8, bn)
    if bn:  # non-trivial running statistics and affine parameters
        src.bn.running_mean.uniform_(-0.5, 0.5)
        src.bn.running_var.uniform_(0.5, 2.0)
        with torch.no_grad():
            src.bn.weight.uniform_(0.5, 1.5)
            src.bn.bias.uniform_(-0.3, 0.3)
    return src.eval()


def _numpy_pca_embedding(src: _Tiny, x: torch.Tensor, fit: torch.Tensor, k: int) -> np.ndarray:
    """Brute force: source pre-normalisation embeddings, PCA fitted on ``fit``, projected, normalised."""
    with torch.no_grad():
        def pre(t):
            z = src.lin(src.features(t))
            return (src.bn(z) if src.bn is not None else z).double().numpy()
        zf, zx = pre(fit), pre(x)
    mu = zf.mean(0)
    _, _, vt = np.linalg.svd(zf - mu, full_matrices=False)
    p = (zx - mu) @ vt[:k].T
    return p / np.linalg.norm(p, axis=1, keepdims=True)


@pytest.mark.parametrize("bn", [True, False])
@pytest.mark.parametrize("k", [3, 8])
def test_pca_head_equals_projected_source_embedding(bn, k):
    src = _source(bn)
    dst = _Tiny(k, bn)
    dst.body.load_state_dict(src.body.state_dict())
    fit = torch.randn(200, 12)
    info = pca_head_init(src, dst, source_features(src, [fit[:100], fit[100:]]))
    assert 0.0 < info["explained_variance"] <= 1.0 + 1e-9 and info["n"] == 200
    if k == 8:
        assert info["explained_variance"] == pytest.approx(1.0)
    x = torch.randn(50, 12)
    with torch.no_grad():
        got = dst.eval()(x).double().numpy()
    want = _numpy_pca_embedding(src, x, fit, k)
    # principal directions are defined up to sign: compare per dimension up to sign
    signs = np.sign((got * want).sum(0))
    np.testing.assert_allclose(got * signs, want, atol=1e-5)
    if k == 8:  # the full-rank projection is a rotation of the centred source: distances are kept up to centring
        assert np.all(np.isfinite(got))


def test_pca_head_keeps_train_mode_close_to_eval_mode():
    src = _source(True)
    dst = _Tiny(4, True)
    dst.body.load_state_dict(src.body.state_dict())
    fit = torch.randn(400, 12)
    pca_head_init(src, dst, source_features(src, [fit]))
    with torch.no_grad():
        ev = dst.eval()(fit)
        tr = dst.train()(fit)
    assert torch.allclose(ev, tr, atol=1e-3)


def test_pca_head_errors():
    src = _source(True)
    with pytest.raises(ValueError, match="only shrink"):
        pca_head_init(src, _Tiny(9, True), torch.randn(100, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="more than 4 images"):
        pca_head_init(src, _Tiny(4, True), torch.randn(4, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="no features"):
        pca_head_init(nn.Linear(2, 2), _Tiny(4, True), torch.randn(10, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="at least one batch"):
        source_features(src, [])
    with pytest.raises(ValueError, match="The 'feats' parameter of pca_head_init must be an \\(N, F\\) float tensor. Got ndarray"):
        pca_head_init(src, _Tiny(4, True), np.zeros((10, 16)))
    with pytest.raises(ValueError, match=r"The 'feats' parameter of pca_head_init must be an \(N, 16\) float tensor. "
                                         r"Got a torch.float64 tensor of shape \(10, 12\) instead."):
        pca_head_init(src, _Tiny(4, True), torch.randn(10, 12, dtype=torch.float64))
    with pytest.raises(ValueError, match="The 'feats' parameter"):
        pca_head_init(src, _Tiny(4, True), torch.ones(10, 16, dtype=torch.int64))


def test_float32_features_give_the_float64_result():
    src = _source(True)
    fit = torch.randn(100, 12)
    feats = source_features(src, [fit])
    a, b = _Tiny(4, True), _Tiny(4, True)
    a.body.load_state_dict(src.body.state_dict())
    b.body.load_state_dict(src.body.state_dict())
    ia, ib = pca_head_init(src, a, feats), pca_head_init(src, b, feats.float())
    assert ia["explained_variance"] == pytest.approx(ib["explained_variance"], rel=1e-5)
    x = torch.randn(20, 12)
    with torch.no_grad():
        assert torch.allclose(a.eval()(x), b.eval()(x), atol=1e-4)


def test_backbone_lr_mult_makes_two_groups():
    model = _Tiny(4, True)
    cfg = TrainConfig(optimizer="adamw", lr=1e-3, backbone_lr_mult=0.1)
    groups = param_groups(cfg, model)
    head = {id(p) for p in list(model.lin.parameters()) + list(model.bn.parameters())}
    assert {id(p) for p in groups[1]["params"]} == head
    assert not head & {id(p) for p in groups[0]["params"]}
    opt = build_optimizer(cfg, groups)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-4, 1e-3])
    assert len(param_groups(TrainConfig(), model)) == 1


def test_config_checks_head_init():
    with pytest.raises(ValueError, match="'head_init' parameter must be one of"):
        TrainConfig(head_init="svd")
    with pytest.raises(ValueError, match="backbone_lr_mult"):
        TrainConfig(backbone_lr_mult=-1.0)
