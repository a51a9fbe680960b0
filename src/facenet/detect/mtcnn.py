"""MTCNN (Zhang et al., 2016): a three-stage cascade of small CNNs (P-Net, R-Net, O-Net).

The cascade is implemented here; only the trained weights come from outside, as the PyTorch
state dicts that ship inside the ``facenet-pytorch`` package (converted from the original
model). The package itself is never imported: its files are located and SHA-256 checked.

Coordinates are continuous pixels (a box is ``[x1, x2) x [y1, y2)``, width ``x2 - x1``); see
:mod:`facenet.detect.nms`. The networks take RGB input normalised as ``(x - 127.5) / 128``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from facenet.detect.catalog import ONET_WEIGHTS, PNET_WEIGHTS, RNET_WEIGHTS
from facenet.detect.nms import batched_nms
from facenet.detect.types import Detections, DetectorConfig, check_rgb_image
from facenet.validation import check_floats, check_scalar
from facenet.weights import WeightFile, verified_path

_STRIDE, _CELL = 2, 12  # P-Net's output stride and receptive field, in pyramid-level pixels
_CHUNK = 512  # R-Net / O-Net batch size (bounds memory on huge candidate sets)


def build(config: DetectorConfig, min_face_size: int | None = None, thresholds: Sequence[float] | None = None,
          scale_factor: float | None = None, nms_thresholds: Sequence[float] | None = None,
          device: str | None = None, threads: int | None = None) -> "MTCNN":
    """An :class:`MTCNN` with ``config.defaults`` for the options not given."""
    return MTCNN(**config.options(min_face_size=min_face_size, thresholds=thresholds, scale_factor=scale_factor,
                                  nms_thresholds=nms_thresholds, device=device, threads=threads))


# --------------------------------------------------------------------------- networks


def _face_prob(logits: torch.Tensor) -> torch.Tensor:
    """Softmax probability of class 1 from 2-class logits on dim 1 (as a sigmoid: cheaper)."""
    return torch.sigmoid(logits[:, 1] - logits[:, 0])


class PNet(nn.Module):
    """Proposal net, fully convolutional: (B, 3, H, W) -> regression (B, 4, h, w), face prob (B, h, w).

    ``h = ceil((H - 2) / 2) - 4``; output cell ``(i, j)`` sees input pixels ``[2j, 2j + 12)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), _face_prob(self.conv4_1(x))


class RNet(nn.Module):
    """Refine net: (N, 3, 24, 24) -> regression (N, 4), face prob (N,)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights were converted from a TensorFlow model that flattens (N, W, H, C).
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense5_2(x), _face_prob(self.dense5_1(x))


class ONet(nn.Module):
    """Output net: (N, 3, 48, 48) -> regression (N, 4), landmarks (N, 10), face prob (N,).

    Landmarks are 5 x's then 5 y's, as fractions of the input box's width and height.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), _face_prob(self.dense6_1(x))


