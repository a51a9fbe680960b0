"""facenet.validation: one message format for every parameter check."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from facenet.validation import check_floats, check_option, check_scalar, check_type, check_unit_interval


def _exact(msg: str) -> str:
    """A regex matching ``msg`` exactly (the whole message)."""
    return "^" + re.escape(msg) + "$"


def test_the_documented_message_exactly():
    with pytest.raises(ValueError, match=_exact("The 'k' parameter of identify must be an int in [1, inf). Got 0 instead.")):
        check_scalar(0, "k", int, min_val=1, owner="identify")


def test_message_without_owner_and_with_both_bounds():
    with pytest.raises(ValueError, match=_exact("The 'size' parameter must be an int in [16, 512]. Got 8 instead.")):
        check_scalar(8, "size", int, min_val=16, max_val=512)
    with pytest.raises(ValueError, match=_exact("The 'x' parameter must be a float in (-inf, 2.5]. Got 3.0 instead.")):
        check_scalar(3.0, "x", float, max_val=2.5)
    with pytest.raises(ValueError, match=_exact("The 'x' parameter must be an int in (-inf, inf). Got 'a' instead.")):
        check_scalar("a", "x", int)


def test_ints():
    assert check_scalar(3, "n", int, min_val=1) == 3
    assert type(check_scalar(np.int64(3), "n", int)) is int  # numpy integers are ints, returned as int
    for bad in (3.0, 2.5, "3", None, [3], np.float64(3.0)):
        with pytest.raises(ValueError, match="must be an int"):
            check_scalar(bad, "n", int)


def test_floats():
    v = check_scalar(2, "lr", float, min_val=0.0)
    assert v == 2.0 and type(v) is float  # an int is accepted as a float and converted
    assert type(check_scalar(np.float32(0.5), "p", float)) is float
    assert check_scalar(0.25, "p", float, min_val=0.0, max_val=1.0) == 0.25
    for bad in ("0.5", None, 1j, [0.5]):
        with pytest.raises(ValueError, match="must be a float"):
            check_scalar(bad, "p", float)


@pytest.mark.parametrize("target", [int, float])
def test_bools_are_refused(target):
    for b in (True, False, np.bool_(True)):
        with pytest.raises(ValueError, match="parameter must be"):
            check_scalar(b, "n", target)


def test_nan_is_refused_even_without_bounds():
    with pytest.raises(ValueError, match=_exact("The 'x' parameter must be a float in (-inf, inf). Got nan instead.")):
        check_scalar(math.nan, "x", float)
    for nan in (np.float64("nan"), np.float32("nan")):  # numpy's repr: np.float64(nan)
        with pytest.raises(ValueError, match=r"must be a float in \(-inf, inf\). Got .*nan.* instead."):
            check_scalar(nan, "x", float)


def test_inf_against_the_bounds():
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        check_scalar(math.inf, "p", float, min_val=0.0, max_val=1.0)
    # A finite-valued check (inf itself refused) is written max_val=inf, include="left".
    with pytest.raises(ValueError, match=_exact("The 'm' parameter must be a float in [0, inf). Got inf instead.")):
        check_scalar(math.inf, "m", float, min_val=0.0, max_val=math.inf, include="left")
    assert check_scalar(1e300, "m", float, min_val=0.0, max_val=math.inf, include="left") == 1e300


@pytest.mark.parametrize(
    "include,brackets,lo_ok,hi_ok",
    [("both", "[0, 1]", True, True), ("left", "[0, 1)", True, False), ("right", "(0, 1]", False, True),
     ("neither", "(0, 1)", False, False)],
)
def test_include_decides_whether_the_bounds_belong(include, brackets, lo_ok, hi_ok):
    for value, ok in ((0.0, lo_ok), (1.0, hi_ok)):
        if ok:
            assert check_scalar(value, "p", float, min_val=0.0, max_val=1.0, include=include) == value
        else:
            with pytest.raises(ValueError, match=_exact(f"The 'p' parameter must be a float in {brackets}. Got {value!r} instead.")):
                check_scalar(value, "p", float, min_val=0.0, max_val=1.0, include=include)
    assert check_scalar(0.5, "p", float, min_val=0.0, max_val=1.0, include=include) == 0.5  # inside: always fine
    with pytest.raises(ValueError, match=re.escape(brackets)):
        check_scalar(-0.5, "p", float, min_val=0.0, max_val=1.0, include=include)
    with pytest.raises(ValueError, match=re.escape(brackets)):
        check_scalar(1.5, "p", float, min_val=0.0, max_val=1.0, include=include)


def test_unbounded_sides_are_written_open():
    with pytest.raises(ValueError, match=re.escape("in (-inf, 0]")):
        check_scalar(1, "x", int, max_val=0)
    with pytest.raises(ValueError, match=re.escape("in [5, inf)")):
        check_scalar(1, "x", int, min_val=5)


def test_a_bad_include_is_a_programming_error():
    with pytest.raises(ValueError, match="include must be one of"):
        check_scalar(1, "x", int, include="open")


def test_none_with_allow_none():
    assert check_scalar(None, "threads", int, min_val=1, allow_none=True) is None
    assert check_scalar(2, "threads", int, min_val=1, allow_none=True) == 2
    with pytest.raises(ValueError, match=_exact("The 'threads' parameter of MTCNN must be an int in [1, inf) or None. "
                                                "Got 0 instead.")):
        check_scalar(0, "threads", int, min_val=1, owner="MTCNN", allow_none=True)
    with pytest.raises(ValueError, match=_exact("The 'threads' parameter must be an int in [1, inf). Got None instead.")):
        check_scalar(None, "threads", int, min_val=1)


def test_check_option():
    assert check_option("min", "mode", ("union", "min")) == "min"
    with pytest.raises(ValueError, match=_exact("The 'policy' parameter must be one of 'central', 'largest', 'score'. "
                                                "Got 'big' instead.")):
        check_option("big", "policy", ("central", "largest", "score"))
    with pytest.raises(ValueError, match=_exact("The 'mode' parameter of nms must be one of 'union', 'min'. Got None instead.")):
        check_option(None, "mode", ["union", "min"], owner="nms")
    gen = (x for x in ("a", "b"))  # any iterable of options, read once
    assert check_option("b", "x", gen) == "b"


def test_check_unit_interval():
    assert check_unit_interval(0.5, "p") == 0.5
    for bad in (0.0, 1.0, 1.5, True):
        with pytest.raises(ValueError, match=re.escape("must be a float in (0, 1)")):
            check_unit_interval(bad, "p", owner="YuNet")
    assert check_unit_interval(0.0, "p", include="both") == 0.0


def test_check_floats():
    assert check_floats([0.5, 1, np.float32(0.25)], "t", 3, min_val=0.0, max_val=1.0) == (0.5, 1.0, 0.25)
    assert all(type(v) is float for v in check_floats((1, 2), "t", 2))
    assert check_floats(np.array([0.1, 0.2, 0.3]), "t", 3) == pytest.approx((0.1, 0.2, 0.3))  # arrays are sequences
    for bad in ((0.5, 0.5), (0.5,) * 4, "abc", b"abc", 0.5, None):  # wrong length / not a sequence
        with pytest.raises(ValueError, match=_exact(f"The 't' parameter of MTCNN must be a sequence of 3 floats. Got {bad!r} instead.")):
            check_floats(bad, "t", 3, owner="MTCNN")
    for bad in ((0.5, 0.5, 1.5), (0.5, "a", 0.5), (0.5, math.nan, 0.5), (0.5, True, 0.5), (0.5, 0.5)):
        with pytest.raises(ValueError, match=_exact(f"The 't' parameter of MTCNN must be a sequence of 3 floats in [0, 1]. "
                                                    f"Got {bad!r} instead.")):
            check_floats(bad, "t", 3, min_val=0.0, max_val=1.0, owner="MTCNN")
    with pytest.raises(ValueError, match=re.escape("must be a sequence of 2 floats in (0, inf). Got (1, 0) instead.")):
        check_floats((1, 0), "std", 2, min_val=0.0, include="neither")
    with pytest.raises(ValueError, match=re.escape("must be a sequence of 2 floats in (-inf, 1). Got (0, 1) instead.")):
        check_floats((0, 1), "x", 2, max_val=1.0, include="neither")


def test_check_type():
    assert check_type("cpu", "device", str) == "cpu"
    assert check_type(None, "root", (str, type(None))) is None
    with pytest.raises(ValueError, match=_exact("The 'augment' parameter of FaceFolder must be a bool. Got int 1 instead.")):
        check_type(1, "augment", bool, owner="FaceFolder", what="a bool")
    with pytest.raises(ValueError, match=_exact("The 'n' parameter must be an int. Got str '3' instead.")):
        check_type("3", "n", int)
    # Array-likes are named by type only (no huge repr in the message).
    with pytest.raises(ValueError, match=_exact("The 'module' parameter must be a torch.nn.Module. Got ndarray instead.")):
        check_type(np.zeros((1000, 1000)), "module", dict, what="a torch.nn.Module")


def test_infinity_is_refused_unless_a_bound_includes_it():
    import math

    from facenet.validation import check_scalar

    with pytest.raises(ValueError, match=r"must be a float in \[0, inf\). Got inf instead."):
        check_scalar(math.inf, "lr", float, min_val=0.0)
    assert check_scalar(math.inf, "t", float, min_val=0.0, max_val=math.inf) == math.inf
    with pytest.raises(ValueError):
        check_scalar(-math.inf, "t", float)


def test_numpy_scalars_read_as_plain_numbers_in_messages():
    import numpy as np

    from facenet.validation import check_scalar

    with pytest.raises(ValueError, match=r"Got nan instead."):
        check_scalar(np.float64("nan"), "x", float)
    assert check_scalar(np.int64(3), "k", int, min_val=1) == 3 and type(check_scalar(np.int64(3), "k", int)) is int


def test_check_ints_and_sequences_only():
    import numpy as np

    from facenet.validation import check_floats, check_ints

    assert check_ints((112, 96), "input_size", 2, min_val=8) == (112, 96)
    assert check_ints(np.array([4, 5]), "size", 2) == (4, 5)
    with pytest.raises(ValueError, match=r"The 'input_size' parameter of F must be a sequence of 2 ints in \[8, inf\). Got \(112,\) instead."):
        check_ints((112,), "input_size", 2, min_val=8, owner="F")
    with pytest.raises(ValueError, match="sequence of 2 ints"):
        check_ints((112, 7), "input_size", 2, min_val=8)
    with pytest.raises(ValueError, match="sequence of 2 floats"):
        check_floats({0.1, 0.2}, "t", 2)  # a set has no order
