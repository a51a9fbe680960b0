"""Cold start of the default pipeline (YuNet + SFace on OpenCV), each run in a fresh process:
the second start loads the prepared SFace graph from the cache without importing ``onnx`` or
``torch``; a corrupted cache file is rebuilt and gives the same embeddings. No timing here
(``make bench-cold`` measures time and memory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facenet.models.graph_cache import cached_graph_path, digest_path, load_cached
from facenet.models.sface import WEIGHTS

REPO = Path(__file__).resolve().parents[1]

_SCRIPT = """
import json, sys
from pathlib import Path
from facenet import FacePipeline
pipe = FacePipeline("yunet", "sface", cache_dir=Path(sys.argv[1]))
v = pipe.verify(sys.argv[2], sys.argv[3])
r = pipe.represent([sys.argv[2], sys.argv[3]])
print(json.dumps({"distance": v.distance, "same": bool(v.same), "embeddings": r.embeddings.tolist(),
                  "face_found": r.face_found.tolist(),
                  "modules": sorted(m for m in ("torch", "onnx", "onnxruntime") if m in sys.modules)}))
"""


def _start(cache: Path, a: Path, b: Path, home: Path) -> dict:
    env = {**os.environ, "FACENET_HOME": str(home), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(cache), str(a), str(b)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.data
@pytest.mark.slow
def test_second_start_uses_the_cache_without_onnx_or_torch(lfw_dir, tmp_path):
    a = lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    b = lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0002.jpg"
    cache, home = tmp_path / "cache", tmp_path / "home"
    graph = cached_graph_path(cache, WEIGHTS.sha256, "data")

    first = _start(cache, a, b, home)  # a miss: prepares the graph (imports onnx) and stores it
    assert load_cached(graph) == graph, "the prepared graph was not cached"
    assert first["same"] and first["face_found"] == [True, True]

    second = _start(cache, a, b, home)  # a hit
    assert "onnx" not in second["modules"], "onnx was imported although the prepared graph was cached"
    assert "torch" not in second["modules"], "torch was imported by a YuNet + SFace pipeline"
    assert "onnxruntime" not in second["modules"]
    np.testing.assert_array_equal(np.array(second["embeddings"]), np.array(first["embeddings"]))
    assert second["distance"] == first["distance"]

    data = graph.read_bytes()
    graph.write_bytes(data[: len(data) // 3] + b"\0" * 64)  # a corrupt, truncated cache file
    assert load_cached(graph) is None
    third = _start(cache, a, b, home)  # rebuilt silently, never used corrupt
    assert "onnx" in third["modules"], "the corrupt cache file was not rebuilt"
    np.testing.assert_array_equal(np.array(third["embeddings"]), np.array(first["embeddings"]))
    assert load_cached(graph) == graph and graph.read_bytes() == data
    assert digest_path(graph).is_file()
