"""PyTorch embedding networks (NN2/NN3/NN4/NNS1/NNS2, MobileFaceNet) and TorchEmbedder."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from facenet import FacePipeline, create_model, list_models, model_config
from facenet.models.complexity import count_flops, count_mult_adds, count_parameters
from facenet.models.nets.inception import NN2, NN2_BLOCKS, NNS2, InceptionBlock, L2Pool
from facenet.models.nets.mobilefacenet import MobileFaceNet
from facenet.models.torch_embedder import TorchEmbedder

#: Every registered model without shipped weights is a network built here (timm-style check).
TORCH_MODELS = [n for n in list_models() if model_config(n).weights is None]


def _crops(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)


def test_the_paper_models_are_registered():
    assert {"nn2", "nn3", "nn4", "nns1", "nns2", "mobilefacenet"} <= set(TORCH_MODELS)
    sizes = {n: model_config(n).input_size for n in ("nn2", "nn3", "nn4", "nns1", "nns2", "mobilefacenet")}
    assert sizes == {"nn2": (224, 224), "nn3": (160, 160), "nn4": (96, 96), "nns1": (165, 165),
                     "nns2": (140, 140), "mobilefacenet": (112, 112)}
    cfg = model_config("nn2")
    assert cfg.mean == (127.5,) * 3 and cfg.std == (128.0,) * 3 and cfg.channel_order == "RGB"
    assert cfg.threshold is None and cfg.licence == "MIT (this project)"


@pytest.mark.parametrize("embedding_size", [None, 64])
@pytest.mark.parametrize("name", TORCH_MODELS)
def test_every_torch_model_embeds_unit_vectors(name, embedding_size):
    emb = create_model(name, pretrained=False, embedding_size=embedding_size)
    assert isinstance(emb, TorchEmbedder)
    d = embedding_size or 128
    assert emb.embedding_size == d and emb.config.embedding_size == d
    crops = _crops(2, emb.input_size)
    mode = emb.module.training
    e = emb.embed_faces(crops)
    assert e.shape == (2, d) and e.dtype == np.float32 and np.isfinite(e).all()
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert np.abs(e[0] - e[1]).max() > 1e-6  # different crops, different vectors (random init: small but nonzero)
    assert emb.module.training == mode  # embed_faces ran it in eval mode, then restored the mode


def test_torch_embedder_batches_flips_and_restores_mode():
    emb = create_model("nns2", pretrained=False, batch_size=2)
    crops = _crops(5, emb.input_size, seed=1)
    e = emb.embed_faces(crops)
    assert emb.module.training  # restored
    emb.module.eval()
    with torch.no_grad():
        out = emb.module(emb.preprocess(crops))  # the raw module gives the same unit vectors
    np.testing.assert_allclose(out.numpy(), e, atol=1e-5)
    emb.module.train()
    np.testing.assert_allclose(TorchEmbedder(emb.config, emb.module, batch_size=5).embed_faces(crops), e, atol=1e-5)
    f = emb.embed_faces(crops, flip=True)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    mirrored = emb.embed_faces(crops[:, :, ::-1].copy(), flip=True)
    np.testing.assert_allclose(mirrored, f, atol=1e-5)  # flip TTA is mirror-invariant
    assert emb.embed_faces(crops[:0]).shape == (0, 128)
    emb.module.eval()
    old = torch.get_num_threads()
    TorchEmbedder(emb.config, emb.module, threads=1).embed_faces(crops[:1])
    assert not emb.module.training and torch.get_num_threads() == old


def test_torch_embedder_preprocess_standardises_in_channel_order():
    cfg = model_config("nns2")
    crops = np.zeros((1, *cfg.input_size, 3), np.uint8)
    crops[..., 0], crops[..., 2] = 255, 0
    x = TorchEmbedder(cfg, NNS2()).preprocess(crops)
    assert x.shape == (1, 3, *cfg.input_size) and x.dtype == torch.float32
    assert x[0, 0, 0, 0].item() == pytest.approx(127.5 / 128) and x[0, 2, 0, 0].item() == pytest.approx(-127.5 / 128)
    xb = TorchEmbedder(dataclasses.replace(cfg, channel_order="BGR"), NNS2()).preprocess(crops)
    assert torch.equal(xb[:, 0], x[:, 2]) and torch.equal(xb[:, 2], x[:, 0])


def test_torch_embedder_validates_inputs():
    emb = create_model("nns2", pretrained=False)
    with pytest.raises(ValueError, match=r"\(N, 140, 140, 3\) uint8"):
        emb.embed_faces(np.zeros((1, 112, 112, 3), np.uint8))
    with pytest.raises(ValueError, match="'batch_size'"):
        TorchEmbedder(emb.config, emb.module, batch_size=0)
    with pytest.raises(ValueError, match="torch.nn.Module"):
        TorchEmbedder(emb.config, object())
    with pytest.raises(ValueError, match="'device'"):
        TorchEmbedder(emb.config, emb.module, device="no-such-device")
    with pytest.raises(ValueError, match="'threads'"):
        TorchEmbedder(emb.config, emb.module, threads=0)


def test_build_options():
    with pytest.raises(ValueError, match="no pretrained weights ship for nn2; train one with `facenet train`"):
        create_model("nn2", pretrained=True)
    assert isinstance(create_model("nns2"), TorchEmbedder)  # default: untrained when nothing ships
    assert isinstance(create_model("nns2", backend="opencv"), TorchEmbedder)  # the CLI passes it
    with pytest.raises(ValueError, match="Unknown options"):
        create_model("nns2", colour="blue")
    with pytest.raises(ValueError, match="'embedding_size'"):
        create_model("nns2", embedding_size=0)
    with pytest.raises(ValueError, match="'dropout'"):
        create_model("nns2", dropout=1.5)


@pytest.mark.parametrize("net", ["NN2", "NNS1", "NNS2", "MobileFaceNet", "InceptionResNetV1"])
def test_head_parameters_use_the_project_message(net):
    from facenet.models.nets.inception import NNS1
    from facenet.models.nets.inception_resnet_v1 import InceptionResNetV1

    cls = {"NN2": NN2, "NNS1": NNS1, "NNS2": NNS2, "MobileFaceNet": MobileFaceNet, "InceptionResNetV1": InceptionResNetV1}[net]
    with pytest.raises(ValueError, match=rf"^The 'embedding_size' parameter of {net} must be an int in \[1, inf\). Got 0 instead.$"):
        cls(embedding_size=0)
    with pytest.raises(ValueError, match=rf"^The 'embedding_size' parameter of {net} must be an int"):
        cls(embedding_size=True)
    with pytest.raises(ValueError, match=rf"^The 'dropout' parameter of {net} must be a float in \[0, 1\). Got 1.0 instead.$"):
        cls(dropout=1.0)
    with pytest.raises(ValueError, match=rf"^The 'dropout' parameter of {net}"):
        cls(dropout=float("nan"))


def test_block_options_use_the_project_message():
    from facenet.models.nets.inception_resnet_v1 import ConvBN

    with pytest.raises(ValueError, match="The 'padding' parameter of ConvBN must be one of 'SAME', 'VALID'. Got 'same' instead."):
        ConvBN(3, 4, 3, padding="same")
    bad = dataclasses.replace(NN2_BLOCKS[0], pool="avg")
    with pytest.raises(ValueError, match=f"The 'pool' parameter of inception block {bad.name} must be one of 'max', 'l2'. Got 'avg'"):
        InceptionBlock(192, bad)
    net = NNS2(embedding_size=np.int64(16), dropout=np.float32(0.25))  # numpy scalars are fine
    assert net.embedding.out_features == 16 and net.dropout.p == 0.25


def test_nn2_follows_table_2():
    c, outs = 192, []
    for spec in NN2_BLOCKS:
        c = InceptionBlock(c, spec).out_channels
        outs.append(c)
    assert outs == [256, 320, 640, 640, 640, 640, 640, 1024, 1024, 1024]
    net = NN2().eval()
    with torch.no_grad():
        fmap = net.blocks(net.stem(torch.zeros(1, 3, 224, 224)))
    assert fmap.shape == (1, 1024, 7, 7)
    assert sum(isinstance(m, L2Pool) for m in net.modules()) == 6  # 3b, 4a-4d, 5a


def test_l2_pool_is_root_mean_square():
    x = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    y = L2Pool(3, 1)(x)
    assert y[0, 0, 1, 1].item() == pytest.approx(float(torch.sqrt((x**2).mean() + 1e-6)))
    assert torch.allclose(L2Pool()(torch.full((1, 2, 5, 5), -3.0)), torch.full((1, 2, 5, 5), 3.0), atol=1e-5)
    x.requires_grad_(True)
    L2Pool()(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_nets_train_with_gradients():
    net = NNS2(dropout=0.2)
    out = net(torch.randn(3, 3, 96, 96))
    out[:, 0].sum().backward()
    assert out.shape == (3, 128) and all(p.grad is not None for p in net.embedding.parameters())


def test_mobilefacenet_needs_112():
    with pytest.raises(ValueError, match="112x112"):
        MobileFaceNet().eval()(torch.zeros(1, 3, 96, 96))


def test_complexity_matches_the_papers():
    counts = {}
    for name in TORCH_MODELS:
        emb = create_model(name, pretrained=False)
        counts[name] = (count_parameters(emb.module), count_mult_adds(emb.module, emb.input_size))
        assert counts[name][0] > 0 and counts[name][1] > 0
    params, madds = counts["nn2"]
    assert 1.6e9 / 1.5 < madds < 1.6e9 * 1.5  # paper: 1.6B FLOPS (multiply-adds)
    assert abs(params - 7.5e6) < 0.5e6  # paper: 7.5M
    assert abs(counts["nn4"][1] - 285e6) < 0.1 * 285e6  # paper: 285M
    assert abs(counts["mobilefacenet"][1] - 221e6) < 0.05 * 221e6  # MobileFaceNets paper: 221M
    assert counts["nns2"][1] < counts["nns1"][1] < counts["nn4"][1] < counts["nn3"][1] < madds
    assert count_flops(NNS2(), (140, 140)) == 2 * counts["nns2"][1]
    with pytest.raises(ValueError, match="'input_size'"):
        count_flops(NNS2(), (0, 140))
    with pytest.raises(ValueError, match=r"The 'input_size' parameter of count_flops must be a \(height, width\) pair"):
        count_flops(NNS2(), 140)
    with pytest.raises(ValueError, match="The 'module' parameter of count_parameters must be a torch.nn.Module. Got str"):
        count_parameters("nns2")
    with pytest.raises(ValueError, match="The 'module' parameter of count_flops must be a torch.nn.Module"):
        count_flops(None, (140, 140))
    assert count_flops(NNS2(), (np.int64(140), 140)) == 2 * counts["nns2"][1]


def test_models_command_reports_complexity():
    from facenet.commands.models import _complexity

    nns2 = _complexity("nns2", (140, 140))
    assert nns2["params"] == count_parameters(NNS2()) and nns2["mult_adds"] > 0
    assert _complexity("sface", (112, 112)) == {"params": None, "mult_adds": None}


def test_pipeline_runs_an_untrained_torch_model():
    img = np.random.default_rng(3).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    e = FacePipeline(embedder="nn4").embed(img)
    assert e.shape == (1, 128) and np.isfinite(e).all()
    assert np.linalg.norm(e[0]) == pytest.approx(1.0, abs=1e-5)
