"""Distributed data parallel helpers. torchrun describes the job in environment variables
(WORLD_SIZE, LOCAL_RANK, ...); the command line reads them (:func:`launch_from_env`) and hands
the trainer a :class:`Launch`, so the library itself reads no environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank, world size, local rank (1 process: 0, 1, 0)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class Launch:
    """How the job was started: world_size processes, this one's local_rank (1 process: 1, 0)."""

    world_size: int = 1
    local_rank: int = 0


def launch_from_env(environ: Mapping[str, str]) -> Launch:
    """The :class:`Launch` torchrun describes in ``environ`` (the CLI passes ``os.environ``)."""
    return Launch(int(environ.get("WORLD_SIZE", "1")), int(environ.get("LOCAL_RANK", "0")))


def init_process_group(launch: Launch, device_type: str) -> DistContext:
    """Join the process group of a multi-process launch (gloo on CPU, nccl on CUDA; torch reads
    the rendezvous address torchrun set); 1 process: no-op."""
    if launch.world_size <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), launch.local_rank)


def gather_with_grad(x: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every rank's (b, ...) tensor in rank order; this rank's slice keeps its graph."""
    if not ctx.enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(ctx.world_size)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[ctx.rank] = x
    return torch.cat(parts, 0)


def all_reduce_mean(value: float, ctx: DistContext) -> float:
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
