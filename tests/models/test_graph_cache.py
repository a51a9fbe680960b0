"""The prepared-graph cache: key, layout, checked loads, silent rebuilds, atomic writes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from facenet.models import graph_cache
from facenet.models.config import ModelConfig
from facenet.models.embedder import OnnxEmbedder
from facenet.models.graph_cache import cache_key, cached_graph_path, digest_path, load_cached, prepared_graph
from facenet.models.onnx_graph import PREPARE_VERSION
from facenet.weights import sha256_file

REPO = Path(__file__).resolve().parents[2]


def _tiny_quantised_onnx(path: Path) -> np.ndarray:
    """A (N, 4) -> (N, 3) graph whose weight is int8 behind a DequantizeLinear (what
    prepare_onnx folds). Returns the dequantised float weight, for a brute-force reference."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    wq = rng.integers(-100, 100, (4, 3), dtype=np.int8)
    scale, zero = np.float32(0.05), np.int8(3)
    nodes = [helper.make_node("DequantizeLinear", ["wq", "scale", "zero"], ["w"]),
             helper.make_node("MatMul", ["data", "w"], ["out"])]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(wq, "wq"), numpy_helper.from_array(np.array(scale), "scale"),
         numpy_helper.from_array(np.array(zero), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return (wq.astype(np.float32) - np.float32(zero)) * scale


@pytest.fixture()
def tiny(tmp_path: Path) -> tuple[Path, str, np.ndarray]:
    src = tmp_path / "tiny.onnx"
    w = _tiny_quantised_onnx(src)
    return src, sha256_file(src), w


def _run_graph(graph: Path | bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(graph) if isinstance(graph, Path) else graph, providers=["CPUExecutionProvider"])
    return sess.run(None, {"data": x})[0]


def test_key_depends_on_source_version_and_input():
    a, b = "a" * 64, "b" * 64
    k = cache_key(a, "data")
    assert len(k) == 64 and k == cache_key(a.upper(), "data")
    assert len({k, cache_key(b, "data"), cache_key(a, "input"), cache_key(a, "data", version=PREPARE_VERSION + "x")}) == 4
    assert k == hashlib.sha256(f"{a}\n{PREPARE_VERSION}\ndata".encode()).hexdigest()
    with pytest.raises(ValueError, match="'source_sha256' parameter of cache_key must be 64 hex digits"):
        cache_key("abc", "data")


def test_no_cache_dir_prepares_in_memory(tiny, tmp_path):
    src, digest, w = tiny
    blob = prepared_graph(src, "data", source_sha256=digest, cache_dir=None)
    assert isinstance(blob, bytes)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)  # batch 2: the prepared batch axis is symbolic
    np.testing.assert_allclose(_run_graph(blob, x), x @ w, rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx"]


def test_miss_writes_graph_and_digest_then_hit_skips_preparation(tiny, tmp_path, monkeypatch):
    src, digest, w = tiny
    cache = tmp_path / "cache"
    blob = prepared_graph(src, "data", source_sha256=digest, cache_dir=cache)
    graph = cached_graph_path(cache, digest, "data")
    assert graph == cache / "graphs" / f"{cache_key(digest, 'data')}.onnx"
    assert graph.read_bytes() == blob
    assert digest_path(graph).read_text().strip() == hashlib.sha256(blob).hexdigest()
    assert sorted(p.name for p in graph.parent.iterdir()) == [graph.name, graph.name + ".sha256"]  # no temp files

    def boom(*a, **k):
        raise AssertionError("prepared again on a cache hit")

    monkeypatch.setattr(graph_cache, "prepare_onnx_file", boom)
    hit = prepared_graph(src, "data", source_sha256=digest, cache_dir=cache)
    assert hit == graph
    x = np.ones((1, 4), np.float32)
    np.testing.assert_allclose(_run_graph(hit, x), x @ w, rtol=1e-6)
    # without a known digest, the source is hashed here: same entry
    assert prepared_graph(src, "data", cache_dir=cache) == graph


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "no_digest", "bad_digest", "graph_gone"])
def test_damaged_cache_is_never_used_and_rebuilt_silently(tiny, tmp_path, damage, recwarn):
    src, digest, _ = tiny
    cache = tmp_path / "cache"
    good = prepared_graph(src, "data", source_sha256=digest, cache_dir=cache)
    graph = cached_graph_path(cache, digest, "data")
    data = graph.read_bytes()
    if damage == "truncate":
        graph.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        graph.write_bytes(data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:])
    elif damage == "empty":
        graph.write_bytes(b"")
    elif damage == "no_digest":
        digest_path(graph).unlink()
    elif damage == "bad_digest":
        digest_path(graph).write_bytes(b"\xff\xfe not a digest")
    else:
        graph.unlink()
    assert load_cached(graph) is None
    again = prepared_graph(src, "data", source_sha256=digest, cache_dir=cache)
    assert again == good  # rebuilt in memory, byte-identical
    assert load_cached(graph) == graph and graph.read_bytes() == good  # and rewritten
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_unwritable_cache_folder_warns_and_prepares_in_memory(tiny, tmp_path):
    src, digest, _ = tiny
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.warns(RuntimeWarning, match="could not write the prepared-graph cache"):
        blob = prepared_graph(src, "data", source_sha256=digest, cache_dir=not_a_dir)
    assert blob == prepared_graph(src, "data", cache_dir=None)


