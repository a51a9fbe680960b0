"""Model size and cost: parameter count and FLOPs / multiply-adds of a forward pass."""

from __future__ import annotations

import copy
from typing import Any

from facenet.validation import check_scalar, check_type


def count_parameters(module: Any) -> int:
    """Number of parameters (trainable or not, buffers such as BatchNorm running stats excluded)."""
    import torch

    check_type(module, "module", torch.nn.Module, owner="count_parameters", what="a torch.nn.Module")
    return int(sum(p.numel() for p in module.parameters()))


def count_flops(module: Any, input_size: tuple[int, int]) -> int:
    """FLOPs of one forward pass on a single (1, 3, H, W) input, ``input_size`` = (H, W).

    Counted with ``torch.utils.flop_counter.FlopCounterMode``, which counts the matrix products
    (convolutions, linear layers, matmuls) and counts one multiply-add as **2** FLOPs; pooling,
    normalisation and activations are not counted. The FaceNet paper's "FLOPS" column (1.6B for
    NN2) counts multiply-adds: use ``count_flops(...) // 2`` (see :func:`count_mult_adds`).
    The count runs in eval mode under ``torch.no_grad`` on a copy of the module on the "meta"
    device (shapes only, no arithmetic), falling back to the module itself (train/eval mode
    restored) when an operation has no meta implementation.
    """
    import torch

    check_type(module, "module", torch.nn.Module, owner="count_flops", what="a torch.nn.Module")
    input_size = _check_size(input_size)
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    try:  # shapes only: a copy on the meta device costs no arithmetic
        return _flops(copy.deepcopy(module).to("meta"), input_size, torch.device("meta"), dtype)
    except (NotImplementedError, RuntimeError):  # an op without a meta kernel: run it for real
        return _flops(module, input_size, device, dtype)


def _check_size(input_size: Any) -> tuple[int, int]:
    """(height, width), two ints >= 1 (facenet.validation has no integer-pair check)."""
    msg = (f"The 'input_size' parameter of count_flops must be a (height, width) pair of ints in [1, inf). "
           f"Got {input_size!r} instead.")
    if not isinstance(input_size, (tuple, list)) or len(input_size) != 2:
        raise ValueError(msg)
    try:
        h, w = (check_scalar(v, "input_size", int, min_val=1) for v in input_size)
        return h, w
    except ValueError:
        raise ValueError(msg) from None


def _flops(module: Any, input_size: tuple[int, int], device: Any, dtype: Any) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros((1, 3, *input_size), device=device, dtype=dtype)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(x)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops())


def count_mult_adds(module: Any, input_size: tuple[int, int]) -> int:
    """Multiply-adds of one forward pass at batch 1: ``count_flops(module, input_size) // 2``,
    the unit of the FaceNet paper's FLOPS column."""
    return count_flops(module, input_size) // 2
