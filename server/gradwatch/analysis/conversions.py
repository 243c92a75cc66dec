"""When a conversion of a leaf (`.to()`, `.type()`, `.cuda()`) makes a copy.

They return the tensor itself when it already has the dtype and device asked
for, and otherwise a copy computed from it (not a leaf: its `.grad` stays None;
measured for dtypes). A copy is claimed only where what the call asks for
provably differs from what the tensor has:
- a float dtype other than the default float32 (`torch.float64`, `torch.half`),
  unless the tensor was made with it (`Tensor.dtype`);
- a legacy tensor type (`torch.DoubleTensor`, `torch.cuda.FloatTensor`): its
  dtype as above, and for `torch.cuda.*` a GPU;
- a device other than the CPU, for a tensor made there (devices.py).
A choice of such types (`torch.cuda.FloatTensor if torch.cuda.is_available()
else torch.DoubleTensor`, a TorchChoice) copies when each of them does.
"""

from __future__ import annotations

import ast

from gradwatch.analysis import devices
from gradwatch.analysis.syntax import canonical_dtype, legacy_tensor_type
from gradwatch.analysis.values import Tensor, torch_options

_COPYING_DTYPES = frozenset({"torch.float64", "torch.float16", "torch.bfloat16"})

def copies(name: str, tensor: Tensor, args: list, node: ast.Call) -> bool:
    """Whether `tensor.<name>(*args)` provably makes a copy of `tensor`."""
    if name == "cuda":
        return devices.moves_to_another_device(tensor, "cuda")
    if name not in ("to", "type"):
        return False
    if devices.moves_to_another_device(tensor, devices.device_keyword(node)):
        return True
    for value in args:
        name = devices.named(value)
        if name is not None and (devices.moves_to_another_device(tensor, name) or _object_copies(tensor, name)):
            return True
        options = torch_options(value)
        if options and all(_object_copies(tensor, option) for option in options):
            return True
    return False


def _object_copies(tensor: Tensor, qualname: str) -> bool:
    """Whether converting `tensor` to the dtype or tensor type `qualname` copies it."""
    dtype = canonical_dtype(qualname)
    if dtype in _COPYING_DTYPES:
        return dtype != tensor.dtype
    legacy = legacy_tensor_type(qualname)
    if legacy is None:
        return False
    dtype, on_gpu = legacy
    return (on_gpu and devices.moves_to_another_device(tensor, "cuda")) or (dtype in _COPYING_DTYPES and dtype != tensor.dtype)
