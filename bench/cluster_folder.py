"""``facenet cluster`` on a folder of LFW photos, end to end: the first run, a rerun of the same
folder, and a run on the grown folder with ``--update``; seconds, photos per second, what was
embedded each time, and the scores of the result against LFW's identities.

    .venv/bin/python bench/cluster_folder.py --data ../shared/data --photos 1000 --out out/bench   # make bench-cluster-folder

The folder: the LFW photos of the first people in name order until --photos photos (so the mix
of people with many photos and one photo is LFW's), as symbolic links in a temporary folder; then
--grow more photos (the next people) for the third run, and the grown folder clustered from
scratch (no --update) as the fourth, to compare. Scored: each photo's central face (LFW's
label is the person in the middle; other detected faces are background people, left out of the
score but clustered) with facenet.cluster.metrics (pairwise and BCubed, an unclustered face a
singleton). The threshold is the shipped calibrated one (chosen on CelebA-wild, never LFW)
unless --threshold is given. Writes cluster_folder.json under --out; prints the load average,
which the timings depend on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def lfw_photos(lfw: Path, n: int, skip: int = 0) -> list[Path]:
    """The photos of the first people (name order) after ``skip`` photos, until ``n`` photos."""
    out: list[Path] = []
    seen = 0
    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        files = sorted(person.glob("*.jpg"))
        if seen >= skip:
            out += files
        seen += len(files)
        if len(out) >= n:
            break
    return out


def scores(run, lfw: Path) -> dict:
    from facenet.cluster.metrics import clustering_scores

    best: dict[str, tuple[float, int]] = {}
    for cid, f in run.all_faces():
        cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
        d = (cx - 125) ** 2 + (cy - 125) ** 2  # LFW photos are 250 x 250, the person centred
        if f.photo not in best or d < best[f.photo][0]:
            best[f.photo] = (d, -1 if cid is None else cid)
    photos = sorted(best)
    truth = [Path(os.path.realpath(p)).parent.name for p in photos]
    pred = [best[p][1] for p in photos]
    s = clustering_scores(truth, pred)
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in s.items()}, "n_scored_photos": len(photos)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, type=Path, help="folder holding lfw/")
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--grow", type=int, default=100, help="photos added before the --update run")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    a = ap.parse_args(argv)
    from facenet import FacePipeline
    from facenet.cluster.run import cluster_folder

    lfw = a.data / "lfw"
    first = lfw_photos(lfw, a.photos)
    more = lfw_photos(lfw, a.grow, skip=len(first))
    pipe = FacePipeline()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "photos", Path(tmp) / "clusters"
        root.mkdir()
        for p in first:
            (root / p.name).symlink_to(p)
        for label, update, add in [("first run", False, []), ("rerun, nothing new", False, []),
                                   (f"--update after adding {len(more)} photos", True, more),
                                   ("the grown folder clustered afresh (for comparison)", False, [])]:
            for p in add:
                (root / p.name).symlink_to(p)
            t0 = time.perf_counter()
            run = cluster_folder(root, out, pipe, threshold=a.threshold, update=update, progress=False)
            wall = time.perf_counter() - t0
            row = {"run": label, "photos": run.n_photos, "faces": run.n_faces, "clusters": run.n_clusters,
                   "embedded_now": run.n_embedded_now, "seconds": round(wall, 2),
                   "seconds_embed": round(run.seconds_embed, 2), "seconds_cluster": round(run.seconds_cluster, 3),
                   "photos_per_second": round(run.n_photos / wall, 1), "threshold": run.settings["threshold"],
                   "threshold_source": run.settings["threshold_source"], **scores(run, lfw)}
            rows.append(row)
            print(json.dumps(row))
    load = os.getloadavg()
    result = {"rows": rows, "loadavg": [round(x, 2) for x in load], "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "cluster_folder.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
          f"wrote {a.out / 'cluster_folder.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
