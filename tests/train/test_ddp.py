"""DDP on CPU (gloo, 2 processes via torchrun) computes what one process computes with the same
global batch: the embeddings are all-gathered, so mining and the loss see the whole batch.
SGD, not AdaGrad, for the parameter check: AdaGrad's first step is lr * sign(g), which turns
rounding-level gradient differences on near-zero gradients into lr-sized ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

CONFIG = """model: nns2
input_size: 40
steps: 6
people_per_batch: 8
images_per_person: 4
miner: semihard
log_every: 1
checkpoint_every: 6
tensorboard: false
freeze_bn: true
seed: 1
optimizer: sgd
lr: 0.01
"""


def _run(cmd: list[str], cwd: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def test_two_processes_match_one(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    torchrun = Path(sys.executable).with_name("torchrun")
    base = ["-m", "facenet", "train", "--config", str(cfg), "--no-progress", "--json"]
    _run([sys.executable, *base, "--out", str(tmp_path / "one")], tmp_path)
    _run([str(torchrun), "--standalone", "--nproc_per_node", "2", *base, "--out", str(tmp_path / "two")], tmp_path)
    one = json.loads((tmp_path / "one" / "history.json").read_text())
    two = json.loads((tmp_path / "two" / "history.json").read_text())
    assert [h["step"] for h in one] == [h["step"] for h in two] == [1, 2, 3, 4, 5, 6]
    assert one[0]["n_triplets"] == two[0]["n_triplets"]
    for a, b in zip(one, two):
        assert abs(a["loss"] - b["loss"]) < 1e-5
    p1 = torch.load(tmp_path / "one" / "last.pt", weights_only=False)["model"]
    p2 = torch.load(tmp_path / "two" / "last.pt", weights_only=False)["model"]
    for k in p1:
        torch.testing.assert_close(p1[k], p2[k], atol=1e-5, rtol=1e-4)
