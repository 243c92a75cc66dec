"""Where a tensor is, as far as autograd facts depend on it.

Moving a tensor to another device copies it: the copy is computed from the
tensor (not a leaf, so its `.grad` stays None), while `.to()` or `.cuda()` to the
device it is already on returns the tensor itself (torch's documentation of
`Tensor.to` and `Tensor.cuda`). A factory without `device=` (or with
`device="cpu"`) makes its tensor on the CPU, unless the file changes the default
device (`torch.set_default_device`). A move of such a tensor to a device named
by a literal other than the CPU (`.cuda()`, `.to("cuda")`,
`.to(torch.device("cuda:0"))`) then copies it, on every machine where it runs
(one without that device raises instead). A move to a device not known here
(`.to(device)`) may return the tensor itself and is not claimed (conversions.py
decides for each conversion).

`torch.device(...)`, `torch.cuda.is_available()` and the like are no tensors.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import keyword
from gradwatch.analysis.values import CONSTANT, Constant, Tensor

NOT_TENSORS = frozenset(
    {
        "torch.device",
        "torch.cuda.is_available",
        "torch.cuda.device_count",
        "torch.cuda.current_device",
        "torch.backends.mps.is_available",
    }
)


@dataclass(frozen=True)
class Device:
    """A `torch.device` of a literal name: no string (`torch.device("cpu") == "cpu"` is
    False, measured), so no condition folds on it."""

    name: str


def not_a_tensor(ev, qualname: str, node: ast.Call, state: State) -> Constant:
    """The value of one of NOT_TENSORS: `torch.device("cuda")` keeps its literal name."""
    ev.eval_arguments(node, state)
    if qualname == "torch.device" and node.args:
        name = _literal(node.args[0])
        if name is not None:
            return Constant(value=Device(name))
    return CONSTANT


def named(value) -> str | None:
    """The device a value names: a string (`"cuda:0"`) or a Device."""
    if isinstance(value, Constant):
        if isinstance(value.value, Device):
            return value.value.name
        if isinstance(value.value, str):
            return value.value
    return None


def made_on_cpu(ev, node: ast.Call) -> bool:
    """Whether the factory call `node` makes its tensor on the CPU."""
    if _changes_default_device(ev.source.text):
        return False
    device = keyword(node, "device")
    return device is None or _literal(device) == "cpu"


# Device types other than the CPU (`"cuda:0"` names one): any other string is no device.
_OTHER_DEVICES = frozenset({"cuda", "mps", "xpu", "meta", "hip", "hpu", "xla", "mtia", "ipu", "lazy"})


def moves_to_another_device(tensor: Tensor, device: str | None) -> bool:
    """Whether moving `tensor` to the device named `device` (a literal; None: not known)
    copies it to another device."""
    return tensor.on_cpu and device is not None and device.split(":")[0] in _OTHER_DEVICES


def device_keyword(node: ast.Call) -> str | None:
    """The literal `device=` of a call (`.to(device="cuda")`)."""
    device = keyword(node, "device")
    return _literal(device) if device is not None else None


@functools.lru_cache(maxsize=16)
def _changes_default_device(text: str) -> bool:
    """Once per file, not per factory call (a string keeps its hash)."""
    return "set_default_device" in text


def _literal(node: ast.expr) -> str | None:
    """`"cuda:0"`, or the literal name given to `torch.device(...)`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and node.args and getattr(node.func, "attr", getattr(node.func, "id", "")) == "device":
        return _literal(node.args[0])
    return None
