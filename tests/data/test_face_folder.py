"""facenet.data.folder: FaceFolder (aligned crops per identity) and SyntheticFaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from facenet.data.folder import FaceFolder, SyntheticFaces
from facenet.errors import DataError

MEAN, STD = (127.5,) * 3, (128.0,) * 3


@pytest.fixture
def tree(tmp_path):
    """a: 3 crops (16x16), b: 2 crops (one 20x12, resized), c: 1 crop."""
    g = np.random.default_rng(0)
    for ident, n in (("a", 3), ("b", 2), ("c", 1)):
        (tmp_path / ident).mkdir()
        for i in range(n):
            h, w = (12, 20) if (ident, i) == ("b", 1) else (16, 16)
            Image.fromarray(g.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / ident / f"{i}.png")
    return tmp_path


def test_items_labels_and_min_images(tree):
    ds = FaceFolder(tree, (16, 16), MEAN, STD)
    assert ds.classes == ["a", "b", "c"] and len(ds) == 6
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 2] and ds.labels.dtype == np.int64
    x, y = ds[4]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and y == 1  # the 20x12 crop, resized
    raw = np.asarray(Image.open(tree / "a" / "0.png"), np.float32)
    np.testing.assert_allclose(ds[0][0].numpy(), (raw.transpose(2, 0, 1) - 127.5) / 128.0, atol=1e-6)
    two = FaceFolder(tree, (16, 16), MEAN, STD, min_images=2, exclude=["b"])
    assert two.classes == ["a"] and len(two) == 3


def test_augmentation_is_a_function_of_seed_epoch_and_index(tree):
    a = FaceFolder(tree, (16, 16), MEAN, STD, augment=True, seed=1)
    b = FaceFolder(tree, (16, 16), MEAN, STD, augment=True, seed=1)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(len(a)))
    before = [a[i][0] for i in range(len(a))]
    a.set_epoch(3)
    b.set_epoch(3)
    after = [a[i][0] for i in range(len(a))]
    assert all(torch.equal(x, b[i][0]) for i, x in enumerate(after))
    assert any(not torch.equal(x, y) for x, y in zip(before, after))


def test_missing_or_empty_folders_are_data_errors(tmp_path, tree):
    with pytest.raises(DataError, match="does not exist"):
        FaceFolder(tmp_path / "missing", (16, 16), MEAN, STD)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match="does not exist"):
        FaceFolder(tmp_path / "file.txt", (16, 16), MEAN, STD)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No identity folder with at least 1 images"):
        FaceFolder(tmp_path / "empty", (16, 16), MEAN, STD)
    with pytest.raises(DataError, match="at least 4 images"):
        FaceFolder(tree, (16, 16), MEAN, STD, min_images=4)


def test_bad_parameters_are_value_errors_not_data_errors(tree):
    bad = [
        (dict(input_size=(16,)), "'input_size' parameter of FaceFolder must be a \\(height, width\\) pair"),
        (dict(input_size=(16, 0)), "'input_size' parameter of FaceFolder"),
        (dict(mean=(1.0, 2.0)), "'mean' parameter of FaceFolder must be a sequence of 3 floats"),
        (dict(std=(1.0, 0.0, 1.0)), r"'std' parameter of FaceFolder must be a sequence of 3 floats in \(0, inf\)"),
        (dict(augment=1), "'augment' parameter of FaceFolder must be a bool. Got int 1 instead."),
        (dict(min_images=0), r"'min_images' parameter of FaceFolder must be an int in \[1, inf\). Got 0 instead."),
        (dict(max_shift=-1), "'max_shift' parameter"),
        (dict(seed=-1), "'seed' parameter"),
        (dict(exclude="a"), "'exclude' parameter of FaceFolder must be a sequence of str"),
        (dict(exclude=["nobody"]), "not folders of"),
    ]
    for kw, msg in bad:
        args = {"input_size": (16, 16), "mean": MEAN, "std": STD, **kw}
        with pytest.raises(ValueError, match=msg) as e:
            FaceFolder(tree, **args)
        assert not isinstance(e.value, DataError), kw
    with pytest.raises(ValueError, match="'epoch' parameter of FaceFolder"):
        FaceFolder(tree, (16, 16), MEAN, STD).set_epoch(-1)
    ds = FaceFolder(tree, np.array([16, 16]), np.array(MEAN), np.array(STD))  # numpy inputs are fine
    assert ds.input_size == (16, 16) and ds[0][0].shape == (3, 16, 16)


def test_synthetic_faces():
    ds = SyntheticFaces(3, 4, (8, 10), seed=2)
    assert len(ds) == 12 and ds.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and ds.classes == ["id0", "id1", "id2"]
    x, y = ds[5]
    assert x.shape == (3, 8, 10) and x.dtype == torch.float32 and y == 1 and float(x.abs().max()) <= 1.0
    assert torch.equal(SyntheticFaces(3, 4, (8, 10), seed=2).images, ds.images)
    assert not torch.equal(SyntheticFaces(3, 4, (8, 10), seed=3).images, ds.images)
    for kw, msg in [(dict(n_identities=1), "'n_identities' parameter of SyntheticFaces must be an int in \\[2, inf\\)"),
                    (dict(images_per_identity=1), "'images_per_identity' parameter"),
                    (dict(input_size=(8,)), "'input_size' parameter of SyntheticFaces"),
                    (dict(seed=1.5), "'seed' parameter of SyntheticFaces")]:
        with pytest.raises(ValueError, match=msg):
            SyntheticFaces(**kw)
