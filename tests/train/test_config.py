"""facenet.train.config: TrainConfig checks every field; YAML in and out (pyyaml only when used)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields

import pytest

from facenet.errors import DataError
from facenet.train.config import TrainConfig


def test_defaults_are_valid_and_round_trip_through_yaml(tmp_path):
    cfg = TrainConfig(lr=0.01, input_size=96, init_from="facenet-casia-irv1", lfw_root=str(tmp_path))
    path = cfg.save(tmp_path / "run" / "config.yaml")
    assert TrainConfig.from_yaml(path) == cfg
    assert TrainConfig.from_yaml(path, steps=5, lr=None).steps == 5  # None overrides are ignored
    assert set(cfg.to_dict()) == {f.name for f in fields(TrainConfig)}
    assert cfg.updated(seed=4, margin=None).seed == 4


@pytest.mark.parametrize("field,value,msg", [
    ("steps", 0, "The 'steps' parameter must be an int in [1, inf). Got 0 instead."),
    ("people_per_batch", 1, "The 'people_per_batch' parameter must be an int in [2, inf). Got 1 instead."),
    ("workers", 1.5, "The 'workers' parameter must be an int in [0, inf). Got 1.5 instead."),
    ("val_every", -2, "The 'val_every' parameter must be an int in [-1, inf). Got -2 instead."),
    ("log_every", 0, "The 'log_every' parameter must be an int in [1, inf). Got 0 instead."),
    ("seed", -1, "The 'seed' parameter must be an int in [0, inf). Got -1 instead."),
    ("input_size", 0, "The 'input_size' parameter must be an int in [1, inf) or None. Got 0 instead."),
    ("steps", True, "The 'steps' parameter must be an int in [1, inf). Got True instead."),
    ("lr", -0.1, "The 'lr' parameter must be a float in [0, inf). Got -0.1 instead."),
    ("lr", float("nan"), "The 'lr' parameter must be a float in [0, inf). Got nan instead."),
    ("margin", float("inf"), "The 'margin' parameter must be a float in [0, inf). Got inf instead."),
    ("backbone_lr_mult", "0.1", "The 'backbone_lr_mult' parameter must be a float in [0, inf). Got '0.1' instead."),
    ("optimizer", "adam", "The 'optimizer' parameter must be one of 'adagrad', 'sgd', 'adamw'. Got 'adam' instead."),
    ("schedule", "linear", "The 'schedule' parameter must be one of 'constant', 'cosine', 'step'. Got 'linear' instead."),
    ("head_init", "svd", "The 'head_init' parameter must be one of 'random', 'pca'. Got 'svd' instead."),
    ("augment", "yes", "The 'augment' parameter must be a bool. Got str 'yes' instead."),
    ("data", None, "The 'data' parameter must be a str. Got NoneType None instead."),
    ("lfw_root", 3, "The 'lfw_root' parameter must be a str or None. Got int 3 instead."),
])
def test_every_field_is_checked(field, value, msg):
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        TrainConfig(**{field: value})


def test_ints_are_accepted_for_floats_and_values_are_kept():
    cfg = TrainConfig(lr=1, margin=0, input_size=None)
    assert cfg.lr == 1 and cfg.margin == 0 and cfg.input_size is None


def test_unknown_options_name_close_matches():
    with pytest.raises(ValueError, match="did you mean 'margin'"):
        TrainConfig.from_dict({"margni": 0.3})


def test_bad_config_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="cannot be read"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(DataError, match="expected a mapping"):
        TrainConfig.from_yaml(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("steps: [1,\n")
    with pytest.raises(DataError, match="not valid YAML"):
        TrainConfig.from_yaml(tmp_path / "bad.yaml")
    (tmp_path / "typo.yaml").write_text("stpes: 3\n")
    with pytest.raises(ValueError, match="did you mean 'steps'") as e:
        TrainConfig.from_yaml(tmp_path / "typo.yaml")
    assert not isinstance(e.value, DataError)  # a readable file with a wrong option: a parameter error


def test_importing_facenet_and_the_config_needs_no_yaml():
    """pyyaml is imported only by from_yaml/save: with it unavailable, the imports still work."""
    code = ("import sys; sys.modules['yaml'] = None\n"
            "import facenet, facenet.train, facenet.train.config\n"
            "cfg = facenet.train.config.TrainConfig(steps=3)\n"
            "try:\n    cfg.save('unused.yaml')\nexcept ImportError:\n    print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
