"""`facenet train --data DIR --model NAME [--config FILE.yaml] [flags]`"""

from __future__ import annotations

import argparse
from dataclasses import fields

from facenet.commands.common import emit_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    from facenet.train.config import TrainConfig

    p = sub.add_parser("train", help="train or fine-tune an embedding with the triplet loss (online mining)")
    p.add_argument("--config", help="YAML file of options; flags override it")
    p.add_argument("--resume", nargs="?", const="auto", help="continue from RUN/last.pt (or a given checkpoint)")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.add_argument("--no-progress", action="store_true")
    aliases = {"data": "--data", "model": "--model"}
    for f in fields(TrainConfig):
        flag = aliases.get(f.name, "--" + f.name.replace("_", "-"))
        if f.type in ("bool", bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        else:
            conv = {"int": int, "float": float}.get(str(f.type), None) or _opt_type(str(f.type))
            p.add_argument(flag, dest=f.name, type=conv, default=None, help=f"(default: {f.default})")
    p.set_defaults(func=run)


def _opt_type(t: str):
    if "int" in t:
        return int
    if "float" in t:
        return float
    return str


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from facenet.train.config import TrainConfig
    from facenet.train.distributed import launch_from_env
    from facenet.train.loop import train

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    cfg = TrainConfig.from_yaml(args.config, **overrides) if args.config else TrainConfig.from_dict(
        {k: v for k, v in overrides.items() if v is not None})
    resume = None
    if args.resume:
        resume = Path(cfg.out) if args.resume == "auto" else Path(args.resume)
    r = train(cfg, resume=resume, progress=not args.no_progress, launch=launch_from_env(os.environ))
    losses = r.losses
    summary = {"run_dir": str(r.run_dir), "steps": r.steps, "checkpoint": str(r.checkpoint) if r.checkpoint else None,
               "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
               "validation": [h for h in r.history if "val_auc" in h]}
    if args.json:
        emit_json(summary)
    else:
        print(f"trained {r.steps} steps; loss {summary['first_loss']:.4f} -> {summary['last_loss']:.4f}; "
              f"checkpoint {summary['checkpoint']}; config {r.run_dir}/config.yaml")
    return 0