def test_bad_cache_dir_type(tiny):
    src, digest, _ = tiny
    with pytest.raises(ValueError, match="'cache_dir' parameter of prepared_graph must be a path or None"):
        prepared_graph(src, "data", source_sha256=digest, cache_dir=3)  # type: ignore[arg-type]


def test_concurrent_writers_leave_one_valid_entry(tiny, tmp_path):
    src, digest, _ = tiny
    cache = tmp_path / "cache"
    reference = prepared_graph(src, "data", cache_dir=None)
    barrier, results, errors = threading.Barrier(4), [], []

    def start() -> None:
        try:
            barrier.wait()
            results.append(prepared_graph(src, "data", source_sha256=digest, cache_dir=cache))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    graph = cached_graph_path(cache, digest, "data")
    assert all(r == reference or (r == graph) for r in results)
    assert load_cached(graph) == graph and graph.read_bytes() == reference
    assert sorted(p.name for p in graph.parent.iterdir()) == [graph.name, graph.name + ".sha256"]


def test_two_processes_starting_at_once(tiny, tmp_path):
    src, digest, _ = tiny
    cache = tmp_path / "cache"
    code = ("import sys; from pathlib import Path; from facenet.models.graph_cache import prepared_graph; "
            "g = prepared_graph(Path(sys.argv[1]), 'data', cache_dir=Path(sys.argv[2])); "
            "print(len(g) if isinstance(g, bytes) else g.stat().st_size)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(src), str(cache)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    reference = prepared_graph(src, "data", cache_dir=None)
    assert [int(o.strip()) for o, _ in outs] == [len(reference)] * 2
    graph = cached_graph_path(cache, digest, "data")
    assert load_cached(graph) == graph and graph.read_bytes() == reference


def _config() -> ModelConfig:
    return ModelConfig(name="tiny", description="", input_size=(1, 1), channel_order="RGB", mean=(0, 0, 0),
                       std=(1, 1, 1), embedding_size=3, weights=None, licence="")


@pytest.mark.parametrize("backend", ["opencv", "onnxruntime"])
def test_sface_from_cache_equals_in_memory(backend, tmp_path):
    from facenet.models.sface import SFACE, WEIGHTS, build

    crops = np.random.default_rng(2).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    fresh = build(SFACE, backend=backend).embed_faces(crops)
    cache = tmp_path / "cache"
    miss = build(SFACE, backend=backend, cache_dir=cache).embed_faces(crops)
    assert load_cached(cached_graph_path(cache, WEIGHTS.sha256, "data")) is not None
    hit = build(SFACE, backend=backend, cache_dir=cache).embed_faces(crops)
    np.testing.assert_array_equal(miss, fresh)
    np.testing.assert_array_equal(hit, fresh)


def test_onnx_embedder_parameter_checks(tiny):
    src, _, _ = tiny
    with pytest.raises(ValueError, match="'backend' parameter of OnnxEmbedder must be one of 'opencv', 'onnxruntime'"):
        OnnxEmbedder(_config(), src, backend="tf")
    with pytest.raises(ValueError, match=r"'batch_size' parameter of OnnxEmbedder must be an int in \[1, inf\)"):
        OnnxEmbedder(_config(), src, batch_size=0)
    with pytest.raises(ValueError, match="'threads' parameter of OnnxEmbedder"):
        OnnxEmbedder(_config(), src, threads=0)
