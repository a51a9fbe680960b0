"""Training datasets: a folder of aligned crops per identity, and a synthetic stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from facenet.align.folder import iter_images


class FaceFolder(torch.utils.data.Dataset):
    """Aligned face crops in ``root/<identity>/<image>`` (the output of ``facenet align``).

    input_size: (H, W) the model takes; crops of another size are resized.
    mean, std: the model's per-channel normalisation (pixels 0..255).
    augment: random horizontal flip and a random shift of up to ``max_shift`` pixels.
    exclude: identity folder names to leave out.
    Items: (image (3, H, W) float32 tensor, label int). ``labels``: (N,) int64 array; ``classes``:
    identity folder names (index = label). Identities with fewer than ``min_images`` are left out.
    """

    def __init__(self, root: str | Path, input_size: tuple[int, int], mean: Sequence[float], std: Sequence[float],
                 augment: bool = False, min_images: int = 1, max_shift: int = 4, seed: int = 0,
                 exclude: Sequence[str] = ()) -> None:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"Training data folder {root} does not exist (run `facenet align SRC {root}` first).")
        by_id: dict[str, list[Path]] = {}
        for f in iter_images(root):
            by_id.setdefault(f.parent.name, []).append(f)
        unknown = sorted(set(exclude) - set(by_id))
        if unknown:
            raise ValueError(f"Identities to exclude are not folders of {root}: {', '.join(unknown[:10])}.")
        self.classes = sorted(k for k, v in by_id.items() if len(v) >= min_images and k not in set(exclude))
        if not self.classes:
            raise ValueError(f"No identity folder with at least {min_images} images under {root}.")
        self.paths = [p for c in self.classes for p in by_id[c]]
        self.labels = np.array([i for i, c in enumerate(self.classes) for _ in by_id[c]], np.int64)
        self.input_size = tuple(input_size)
        self.mean = np.asarray(mean, np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(3, 1, 1)
        self.augment, self.max_shift, self.seed = augment, max_shift, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentation is a function of (seed, epoch, index): reproducible and resumable."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.paths)

    def load_uint8(self, index: int) -> np.ndarray:
        import cv2

        from facenet.data.images import load_image

        img = load_image(self.paths[index])
        h, w = self.input_size
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if img.shape[0] > h else cv2.INTER_LINEAR)
        return img

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img = self.load_uint8(index)
        if self.augment:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            if rng.random() < 0.5:
                img = img[:, ::-1]
            if self.max_shift:
                dy, dx = rng.integers(-self.max_shift, self.max_shift + 1, 2)
                img = np.roll(img, (int(dy), int(dx)), axis=(0, 1))
        x = (img.transpose(2, 0, 1).astype(np.float32) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x)), int(self.labels[index])


class SyntheticFaces(torch.utils.data.Dataset):
    """A learnable stand-in for face data, so a whole training run works with no data in seconds.

    Each identity is a random smooth colour pattern; each of its images is that pattern with a
    random shift, brightness change and noise. Items: ((3, H, W) float32, label), already in the
    range a standardised photo has (about -1..1).
    """

    def __init__(self, n_identities: int = 16, images_per_identity: int = 8, input_size: tuple[int, int] = (32, 32),
                 seed: int = 0) -> None:
        if n_identities < 2 or images_per_identity < 2:
            raise ValueError("SyntheticFaces needs n_identities >= 2 and images_per_identity >= 2.")
        g = np.random.default_rng(seed)
        h, w = input_size
        coarse = g.normal(0, 1, (n_identities, 3, 4, 4)).astype(np.float32)
        protos = torch.nn.functional.interpolate(torch.from_numpy(coarse), size=(h, w), mode="bilinear", align_corners=False)
        n = n_identities * images_per_identity
        self.labels = np.repeat(np.arange(n_identities), images_per_identity).astype(np.int64)
        shifts = g.integers(-2, 3, (n, 2))
        gains = g.uniform(0.7, 1.3, n).astype(np.float32)
        noise = g.normal(0, 0.3, (n, 3, h, w)).astype(np.float32)
        imgs = protos[self.labels].numpy() * gains[:, None, None, None] + noise
        for i, (dy, dx) in enumerate(shifts):
            imgs[i] = np.roll(imgs[i], (int(dy), int(dx)), axis=(1, 2))
        self.images = torch.from_numpy(np.clip(imgs, -2, 2) * 0.5)
        self.classes = [f"id{i}" for i in range(n_identities)]

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])
