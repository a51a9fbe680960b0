"""The training loop: P×K batches, online mining, triplet loss, checkpoints, validation, DDP."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facenet.train.checkpoint import load_checkpoint, save_checkpoint
from facenet.train.config import TrainConfig
from facenet.train.distributed import DistContext, Launch, all_reduce_mean, gather_with_grad, init_process_group, shutdown
from facenet.train.optim import build_optimizer, build_scheduler, param_groups


@dataclass
class TrainResult:
    """What a run produced. history: one dict per logged step (step, loss, fraction_active,
    lr, images_per_second, and validation metrics when measured)."""

    run_dir: Path
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None

    @property
    def losses(self) -> list[float]:
        return [h["loss"] for h in self.history if "loss" in h]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but CUDA is not available on this machine.")
    return torch.device(name)


def build_dataset(cfg: TrainConfig, model_config: Any) -> Any:
    from facenet.data.folder import FaceFolder, SyntheticFaces

    if cfg.data == "synthetic":
        return SyntheticFaces(cfg.synthetic_identities, cfg.synthetic_images, tuple(model_config.input_size), seed=cfg.seed)
    return FaceFolder(cfg.data, model_config.input_size, model_config.mean, model_config.std,
                      augment=cfg.augment, min_images=2, seed=cfg.seed,
                      exclude=[x.strip() for x in cfg.exclude_identities.split(",") if x.strip()])


def build_miner(cfg: TrainConfig) -> Any:
    from facenet.mining import create_miner

    return create_miner(cfg.miner, margin=cfg.margin, seed=cfg.seed)


def _local_slice(indices: list[int], ctx: DistContext) -> list[int]:
    n = len(indices) // ctx.world_size
    return indices[ctx.rank * n : (ctx.rank + 1) * n]


def train(cfg: TrainConfig, resume: str | Path | None = None, progress: bool = True,
          launch: Launch | None = None) -> TrainResult:
    """Train (or fine-tune) an embedding. ``resume``: a checkpoint (or run folder) to continue.

    launch: how the job was started (``facenet.train.distributed.launch_from_env(os.environ)``
    under torchrun, as ``facenet train`` does); None: one process. With several processes each
    takes an equal slice of each global P×K batch; embeddings are all-gathered so mining and the
    loss see the global batch, exactly as one process would.
    """
    from facenet.data.sampler import PKSampler
    from facenet.losses import TripletLoss
    from facenet.models.registry import create_model

    device = resolve_device(cfg.device)
    ctx = init_process_group(launch or Launch(), device.type)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
    if (cfg.people_per_batch * cfg.images_per_person) % ctx.world_size:
        raise ValueError(f"The global batch P*K={cfg.people_per_batch * cfg.images_per_person} must divide among {ctx.world_size} processes.")
    run_dir = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    embedder = create_model(cfg.model, pretrained=False, embedding_size=cfg.embedding_size, device=str(device))
    if cfg.input_size:
        from dataclasses import replace

        embedder.config = replace(embedder.config, input_size=(cfg.input_size, cfg.input_size))
    model = embedder.module.to(device)
    dataset = build_dataset(cfg, embedder.config)
    head_info: dict[str, float] = {}
    if cfg.init_from and resume is None:
        source = _init_from(model, cfg.init_from)
        if cfg.head_init == "pca":
            head_info = _pca_head(cfg, source, model, embedder.config, progress and ctx.is_main)
        del source
    sampler = PKSampler(dataset.labels, cfg.people_per_batch, cfg.images_per_person, seed=cfg.seed)
    optimizer = build_optimizer(cfg, param_groups(cfg, model))
    scheduler = build_scheduler(cfg, optimizer)
    miner = build_miner(cfg)
    loss_fn = TripletLoss(margin=cfg.margin)
    step, epoch, batch_in_epoch = 0, 0, 0
    if resume is not None:
        ck = load_checkpoint(Path(resume) / "last.pt" if Path(resume).is_dir() else resume)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        step, epoch, batch_in_epoch = ck["step"], ck["epoch"], ck["batch_in_epoch"]
        torch.set_rng_state(ck["torch_rng"])
        if hasattr(miner, "generator") and ck.get("miner_rng") is not None:
            miner.generator.set_state(ck["miner_rng"])
    if ctx.is_main:
        cfg.save(run_dir / "config.yaml")
    if ctx.enabled and device.type == "cuda" and not cfg.freeze_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = torch.nn.parallel.DistributedDataParallel(model) if ctx.enabled else model
    writer = _writer(cfg, run_dir) if ctx.is_main else None
    validator = _validator(cfg, embedder.config, progress) if ctx.is_main else None
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    result = TrainResult(run_dir, step)
    if head_info:
        result.history.append({"step": 0, **{f"head_{k}": v for k, v in head_info.items()}})
    best = _Best(run_dir, resumed=resume is not None) if ctx.is_main else None
    if validator is not None and cfg.val_every >= 0 and step == 0:
        _update_best(best, _validate(validator, embedder, 0, result, writer), model, cfg, embedder)
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", disable=not (progress and ctx.is_main))
    t_last, n_last = time.perf_counter(), 0
    deadline = time.monotonic() + cfg.max_minutes * 60 if cfg.max_minutes else float("inf")
    out_of_time = False
    while step < cfg.steps and not out_of_time:
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        batches = list(iter(sampler))
        if not batches:
            raise ValueError("The sampler produced no batch: too few identities for people_per_batch.")
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=[_local_slice(b, ctx) for b in batches[batch_in_epoch:]],
                                             num_workers=cfg.workers,
                                             generator=torch.Generator().manual_seed(cfg.seed + epoch))  # keeps the global RNG untouched
        for x, y in loader:
            net.train()
            if cfg.freeze_bn:
                for m in net.modules():
                    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                        m.eval()
            x, y = x.to(device, non_blocking=True), y.to(device)
            with torch.autocast(device.type, enabled=use_amp):
                emb = net(x).float()
            emb_all, y_all = gather_with_grad(emb, ctx), gather_with_grad(y, ctx)
            triplets = miner(emb_all.detach(), y_all)
            loss, stats = loss_fn.compute(emb_all, triplets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss * ctx.world_size).backward()  # DDP averages: undo it for the global loss
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step, batch_in_epoch, n_last = step + 1, batch_in_epoch + 1, n_last + len(y_all)
            if step % cfg.log_every == 0 or step == cfg.steps or step == 1:
                now = time.perf_counter()
                rec = {"step": step, "epoch": epoch, "loss": all_reduce_mean(float(loss.detach()), ctx),
                       "fraction_active": stats.fraction_active, "n_triplets": stats.n_triplets,
                       "lr": scheduler.get_last_lr()[0], "images_per_second": n_last / max(now - t_last, 1e-9)}
                t_last, n_last = now, 0
                result.history.append(rec)
                _log(writer, rec)
                bar.set_postfix(loss=f"{rec['loss']:.4f}", active=f"{rec['fraction_active']:.2f}",
                                img_s=f"{rec['images_per_second']:.0f}", refresh=False)
            bar.update(1)
            if validator is not None and cfg.val_every > 0 and step % cfg.val_every == 0:
                _update_best(best, _validate(validator, embedder, step, result, writer), model, cfg, embedder)
            out_of_time = _agree(time.monotonic() > deadline, ctx)
            if ctx.is_main and (step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time):
                result.checkpoint = _save(run_dir, cfg, model, optimizer, scheduler, miner, embedder, step, epoch, batch_in_epoch)
            if step >= cfg.steps or out_of_time:
                break
        else:
            epoch, batch_in_epoch = epoch + 1, 0
            if validator is not None and cfg.val_every == 0:
                _update_best(best, _validate(validator, embedder, step, result, writer), model, cfg, embedder)
    bar.close()
    result.steps = step
    if ctx.is_main:
        from facenet.train.plots import plot_learning_curve

        (run_dir / "history.json").write_text(json.dumps(result.history, indent=1))
        plot_learning_curve(result.history, run_dir / "learning_curve.png", title=f"{cfg.model}, {cfg.miner}, {cfg.data}")
    if writer is not None:
        writer.close()
    shutdown(ctx)
    return result


def _agree(flag: bool, ctx: DistContext) -> bool:
    """Every process stops together when any one of them runs out of time."""
    return all_reduce_mean(float(flag), ctx) > 0 if ctx.enabled else flag


def _model_state(cfg: TrainConfig, model: torch.nn.Module, embedder: Any, step: int) -> dict[str, Any]:
    """What ``facenet export`` needs from a checkpoint: weights, step, run config and model config."""
    return {"model": model.state_dict(), "step": step, "config": cfg.to_dict(), "model_name": cfg.model,
            "model_config": embedder.config.to_dict()}


def _save(run_dir: Path, cfg: TrainConfig, model, optimizer, scheduler, miner, embedder, step, epoch, batch_in_epoch) -> Path:
    state = {
        **_model_state(cfg, model, embedder, step),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "epoch": epoch, "batch_in_epoch": batch_in_epoch, "torch_rng": torch.get_rng_state(),
        "miner_rng": miner.generator.get_state() if hasattr(miner, "generator") else None,
    }
    save_checkpoint(run_dir / "checkpoints" / f"step_{step:07d}.pt", state)
    return save_checkpoint(run_dir / "last.pt", state)


def _init_from(model: torch.nn.Module, name: str) -> torch.nn.Module:
    """Copy a registered pretrained model's weights where names and shapes match (the embedding
    layer stays freshly initialised when its size differs); returns the pretrained network."""
    from facenet.models.registry import create_model

    source = create_model(name, pretrained=True).module
    src = source.state_dict()
    own = model.state_dict()
    matched = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    if len(matched) < len(own) // 2:
        raise ValueError(f"init_from={name!r}: only {len(matched)} of {len(own)} tensors match this architecture.")
    model.load_state_dict(matched, strict=False)
    return source


def _pca_head(cfg: TrainConfig, source: torch.nn.Module, model: torch.nn.Module, model_config: Any,
              progress: bool) -> dict[str, float]:
    """Initialise ``model``'s embedding layer from a PCA of ``source``'s embeddings of up to
    ``cfg.head_pca_images`` training images (no augmentation, a seeded random subset)."""
    from tqdm import tqdm

    from facenet.train.head_init import pca_head_init, source_features

    plain = build_dataset(cfg.updated(augment=False), model_config)
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(len(plain), generator=g)[: cfg.head_pca_images].tolist()
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(plain, idx), batch_size=64, num_workers=cfg.workers)
    device = next(model.parameters()).device
    source.to(device)
    batches = (x.to(device) for x, _ in tqdm(loader, desc="PCA head", disable=not progress, leave=False))
    return pca_head_init(source, model, source_features(source, batches))


def _update_best(best: "_Best | None", metrics: dict[str, float], model: torch.nn.Module, cfg: TrainConfig, embedder: Any) -> None:
    if best is not None:
        best.update(metrics, model, cfg, embedder)


class _Best:
    """Keeps the weights with the best View 1 accuracy (ties: higher AUC) in RUN/best.pt."""

    def __init__(self, run_dir: Path, resumed: bool = False) -> None:
        self.path, self.key = run_dir / "best.pt", (-1.0, -1.0)
        if resumed and self.path.exists():
            self.key = self._rank(load_checkpoint(self.path)["metrics"])

    @staticmethod
    def _rank(metrics: dict[str, float]) -> tuple[float, float]:
        return round(metrics["val_accuracy"], 6), metrics["val_auc"]

    def update(self, metrics: dict[str, float], model: torch.nn.Module, cfg: TrainConfig, embedder: Any) -> None:
        key = self._rank(metrics)
        if key > self.key:
            self.key = key
            save_checkpoint(self.path, {**_model_state(cfg, model, embedder, metrics["step"]), "metrics": metrics})


def _writer(cfg: TrainConfig, run_dir: Path) -> Any:
    if not cfg.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: logs go to history.json only
        return None
    return SummaryWriter(str(run_dir / "tb"))


def _validator(cfg: TrainConfig, model_config: Any, progress: bool) -> Any:
    if not cfg.lfw_root or cfg.val_every < 0:
        return None
    from facenet.train.validate import ViewOneValidator

    return ViewOneValidator(cfg.lfw_root, model_config, max_pairs=cfg.val_pairs, progress=progress,
                            detector=cfg.val_detector)


def _validate(validator: Any, embedder: Any, step: int, result: TrainResult, writer: Any) -> dict[str, float]:
    m = validator(embedder)
    rec = {"step": step, **m}
    result.history.append(rec)
    _log(writer, rec)
    return rec


def _log(writer: Any, rec: dict[str, Any]) -> None:
    if writer is None:
        return
    for k, v in rec.items():
        if k != "step" and isinstance(v, (int, float)) and np.isfinite(v):
            writer.add_scalar(f"train/{k}" if not k.startswith("val_") else f"val/{k[4:]}", v, rec["step"])
