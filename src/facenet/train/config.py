"""The training configuration: one dataclass, loadable from YAML, overridable by flags, and
written back (resolved) next to the checkpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Optional

OPTIMIZERS = ("adagrad", "sgd", "adamw")
SCHEDULES = ("constant", "cosine", "step")
HEAD_INITS = ("random", "pca")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (defaults follow the FaceNet paper where it says).

    data: folder of aligned crops per identity, or "synthetic".
    exclude_identities: comma-separated identity folder names left out of training (e.g. the
        CelebA identities found in LFW by ``bench/celeba_lfw_overlap.py``).
    model: registered architecture name (see ``facenet models``); embedding_size: its output size;
        input_size: train at this square crop size instead of the model's default (the networks
        end in global pooling, so e.g. NN2 at 96 is the paper's NN4).
    init_from: optional registered pretrained model to start from (fine-tuning), e.g.
        "facenet-casia-irv1"; its weights are loaded except the embedding layer when sizes differ.
    head_init: how a resized embedding layer starts when fine-tuning: "random", or "pca" (the
        projection onto the top principal directions of the pretrained model's embeddings of
        head_pca_images training images, so the smaller model starts close to the pretrained one).
    backbone_lr_mult: learning rate of every layer but the embedding layer, as a multiple of lr
        (e.g. 0.1 when fine-tuning).
    people_per_batch (P) × images_per_person (K): the global batch.
    miner: "semihard" (the paper), "batch_hard" or "batch_all"; margin: α.
    optimizer: adagrad (the paper), sgd or adamw; lr, weight_decay, momentum (sgd), schedule
        (constant / cosine / step with step_size and gamma), warmup_steps, grad_clip (max norm, 0: off).
    steps: total optimisation steps; max_minutes: stop (with a checkpoint) once this much wall time
        has passed (0: no limit), for runs with a stated compute budget; checkpoint_every: steps between checkpoints; val_every:
        steps between LFW View 1 validations (0: once per epoch, -1: never).
    lfw_root: LFW folder for validation (View 1 pairsDevTest); None: no validation. The run also
        validates at step 0 and keeps the weights with the best View 1 accuracy in best.pt (early
        stopping). val_detector: the detector that aligns View 1 (use the one the training crops
        were aligned with).
    freeze_bn: keep BatchNorm layers in eval mode (running statistics; common when fine-tuning;
        makes a multi-process run compute exactly what one process computes).
        Multi-GPU runs otherwise use SyncBatchNorm; multi-process CPU runs normalise per process.
    amp: mixed precision (CUDA only); device: "cpu", "cuda" or "auto"; workers: data loader processes.
    """

    data: str = "synthetic"
    exclude_identities: str = ""
    out: str = "runs/facenet"
    model: str = "nns2"
    embedding_size: int = 128
    input_size: Optional[int] = None
    init_from: Optional[str] = None
    head_init: str = "random"
    head_pca_images: int = 2048
    backbone_lr_mult: float = 1.0
    people_per_batch: int = 16
    images_per_person: int = 4
    miner: str = "semihard"
    margin: float = 0.2
    optimizer: str = "adagrad"
    lr: float = 0.05
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"
    step_size: int = 1000
    gamma: float = 0.1
    warmup_steps: int = 0
    grad_clip: float = 0.0
    steps: int = 100
    max_minutes: float = 0.0
    checkpoint_every: int = 50
    val_every: int = 0
    lfw_root: Optional[str] = None
    val_pairs: int = 0
    val_detector: str = "yunet"
    augment: bool = True
    amp: bool = False
    freeze_bn: bool = False
    device: str = "auto"
    workers: int = 0
    seed: int = 0
    synthetic_identities: int = 16
    synthetic_images: int = 8
    log_every: int = 10
    tensorboard: bool = True

    def __post_init__(self) -> None:
        _check_int(self, "people_per_batch", 2)
        _check_int(self, "images_per_person", 2)
        _check_int(self, "embedding_size", 2)
        _check_int(self, "steps", 1)
        _check_int(self, "checkpoint_every", 1)
        _check_int(self, "workers", 0)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"The 'optimizer' parameter must be one of {OPTIMIZERS}. Got {self.optimizer!r} instead.")
        if self.head_init not in HEAD_INITS:
            raise ValueError(f"The 'head_init' parameter must be one of {HEAD_INITS}. Got {self.head_init!r} instead.")
        _check_int(self, "head_pca_images", 2)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"The 'schedule' parameter must be one of {SCHEDULES}. Got {self.schedule!r} instead.")
        for name in ("margin", "lr", "weight_decay", "grad_clip", "max_minutes", "backbone_lr_mult"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"The '{name}' parameter must be a float in [0, inf). Got {v!r} instead.")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        """Read a YAML file of field: value lines, then apply ``overrides`` (None values ignored)."""
        import yaml

        raw = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping of option: value, got {type(raw).__name__}.")
        return cls.from_dict({**raw, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            import difflib

            hints = [f"{u} (did you mean {difflib.get_close_matches(u, known, 1)[0]!r}?)"
                     if difflib.get_close_matches(u, known, 1) else u for u in unknown]
            raise ValueError(f"Unknown training option(s): {', '.join(hints)}.")
        return cls(**values)

    def updated(self, **overrides: Any) -> "TrainConfig":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        import yaml

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def _check_int(cfg: TrainConfig, name: str, low: int) -> None:
    v = getattr(cfg, name)
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise ValueError(f"The '{name}' parameter must be an int in [{low}, inf). Got {v!r} instead.")
