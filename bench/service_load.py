"""Issue 11's load test: ``facenet serve`` on loopback, 50 concurrent clients for 60 s mixing
identify and enrol, then the check that nothing was lost; next to the same calls made in one
process without HTTP.

- The server is the real command (a subprocess on a free loopback port) over a fresh SQLite
  gallery with ``--enrolled`` LFW people already enrolled (photo 1 each, through the API).
- Each client loops: with probability ``--enrol-share`` it enrols an unused LFW photo (every
  photo is enrolled at most once, so every 201 is a new face), otherwise it identifies an LFW
  photo of an enrolled person (not the enrolled one). Latency is measured per request, from
  sending to the full answer.
- Afterwards: every acknowledged enrolment (name, face id) must be in ``GET /subjects``; server
  errors are 5xx answers and broken connections; 429 (pool full) is counted apart.
- Single process: the same decode + detect + embed + search / enrol, on one thread, through
  :class:`facenet.service.service.Service` directly (no HTTP, no JSON).

    .venv/bin/python bench/service_load.py [--clients 50] [--seconds 60] [--json]
Writes out/bench/service_load.json. The load average before and after is reported with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lfw_people(lfw: Path, n: int, min_photos: int = 3) -> list[tuple[str, list[Path]]]:
    """The first n LFW people (alphabetically) with at least min_photos photos."""
    out = []
    for d in sorted(p for p in lfw.iterdir() if p.is_dir()):
        photos = sorted(d.glob("*.jpg"))
        if len(photos) >= min_photos:
            out.append((d.name, photos))
            if len(out) == n:
                break
    return out


def percentiles(ms: list[float]) -> dict[str, float | int]:
    if not ms:
        return {"n": 0}
    a = np.asarray(ms)
    return {"n": len(ms), "p50_ms": round(float(np.percentile(a, 50)), 1), "p99_ms": round(float(np.percentile(a, 99)), 1),
            "mean_ms": round(float(a.mean()), 1)}


async def run_load(url: str, key: str, clients: int, seconds: float, enrol_share: float, probes: list[tuple[str, bytes]],
                   enrol_pool: list[tuple[str, bytes]], seed: int) -> dict[str, Any]:
    import httpx

    rng = random.Random(seed)
    stats: dict[str, Any] = {"identify": [], "enrol": [], "status": {}, "errors": [], "acked": [], "wrong": 0}
    pool = list(enrol_pool)
    rng.shuffle(pool)
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(i: int, http: httpx.AsyncClient) -> None:
        r_local = random.Random(seed * 1000 + i)
        while time.monotonic() < end:
            enrol = pool and r_local.random() < enrol_share
            t0 = time.perf_counter()
            try:
                if enrol:
                    name, data = pool.pop()
                    r = await http.post(f"/api/v1/subjects/{name}/faces", files={"image": ("p.jpg", data, "image/jpeg")})
                else:
                    name, data = probes[r_local.randrange(len(probes))]
                    r = await http.post("/api/v1/identify", files={"image": ("p.jpg", data, "image/jpeg")})
            except httpx.HTTPError as exc:
                stats["errors"].append(f"{type(exc).__name__}: {exc}")
                continue
            ms = (time.perf_counter() - t0) * 1e3
            stats["status"][r.status_code] = stats["status"].get(r.status_code, 0) + 1
            if enrol and r.status_code == 201:
                stats["enrol"].append(ms)
                stats["acked"].append((name, r.json()["face_id"]))
            elif not enrol and r.status_code == 200:
                stats["identify"].append(ms)
                faces = r.json()["faces"]
                if faces and faces[0]["name"] not in (name, None):
                    stats["wrong"] += 1

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        stats["wall_s"] = time.perf_counter() - t0
    return stats


def single_process(lfw_set: list[tuple[str, list[Path]]], n_calls: int, tmp: Path) -> dict[str, Any]:
    """The same calls through the Service object on one thread: no HTTP, no JSON."""
    import hashlib

    from facenet import FacePipeline
    from facenet.service.config import ServiceConfig
    from facenet.service.errors import ApiError
    from facenet.service.service import Service
    from facenet.service.uploads import decode_upload

    svc = Service(ServiceConfig(gallery=str(tmp / "single.gallery"), keys=tmp / "k.db", work_dir=tmp / "jobs", workers=1),
                  pipeline_factory=FacePipeline)
    p = svc.pipeline
    try:
        for name, photos in lfw_set:  # the same starting gallery as the server's
            data = photos[0].read_bytes()
            try:
                svc.enrol_face(p, name, decode_upload(data, svc.config.max_pixels), hashlib.sha256(data).hexdigest(), None, None)
            except ApiError:  # a photo with several faces (the server refuses it too)
                continue
        ident, enrol = [], []
        probes = [(n, ph[1].read_bytes()) for n, ph in lfw_set]
        extra = [(n, q.read_bytes()) for n, ph in lfw_set for q in ph[2:]]
        for i in range(n_calls):
            name, data = probes[i % len(probes)]
            t0 = time.perf_counter()
            svc.identify(p, decode_upload(data, svc.config.max_pixels), 5)
            ident.append((time.perf_counter() - t0) * 1e3)
        for name, data in extra[:n_calls]:
            t0 = time.perf_counter()
            try:
                svc.enrol_face(p, name, decode_upload(data, svc.config.max_pixels), hashlib.sha256(data).hexdigest(), None, None)
            except ApiError:  # a photo with several faces: not timed
                continue
            enrol.append((time.perf_counter() - t0) * 1e3)
    finally:
        svc.close()
    out = {"identify": percentiles(ident), "enrol": percentiles(enrol)}
    for k, v in (("identify", ident), ("enrol", enrol)):
        if v:
            out[k]["per_s_one_thread"] = round(1e3 / float(np.mean(v)), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    from facenet.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="folder holding lfw/ (default: FACENET_DATA or ../shared/data)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--enrol-share", type=float, default=0.2, help="share of requests that enrol (default 0.2)")
    ap.add_argument("--enrolled", type=int, default=100, help="people enrolled before the load starts")
    ap.add_argument("--workers-pool", type=int, default=2)
    ap.add_argument("--queue", type=int, default=128)
    ap.add_argument("--single-calls", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import httpx

    lfw = (args.data or Settings.from_env().face_data_or_default()) / "lfw"
    people = lfw_people(lfw, args.enrolled)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="service-load-") as tmpdir:
        tmp = Path(tmpdir)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "FACENET_HOME": str(tmp / "home")}
        keys = tmp / "keys.db"
        out = subprocess.run([sys.executable, "-m", "facenet", "keys", "create", "--scope", "enrol", "--keys", str(keys), "--json"],
                             capture_output=True, text=True, check=True, env=env)
        key = json.loads(out.stdout)["key"]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "facenet", "serve", "--gallery", str(tmp / "load.gallery"), "--keys", str(keys),
               "--port", str(port), "--workers-pool", str(args.workers_pool), "--queue", str(args.queue),
               "--log-level", "warning"]
        log = open(tmp / "server.log", "wb")  # a file, not a pipe: a full pipe would stall the server
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            h = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=url, headers=h, timeout=60) as c:
                for name, photos in people:
                    c.post(f"/api/v1/subjects/{name}/faces", files={"image": ("p.jpg", photos[0].read_bytes(), "image/jpeg")})
                before = {s["name"]: len(s["faces"]) for s in c.get("/api/v1/subjects").json()}
            probes = [(n, ph[1].read_bytes()) for n, ph in people if n in before]
            enrol_pool = [(n, q.read_bytes()) for n, ph in people if n in before for q in ph[2:]]
            enrol_pool += [(f"new_{d.name}", q.read_bytes()) for d in sorted(lfw.iterdir())[-400:] if d.is_dir()
                           for q in sorted(d.glob("*.jpg"))[:2]]
            stats = asyncio.run(run_load(url, key, args.clients, args.seconds, args.enrol_share, probes, enrol_pool, args.seed))
            with httpx.Client(base_url=url, headers=h, timeout=60) as c:
                after = {s["name"]: {f["id"] for f in s["faces"]} for s in c.get("/api/v1/subjects").json()}
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
        server_log = (tmp / "server.log").read_text(errors="replace")
        lost = [(n, fid) for n, fid in stats["acked"] if fid not in after.get(n, set())]
        server_errors = sum(v for k, v in stats["status"].items() if k >= 500) + len(stats["errors"])
        n_ok = len(stats["identify"]) + len(stats["enrol"])
        single = single_process(people[: min(len(people), 50)], args.single_calls, tmp)
    result = {
        "clients": args.clients, "seconds": args.seconds, "enrol_share": args.enrol_share, "workers_pool": args.workers_pool,
        "queue": args.queue, "enrolled_before": len(before), "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before], "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "http": {"requests_ok": n_ok, "throughput_per_s": round(n_ok / stats["wall_s"], 2),
                 "identify": percentiles(stats["identify"]), "enrol": percentiles(stats["enrol"]),
                 "status_counts": {str(k): v for k, v in sorted(stats["status"].items())},
                 "server_errors": server_errors, "connection_errors": stats["errors"][:5],
                 "acknowledged_enrolments": len(stats["acked"]), "lost_enrolments": len(lost),
                 "identify_named_someone_else": stats["wrong"], "wall_s": round(stats["wall_s"], 2)},
        "single_process": single, "server_log_tracebacks": server_log.count("Traceback"),
        "command": "python bench/service_load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "service_load.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        hh, s = result["http"], result["single_process"]
        print(f"HTTP, {args.clients} clients x {args.seconds:g} s: {hh['requests_ok']} ok, {hh['throughput_per_s']} req/s; "
              f"identify p50 {hh['identify'].get('p50_ms')} / p99 {hh['identify'].get('p99_ms')} ms; enrol p50 "
              f"{hh['enrol'].get('p50_ms')} / p99 {hh['enrol'].get('p99_ms')} ms; server errors {hh['server_errors']}; "
              f"lost {hh['lost_enrolments']} of {hh['acknowledged_enrolments']}; statuses {hh['status_counts']}")
        print(f"single process, one thread: identify p50 {s['identify'].get('p50_ms')} ms ({s['identify'].get('per_s_one_thread')}/s), "
              f"enrol p50 {s['enrol'].get('p50_ms')} ms ({s['enrol'].get('per_s_one_thread')}/s)")
        print(f"load average before {result['load_average_before']}, after {result['load_average_after']} ({os.cpu_count()} cores)")
    return 0 if server_errors == 0 and not lost else 1


if __name__ == "__main__":
    sys.exit(main())
