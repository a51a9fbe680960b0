"""Training throughput (images/s) of every trainable architecture on this machine.

    .venv/bin/python bench/train_throughput.py [--batch 64] [--steps 5] [--threads N] [--device cpu|cuda] [--amp]

Each model trains for --steps steps (after one warm-up step) on synthetic images at its own
input size: forward, semi-hard mining, triplet loss, backward, AdaGrad step — the whole
`facenet train` step. Prints a markdown table and JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from facenet.losses import TripletLoss
from facenet.mining import create_miner
from facenet.models.registry import create_model, list_models, model_config


def measure(name: str, batch: int, steps: int, device: str, amp: bool) -> float:
    emb = create_model(name, pretrained=False, device=device)
    model = emb.module.to(device).train()
    h, w = emb.config.input_size
    k = 4
    x = torch.randn(batch, 3, h, w, device=device)
    y = torch.arange(batch, device=device) // k
    opt = torch.optim.Adagrad(model.parameters(), lr=0.01)
    miner, loss_fn = create_miner("semihard", seed=0), TripletLoss()
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device == "cuda")

    def step() -> None:
        with torch.autocast("cuda" if device.startswith("cuda") else "cpu", enabled=amp and device.startswith("cuda")):
            e = model(x).float()
        loss = loss_fn(e, miner(e.detach(), y))
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", action="store_true")
    ap.add_argument("--models", nargs="*", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models or [n for n in list_models() if model_config(n).weights is None]
    rows = {}
    print("| model | input | train images/s |\n|---|---|---|")
    for n in names:
        ips = measure(n, args.batch, args.steps, args.device, args.amp)
        rows[n] = round(ips, 1)
        h, w = model_config(n).input_size
        print(f"| {n} | {h}x{w} | {ips:.1f} |", flush=True)
    print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "batch": args.batch, "amp": args.amp,
                      "images_per_second": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
