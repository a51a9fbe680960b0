"""The training configuration: one dataclass, loadable from YAML, overridable by flags, and
written back (resolved) next to the checkpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Optional

from facenet.validation import check_option, check_scalar, check_type

OPTIMIZERS = ("adagrad", "sgd", "adamw")
SCHEDULES = ("constant", "cosine", "step")
HEAD_INITS = ("random", "pca")

# Field checks: ints with their lowest value, floats in [0, inf), strings, strings or None, bools.
_INTS = {"people_per_batch": 2, "images_per_person": 2, "embedding_size": 2, "head_pca_images": 2, "step_size": 1,
         "warmup_steps": 0, "steps": 1, "checkpoint_every": 1, "val_every": -1, "val_pairs": 0, "workers": 0,
         "seed": 0, "synthetic_identities": 2, "synthetic_images": 2, "log_every": 1}
_FLOATS = ("backbone_lr_mult", "margin", "lr", "weight_decay", "momentum", "gamma", "grad_clip", "max_minutes")
_STRS = ("data", "exclude_identities", "out", "model", "miner", "device", "val_detector")
_OPTIONAL_STRS = ("init_from", "lfw_root")
_BOOLS = ("augment", "amp", "freeze_bn", "tensorboard")


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
        """Check every field (ValueError naming the field, e.g. "The 'steps' parameter must be an
        int in [1, inf). Got 0 instead."); nothing is converted."""
        for name, low in _INTS.items():
            check_scalar(getattr(self, name), name, int, min_val=low)
        check_scalar(self.input_size, "input_size", int, min_val=1, allow_none=True)
        for name in _FLOATS:  # finite: max_val=inf with include="left" refuses inf itself
            check_scalar(getattr(self, name), name, float, min_val=0.0, max_val=float("inf"), include="left")
        check_option(self.optimizer, "optimizer", OPTIMIZERS)
        check_option(self.head_init, "head_init", HEAD_INITS)
        check_option(self.schedule, "schedule", SCHEDULES)
        for name in _STRS:
            check_type(getattr(self, name), name, str, what="a str")
        for name in _OPTIONAL_STRS:
            check_type(getattr(self, name), name, (str, type(None)), what="a str or None")
        for name in _BOOLS:
            check_type(getattr(self, name), name, bool, what="a bool")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        """Read a YAML file of field: value lines, then apply ``overrides`` (None values ignored).

        Raises :class:`facenet.errors.DataError` when the file is missing, unreadable, not YAML or
        not a mapping; ValueError for unknown or invalid options.
        """
        import yaml

        from facenet.errors import DataError

        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise DataError(f"Training config {path} cannot be read: {exc.strerror or exc}.") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise DataError(f"Training config {path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise DataError(f"{path}: expected a mapping of option: value, got {type(raw).__name__}.")
        return cls.from_dict({**raw, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """A config from field: value pairs; unknown names raise ValueError with close matches."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            import difflib

            hints = [f"{u} (did you mean {difflib.get_close_matches(u, known, 1)[0]!r}?)"
                     if difflib.get_close_matches(u, known, 1) else u for u in unknown]
            raise ValueError(f"Unknown training option(s): {', '.join(hints)}.")
        return cls(**values)

    def updated(self, **overrides: Any) -> "TrainConfig":
        """A copy with ``overrides`` applied (None values ignored), checked again."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (plain values, as written to ``config.yaml``)."""
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write the resolved config as YAML at ``path`` (parents created). Returns the path."""
        import yaml

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

