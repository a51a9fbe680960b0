"""LFW pair files: the real protocol files parse exactly, malformed ones are refused loudly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facenet.data.lfw import PairList, lfw_root, read_pairs
from facenet.errors import DataError


@pytest.mark.data
def test_real_view2_pairs(data_dir: Path) -> None:
    root = data_dir / "lfw"
    pairs = read_pairs(root / "pairs.txt", root)
    assert len(pairs) == 6000
    assert pairs.n_folds == 10
    counts = np.bincount(pairs.folds)
    assert counts.tolist() == [600] * 10
    for k in range(10):
        in_fold = pairs.same[pairs.folds == k]
        assert in_fold.sum() == 300
        assert in_fold[:300].all() and not in_fold[300:].any()  # 300 same then 300 different
    assert all(p.is_file() for p in pairs.unique_paths())
    assert pairs.paths_a[0] == root / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    assert pairs.paths_b[0] == root / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg"
    # same pairs share the person folder, different pairs do not
    assert all(a.parent == b.parent for a, b, s in zip(pairs.paths_a, pairs.paths_b, pairs.same) if s)
    assert all(a.parent != b.parent for a, b, s in zip(pairs.paths_a, pairs.paths_b, pairs.same) if not s)


@pytest.mark.data
@pytest.mark.parametrize("name,n", [("pairsDevTrain.txt", 2200), ("pairsDevTest.txt", 1000)])
def test_real_view1_pairs(data_dir: Path, name: str, n: int) -> None:
    root = data_dir / "lfw"
    pairs = read_pairs(root / name, root)
    assert len(pairs) == n
    assert pairs.same.sum() == n // 2 and pairs.same[: n // 2].all()
    assert (pairs.folds == 0).all()


@pytest.mark.data
def test_lfw_root_finds_shared_data(data_dir: Path) -> None:
    assert lfw_root(data_dir) == (data_dir / "lfw").resolve()
    assert lfw_root(data_dir / "lfw") == (data_dir / "lfw").resolve()  # the lfw folder itself


def test_lfw_root_missing_is_helpful(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        lfw_root(tmp_path / "nowhere")
    msg = str(err.value)
    assert "--root" in msg and "FACENET_DATA" in msg and "facenet data lfw --download" in msg


def test_data_folder_default_comes_from_settings(tmp_path: Path) -> None:
    from facenet.settings import Settings

    assert Settings.from_env({"FACENET_DATA": str(tmp_path)}).face_data_or_default() == tmp_path
    assert Settings.from_env({}).face_data_or_default() == Path("../shared/data")
    s = Settings.from_env({"FACENET_HOME": str(tmp_path / "home")})
    assert s.models_dir == tmp_path / "home" / "models" and s.cache_dir == tmp_path / "home" / "cache"


# --- synthetic trees -------------------------------------------------------------------------


def _tree(root: Path) -> None:
    for name, n in (("Ann_A", 3), ("Bob_B", 2), ("Cy_C", 1)):
        (root / name).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / name / f"{name}_{i:04d}.jpg").write_bytes(b"\xff\xd8\xff")


VIEW2 = "2\t1\nAnn_A\t1\t2\nAnn_A\t1\tBob_B\t1\nBob_B\t1\t2\nCy_C\t1\tAnn_A\t3\n"


def _write(tmp_path: Path, text: str) -> tuple[Path, Path]:
    root = tmp_path / "lfw"
    _tree(root)
    f = tmp_path / "pairs.txt"
    f.write_text(text)
    return f, root


def test_synthetic_view2(tmp_path: Path) -> None:
    f, root = _write(tmp_path, VIEW2 + "\n\n")  # trailing blank lines are fine
    pairs = read_pairs(f, root)
    assert len(pairs) == 4
    assert pairs.same.tolist() == [True, False, True, False]
    assert pairs.folds.tolist() == [0, 0, 1, 1]
    assert pairs.paths_b[3] == root / "Ann_A" / "Ann_A_0003.jpg"
    uniq = pairs.unique_paths()
    assert uniq == sorted(set(uniq)) and len(uniq) == 6
    ia, ib = pairs.index_pairs(uniq)
    assert [uniq[i] for i in ia] == pairs.paths_a and [uniq[i] for i in ib] == pairs.paths_b
    with pytest.raises(DataError):
        pairs.index_pairs(uniq[1:])
    sub = pairs.subset(pairs.folds == 1)
    assert len(sub) == 2 and sub.folds.tolist() == [1, 1] and sub.n_folds == 1
    assert sub.paths_a == pairs.paths_a[2:] and sub.same.tolist() == [True, False]


def test_synthetic_view1(tmp_path: Path) -> None:
    f, root = _write(tmp_path, "2\nAnn_A 1 2\nBob_B 1 2\nAnn_A 1 Bob_B 1\nCy_C 1 Ann_A 3\n")
    pairs = read_pairs(f, root)
    assert pairs.same.tolist() == [True, True, False, False]
    assert pairs.folds.tolist() == [0, 0, 0, 0]
    assert isinstance(pairs, PairList)


@pytest.mark.parametrize(
    "text,line,words",
    [
        ("ten 300\n", 1, "bad header"),
        ("10 300 7\n", 1, "bad header"),
        ("", None, "empty"),
        ("0 5\n", 1, "positive"),
        # wrong total count: one line too few / too many
        (VIEW2.rsplit("Cy_C", 1)[0], 4, "announces"),
        (VIEW2 + "Ann_A\t2\t3\n", 6, "one too many"),
        # the first fold's same block is one line short (misaligned folds): wrong field count
        ("2\t1\nAnn_A\t1\tBob_B\t1\nAnn_A\t1\t2\nBob_B\t1\t2\nCy_C\t1\tAnn_A\t3\n", 2, "expected 3 fields"),
        ("2\t1\nAnn_A\t1\t2\nAnn_A\t1\tBob_B\nBob_B\t1\t2\nCy_C\t1\tAnn_A\t3\n", 3, "expected 4 fields"),
        (VIEW2.replace("Bob_B\t1\t2", "Bob_B\tone\t2"), 4, "not a positive integer"),
        (VIEW2.replace("Bob_B\t1\t2", "Bob_B\t1\t2.0"), 4, "not a positive integer"),
        (VIEW2.replace("Bob_B\t1\t2", "Bob_B\t0\t2"), 4, "not a positive integer"),
        (VIEW2.replace("Ann_A\t3", "Ann_A\t9"), 5, "image not found"),
        (VIEW2.replace("Cy_C\t1\tAnn_A", "Cy_C\t1\tNo_Body"), 5, "No_Body_0003.jpg"),
        (VIEW2.replace("Cy_C\t1\tAnn_A", "Cy_C\t1\t.."), 5, "invalid person name"),
        ("2\t1\nAnn_A\t1\t2\n\nBob_B\t1\t2\nCy_C\t1\tAnn_A\t3\n", 3, "expected 4 fields"),
    ],
)
def test_malformed_files_name_the_line(tmp_path: Path, text: str, line: int | None, words: str) -> None:
    f, root = _write(tmp_path, text)
    with pytest.raises(DataError) as err:
        read_pairs(f, root)
    msg = str(err.value)
    assert str(f) in msg
    if line is not None:
        assert f"line {line}" in msg
    assert words in msg


def test_missing_image_allowed_without_check(tmp_path: Path) -> None:
    f, root = _write(tmp_path, VIEW2.replace("Ann_A\t3", "Ann_A\t9"))
    pairs = read_pairs(f, root, check_exists=False)
    assert pairs.paths_b[3] == root / "Ann_A" / "Ann_A_0009.jpg"


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_pairs(tmp_path / "nope.txt", tmp_path)
    f, _ = _write(tmp_path, VIEW2)
    with pytest.raises(DataError, match="image folder not found"):
        read_pairs(f, tmp_path / "no_lfw_here")
