"""Optimisers and learning-rate schedules for training."""

from __future__ import annotations

import math
from typing import Iterable

import torch

from facenet.train.config import TrainConfig


def param_groups(cfg: TrainConfig, model: torch.nn.Module) -> list[dict]:
    """One group, or two when ``cfg.backbone_lr_mult != 1``: the backbone at ``lr * backbone_lr_mult``
    and the embedding layer (``model.embedding_head()``) at ``lr``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.backbone_lr_mult == 1.0:
        return [{"params": params}]
    from facenet.train.head_init import embedding_head

    head_ids = {id(p) for m in embedding_head(model) if m is not None for p in m.parameters()}
    return [{"params": [p for p in params if id(p) not in head_ids], "lr": cfg.lr * cfg.backbone_lr_mult},
            {"params": [p for p in params if id(p) in head_ids], "lr": cfg.lr}]


def build_optimizer(cfg: TrainConfig, params: Iterable[torch.nn.Parameter] | list[dict]) -> torch.optim.Optimizer:
    """AdaGrad (the paper's choice), SGD with momentum, or AdamW. ``params``: parameters or
    :func:`param_groups`."""
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps``, then constant, cosine to 0 at ``steps``, or step decay."""

    def factor(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "cosine":
            t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
        if cfg.schedule == "step":
            return cfg.gamma ** ((step - cfg.warmup_steps) // max(1, cfg.step_size))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
