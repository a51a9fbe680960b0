"""The TF -> PyTorch port of FaceNet Inception-ResNet-v1 (CASIA, 512-D) is exact.

The reference is an independent NumPy interpreter of the frozen GraphDef (tfref_graph.py, next to
this file), run node by node on real LFW faces; the PyTorch side is the registered embedder
(facenet.models.facenet_irv1.build -> TorchEmbedder -> InceptionResNetV1 with ported weights).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tfref_graph import GraphRunner, load_graph  # noqa: E402

from facenet.errors import WeightsError  # noqa: E402
from facenet.models import facenet_irv1, port_tf  # noqa: E402
from facenet.models.nets.inception_resnet_v1 import ConvBN, InceptionResNetV1, tf_same_pads  # noqa: E402
from facenet.weights import verified_path  # noqa: E402

FACES = ("Colin_Powell/Colin_Powell_0001.jpg", "Colin_Powell/Colin_Powell_0002.jpg",
         "George_W_Bush/George_W_Bush_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg")
ROOT = "InceptionResnetV1"


@pytest.fixture(scope="module")
def pb_path() -> Path:
    return verified_path(facenet_irv1.WEIGHTS)


@pytest.fixture(scope="module")
def consts(pb_path: Path) -> dict[str, np.ndarray]:
    return port_tf.load_graph_constants(pb_path)


@pytest.fixture(scope="module")
def crops(data_dir: Path) -> np.ndarray:
    """4 real faces: the central 160x160 of 250x250 LFW deep-funneled images, (4, 160, 160, 3) uint8 RGB."""
    from facenet.data.images import load_image

    out = []
    for rel in FACES:
        img = load_image(data_dir / "lfw" / rel)
        assert img.shape == (250, 250, 3)
        out.append(img[45:205, 45:205])
    return np.stack(out)


def test_ported_embedder_matches_numpy_graph_interpreter_on_real_faces(pb_path, crops):
    embedder = facenet_irv1.build(facenet_irv1.FACENET_CASIA)
    ours = embedder.embed_faces(crops)
    assert ours.shape == (4, 512) and ours.dtype == np.float32

    runner = GraphRunner(load_graph(pb_path))
    x = (crops.astype(np.float32) - 127.5) / 128.0
    # The frozen graph is fixed to batch 1 (its input shape and folded reshapes say so).
    ref = np.concatenate([runner.run({"input": xi[None]}, "embeddings") for xi in x])
    assert {"Conv2D", "BiasAdd", "FusedBatchNorm", "ConcatV2", "AvgPool", "MatMul", "Rsqrt"} <= runner.ops_seen
    np.testing.assert_allclose(np.linalg.norm(ref, axis=1), 1.0, atol=1e-5)

    cosines = (ours * ref).sum(1)
    print("cosine(PyTorch port, NumPy TF-graph interpreter):", [f"{c:.8f}" for c in cosines],
          "max |diff|:", float(np.abs(ours - ref).max()))
    assert cosines.min() >= 0.9999
    assert np.abs(ours - ref).max() < 1e-4
    # And the weights are meaningful: the same person is closer than two other people.
    sim = ours @ ours.T
    assert sim[0, 1] > max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3])


def test_port_maps_every_module_entry_from_a_graph_weight(consts):
    sd = port_tf.port_inception_resnet_v1(consts)
    expected = InceptionResNetV1(512).state_dict()
    assert set(sd) == set(expected)
    assert all(sd[k].shape == expected[k].shape for k in sd)
    # HWIO -> OIHW
    w = consts[f"{ROOT}/Conv2d_1a_3x3/weights"]
    assert torch.equal(sd["conv2d_1a.conv.weight"], torch.from_numpy(w.transpose(3, 2, 0, 1).copy()))
    assert torch.equal(sd["bottleneck.weight"], torch.from_numpy(consts[f"{ROOT}/Bottleneck/weights"].T.copy()))
    # Folded batch norm: BN divides by exactly 1 and adds the TF offset.
    var, eps = sd["conv2d_1a.bn.running_var"], np.float32(1e-3)
    assert np.all(var.numpy() + eps == np.float32(1.0))
    assert torch.equal(sd["conv2d_1a.bn.bias"], torch.from_numpy(consts[f"{ROOT}/Conv2d_1a_3x3/Conv2D_bn_offset"]))


def test_port_fails_loudly_on_missing_unused_or_mismatched_weights(consts, monkeypatch):
    missing = dict(consts)
    del missing[f"{ROOT}/Repeat_1/block17_3/Branch_1/Conv2d_0b_1x7/weights"]
    with pytest.raises(ValueError, match="no constant.*block17_3"):
        port_tf.port_inception_resnet_v1(missing)

    extra = dict(consts)
    extra[f"{ROOT}/Logits/weights"] = np.zeros((512, 10575), np.float32)
    with pytest.raises(ValueError, match="not used.*Logits/weights"):
        port_tf.port_inception_resnet_v1(extra)

    bad_scale = dict(consts)
    bad_scale[f"{ROOT}/Repeat/block35_2/mul/x"] = np.float32(0.5)
    with pytest.raises(ValueError, match="block35_2/mul/x is 0.5"):
        port_tf.port_inception_resnet_v1(bad_scale)

    bad_shape = dict(consts)
    bad_shape[f"{ROOT}/Conv2d_2a_3x3/weights"] = np.zeros((3, 3, 32, 48), np.float32)
    with pytest.raises(ValueError, match="conv2d_2a.conv.weight"):
        port_tf.port_inception_resnet_v1(bad_shape)

    class Wider(InceptionResNetV1):
        def __init__(self, embedding_size: int = 128, dropout: float = 0.0) -> None:
            super().__init__(embedding_size, dropout)
            self.extra_head = torch.nn.Linear(embedding_size, 2)

    monkeypatch.setattr(port_tf, "InceptionResNetV1", Wider)
    with pytest.raises(ValueError, match="got no TF weight.*extra_head"):
        port_tf.port_inception_resnet_v1(consts)


def test_explicit_batch_norm_ports_like_the_folded_offset(consts):
    scope = f"{ROOT}/Conv2d_3b_1x1"
    explicit = dict(consts)
    offset = explicit.pop(f"{scope}/Conv2D_bn_offset")
    explicit[f"{scope}/BatchNorm/beta"] = offset
    explicit[f"{scope}/BatchNorm/moving_mean"] = np.full_like(offset, 0.5)
    explicit[f"{scope}/BatchNorm/moving_variance"] = np.full_like(offset, 4.0)
    sd = port_tf.port_inception_resnet_v1(explicit)
    assert torch.equal(sd["conv2d_3b.bn.bias"], torch.from_numpy(offset))
    assert torch.all(sd["conv2d_3b.bn.running_mean"] == 0.5) and torch.all(sd["conv2d_3b.bn.running_var"] == 4.0)
    assert torch.all(sd["conv2d_3b.bn.weight"] == 1.0)


def test_load_graph_constants_rejects_non_graphs(tmp_path):
    with pytest.raises(ValueError, match="No TensorFlow graph file"):
        port_tf.load_graph_constants(tmp_path / "missing.pb")
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\xff\xff\xff not a protobuf")
    with pytest.raises(ValueError, match="not a TensorFlow GraphDef|no constants"):
        port_tf.load_graph_constants(junk)


def test_convert_writes_a_loadable_state_dict(pb_path, tmp_path):
    out = port_tf.convert(pb_path, tmp_path / "irv1.pt")
    sd = torch.load(out, weights_only=True)
    InceptionResNetV1(512).load_state_dict(sd)  # strict: every key, every shape


def test_build_checks_sha256_and_arguments():
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        facenet_irv1.pretrained_state_dict(replace(facenet_irv1.WEIGHTS, sha256="0" * 64))
    with pytest.raises(ValueError, match="no pretrained weights"):
        facenet_irv1.build(facenet_irv1.INCEPTION_RESNET_V1, pretrained=True)
    with pytest.raises(ValueError, match="512-D"):
        facenet_irv1.build(facenet_irv1.FACENET_CASIA, embedding_size=128)
    with pytest.raises(ValueError, match="embedding_size"):
        facenet_irv1.build(facenet_irv1.INCEPTION_RESNET_V1, pretrained=False, embedding_size=0)


def test_untrained_inception_resnet_v1_embedder():
    torch.manual_seed(0)
    emb = facenet_irv1.build(facenet_irv1.INCEPTION_RESNET_V1, pretrained=False, embedding_size=64, batch_size=2)
    assert emb.config.embedding_size == 64 and emb.config.weights is None and emb.input_size == (160, 160)
    crops = np.random.default_rng(0).integers(0, 256, (3, 160, 160, 3), dtype=np.uint8)
    e = emb.embed_faces(crops)
    assert e.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert facenet_irv1.build(facenet_irv1.INCEPTION_RESNET_V1, pretrained=False).embedding_size == 128


def test_tf_same_padding_puts_the_odd_pixel_after():
    assert tf_same_pads(160, 3, 1) == (1, 1)
    assert tf_same_pads(6, 3, 2) == (0, 1)  # out 3: needs 7 rows -> 1 extra, at the bottom
    assert tf_same_pads(5, 3, 2) == (1, 1)
    assert tf_same_pads(7, 1, 2) == (0, 0)
    layer = ConvBN(2, 3, 3, stride=2, padding="SAME").eval()
    x = torch.randn(1, 2, 6, 8)
    manual = layer.conv(torch.nn.functional.pad(x, (0, 1, 0, 1)))  # W 8 -> (0, 1), H 6 -> (0, 1)
    with torch.inference_mode():
        assert torch.allclose(layer(x), torch.relu(layer.bn(manual)))


def test_module_input_checks_and_output():
    net = InceptionResNetV1(32).eval()
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net(torch.zeros(1, 1, 160, 160))
    with pytest.raises(ValueError, match="H, W >= 75"):
        net(torch.zeros(1, 3, 74, 160))
    with pytest.raises(ValueError, match="embedding_size"):
        InceptionResNetV1(0)
    with pytest.raises(ValueError, match="dropout"):
        InceptionResNetV1(128, dropout=1.0)
    with torch.inference_mode():
        y = net(torch.randn(2, 3, 75, 99))
    assert y.shape == (2, 32)
    assert torch.allclose(y.norm(dim=1), torch.ones(2), atol=1e-5)