def _load(net: nn.Module, weight: WeightFile, device: torch.device) -> nn.Module:
    state = torch.load(verified_path(weight), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net.to(device).eval()


# --------------------------------------------------------------------------- box helpers


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply offsets ``reg`` (N, 4), in units of box width/height, to ``boxes`` (N, 4)."""
    wh = boxes[:, 2:4] - boxes[:, 0:2]
    return boxes + reg * np.concatenate([wh, wh], axis=1)


def _square(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes grown to squares of side max(w, h) about the same centres ("rerec")."""
    centre = (boxes[:, 0:2] + boxes[:, 2:4]) / 2.0
    half = np.max(boxes[:, 2:4] - boxes[:, 0:2], axis=1, keepdims=True) / 2.0
    return np.concatenate([centre - half, centre + half], axis=1)


def _crops(images: Sequence[np.ndarray], boxes: np.ndarray, owner: np.ndarray, size: int) -> np.ndarray:
    """Cut ``boxes`` (N, 4) out of ``images[owner[k]]`` and resize to (N, size, size, 3) uint8.

    Box edges are rounded to whole pixels; parts of a box outside its image are zero, as in
    the original MTCNN.
    """
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    ib = np.floor(boxes + 0.5).astype(np.int64)
    ib[:, 2:4] = np.maximum(ib[:, 2:4], ib[:, 0:2] + 1)
    for k in range(len(ib)):  # cv2 does the pixel work; per box this costs a few microseconds
        img = images[owner[k]]
        h, w = img.shape[:2]
        x1, y1, x2, y2 = ib[k]
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if cx2 <= cx1 or cy2 <= cy1:
            continue  # entirely outside: leave black
        if (cx1, cy1, cx2, cy2) == (x1, y1, x2, y2):
            patch = img[y1:y2, x1:x2]
        else:
            patch = np.zeros((y2 - y1, x2 - x1, 3), np.uint8)
            patch[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1] = img[cy1:cy2, cx1:cx2]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``, restoring the old value after."""
    if threads is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# --------------------------------------------------------------------------- detector


class MTCNN:
    """MTCNN face detector: boxes, O-Net face probabilities and 5 landmarks.

    min_face_size: face side (pixels) that the first pyramid level maps onto P-Net's 12-pixel
        window; smaller values find smaller faces and are slower. The limit is soft: faces down
        to about half of it can still be found. Images whose shorter side is below it give no
        detections.
    thresholds: face-probability cut-offs of P-Net, R-Net and O-Net.
    scale_factor: ratio between successive image-pyramid levels, in (0, 1).
    nms_thresholds: IoU cut-offs of the NMS after P-Net (within each pyramid level; a fixed 0.7
        is used across levels), R-Net, and O-Net (the last on intersection over the smaller box).
    device: torch device the networks run on. threads: torch CPU threads while detecting
        (``None``: leave torch's setting alone).
    """

    name = "mtcnn"

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        scale_factor: float = 0.709,
        nms_thresholds: Sequence[float] = (0.5, 0.7, 0.7),
        device: str | torch.device = "cpu",
        threads: int | None = None,
    ) -> None:
        min_face_size = check_scalar(min_face_size, "min_face_size", int, min_val=1, owner="MTCNN")
        self.thresholds = check_floats(thresholds, "thresholds", 3, min_val=0.0, max_val=1.0, owner="MTCNN")
        scale_factor = check_scalar(scale_factor, "scale_factor", float, min_val=0.0, max_val=1.0, include="neither", owner="MTCNN")
        self.nms_thresholds = check_floats(nms_thresholds, "nms_thresholds", 3, min_val=0.0, max_val=1.0, owner="MTCNN")
        threads = check_scalar(threads, "threads", int, min_val=1, owner="MTCNN", allow_none=True)
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise ValueError(
                f"The 'device' parameter of MTCNN must be a str or torch.device naming a torch device (e.g. 'cpu', 'cuda:0'). Got {device!r} instead."
            ) from None
        self.min_face_size = int(min_face_size)
        self.scale_factor = float(scale_factor)
        self.threads = threads
        self._pnet = _load(PNet(), PNET_WEIGHTS, self.device)
        self._rnet = _load(RNet(), RNET_WEIGHTS, self.device)
        self._onet = _load(ONet(), ONET_WEIGHTS, self.device)

    def __repr__(self) -> str:
        return (
            f"MTCNN(min_face_size={self.min_face_size}, thresholds={self.thresholds}, "
            f"scale_factor={self.scale_factor}, nms_thresholds={self.nms_thresholds}, device='{self.device}')"
        )

    # ----------------------------------------------------------------- public API

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in one ``(H, W, 3)`` uint8 RGB image, highest score first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """:meth:`detect` for each of ``images`` (sizes may differ), run as one cascade."""
        images = list(images)
        for im in images:
            check_rgb_image(im)
        if not images:
            return []
        with _torch_threads(self.threads), torch.inference_mode():
            boxes, owner = self._stage_p(images)
            boxes, owner = self._stage_r(images, boxes, owner)
            boxes, scores, marks, owner = self._stage_o(images, boxes, owner)
        results = []
        for i in range(len(images)):
            sel = owner == i
            results.append(Detections(boxes[sel], scores[sel], marks[sel]).sorted())
        return results

    # ----------------------------------------------------------------- stages

    def _scales(self, h: int, w: int) -> list[float]:
        """Pyramid scales: the first maps ``min_face_size`` to P-Net's 12 px window."""
        scale = 12.0 / self.min_face_size
        side = min(h, w) * scale
        scales = []
        while side >= _CELL:
            scales.append(scale)
            scale *= self.scale_factor
            side *= self.scale_factor
        return scales

    def _to_tensor(self, batch: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 on the device, normalised.

        The result keeps the input's channels-last memory layout, which torch's CPU convolutions
        run faster on.
        """
        t = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device).permute(0, 3, 1, 2)
        return (t.float() - 127.5) * 0.0078125

    def _stage_p(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """P-Net over every pyramid level -> squared candidate boxes (N, 4) and owners (N,)."""
        t_p, nms_p = self.thresholds[0], self.nms_thresholds[0]
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            by_shape.setdefault(im.shape[:2], []).append(i)
        all_boxes, all_scores, all_reg, all_owner = [], [], [], []
        for (h, w), members in by_shape.items():
            owners = np.asarray(members, np.int64)
            for scale in self._scales(h, w):
                hs, ws = math.ceil(h * scale), math.ceil(w * scale)
                level = np.stack([cv2.resize(images[i], (ws, hs), interpolation=cv2.INTER_AREA) for i in members])
                reg, prob = self._pnet(self._to_tensor(level))
                prob, reg = prob.cpu().numpy(), reg.cpu().numpy()
                b, yy, xx = np.nonzero(prob >= t_p)
                if len(b) == 0:
                    continue
                sx, sy = ws / w, hs / h  # actual resize ratios of this level
                x1, y1 = _STRIDE * xx, _STRIDE * yy
                boxes = np.stack([x1 / sx, y1 / sy, (x1 + _CELL) / sx, (y1 + _CELL) / sy], axis=1)
                scores = prob[b, yy, xx]
                regs = reg[b, :, yy, xx]  # (K, 4)
                keep = batched_nms(boxes, scores, owners[b], nms_p)
                all_boxes.append(boxes[keep])
                all_scores.append(scores[keep])
                all_reg.append(regs[keep])
                all_owner.append(owners[b][keep])
        if not all_boxes:
            return np.zeros((0, 4)), np.zeros((0,), np.int64)
        boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
        regs, owner = np.concatenate(all_reg).astype(np.float64), np.concatenate(all_owner)
        keep = batched_nms(boxes, scores, owner, 0.7)
        return _square(_regress(boxes[keep], regs[keep])), owner[keep]

    def _stage_r(self, images: list[np.ndarray], boxes: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """R-Net on 24x24 crops -> refined squared boxes (N', 4) and owners (N',)."""
        if len(boxes) == 0:
            return boxes, owner
        regs, scores = self._run(self._rnet, _crops(images, boxes, owner, 24))
        ok = scores > self.thresholds[1]
        boxes, scores, regs, owner = boxes[ok], scores[ok], regs[ok], owner[ok]
        keep = batched_nms(boxes, scores, owner, self.nms_thresholds[1])
        return _square(_regress(boxes[keep], regs[keep])), owner[keep]

    def _stage_o(
        self, images: list[np.ndarray], boxes: np.ndarray, owner: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """O-Net on 48x48 crops -> boxes (K, 4), scores (K,), landmarks (K, 5, 2), owners (K,)."""
        if len(boxes) == 0:
            return np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, 5, 2)), owner
        regs, marks, scores = self._run(self._onet, _crops(images, boxes, owner, 48))
        ok = scores > self.thresholds[2]
        boxes, scores, regs, marks, owner = boxes[ok], scores[ok], regs[ok], marks[ok], owner[ok]
        # Landmarks are relative to the box O-Net was shown (before its own regression).
        wh = boxes[:, 2:4] - boxes[:, 0:2]
        marks = np.stack([marks[:, 0:5], marks[:, 5:10]], axis=2) * wh[:, None, :] + boxes[:, None, 0:2]
        boxes = _regress(boxes, regs)
        keep = batched_nms(boxes, scores, owner, self.nms_thresholds[2], mode="min")
        return boxes[keep], scores[keep], marks[keep], owner[keep]

    def _run(self, net: nn.Module, crops: np.ndarray) -> tuple[np.ndarray, ...]:
        """Run ``net`` on (N, S, S, 3) uint8 crops in chunks; outputs as float64 numpy arrays."""
        parts = [net(self._to_tensor(crops[i : i + _CHUNK])) for i in range(0, len(crops), _CHUNK)]
        return tuple(torch.cat(p).cpu().numpy().astype(np.float64) for p in zip(*parts))
