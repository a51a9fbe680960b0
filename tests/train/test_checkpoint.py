"""facenet.train.checkpoint: atomic save, load on the CPU, DataError for missing or bad files."""

from __future__ import annotations

import pytest
import torch

from facenet.errors import DataError, UsageError
from facenet.train import checkpoint
from facenet.train.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_is_exact_and_atomic(tmp_path):
    state = {"step": 7, "model": {"w": torch.randn(3, 4)}, "rng": torch.get_rng_state(), "name": "x"}
    path = save_checkpoint(tmp_path / "run" / "last.pt", state)
    assert path == tmp_path / "run" / "last.pt" and path.is_file()
    assert not (tmp_path / "run" / "last.pt.tmp").exists()  # written aside, then renamed
    back = load_checkpoint(str(path))
    assert back["step"] == 7 and back["name"] == "x"
    assert torch.equal(back["model"]["w"], state["model"]["w"]) and torch.equal(back["rng"], state["rng"])
    save_checkpoint(path, {"step": 8})  # overwriting replaces the file
    assert load_checkpoint(path) == {"step": 8}


def test_missing_and_bad_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        load_checkpoint(tmp_path / "missing.pt")
    assert not isinstance(e.value, UsageError)  # the CLI reports a data error, not a usage error
    with pytest.raises(DataError, match="does not exist"):
        load_checkpoint(tmp_path)  # a folder is not a checkpoint
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataError, match="could not be read"):
        load_checkpoint(tmp_path / "junk.pt")
    good = save_checkpoint(tmp_path / "good.pt", {"step": 1, "w": torch.zeros(1000)})
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="could not be read"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(DataError, match="holds a list, not a facenet checkpoint"):
        load_checkpoint(tmp_path / "list.pt")


def test_save_takes_a_dict():
    with pytest.raises(ValueError, match="The 'state' parameter of save_checkpoint must be a dict. Got list"):
        save_checkpoint("unused.pt", [1])


def test_latest_checkpoint_is_gone():
    assert not hasattr(checkpoint, "latest_checkpoint")
