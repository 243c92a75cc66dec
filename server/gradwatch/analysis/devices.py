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
(`.to(device)`) may return the tensor itself and is not claimed.

`torch.device(...)`, `torch.cuda.is_available()` and the like are no tensors.
"""

from __future__ import annotations

import ast

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


def not_a_tensor(ev, qualname: str, node: ast.Call, state: State) -> Constant:
    """The value of one of NOT_TENSORS: `torch.device("cuda")` keeps its literal name."""
    ev.eval_arguments(node, state)
    if qualname == "torch.device" and node.args:
        name = _literal(node.args[0])
        if name is not None:
            return Constant(value=name)
    return CONSTANT


def made_on_cpu(ev, node: ast.Call) -> bool:
    """Whether the factory call `node` makes its tensor on the CPU."""
    if "set_default_device" in ev.source.text:
        return False
    device = keyword(node, "device")
    return device is None or _literal(device) == "cpu"


def moved_away(name: str, tensor: Tensor, args: list, node: ast.Call) -> bool:
    """Whether `tensor.<name>(*args)` (`cuda`, `to`) moves a tensor made on the CPU to another
    device: a copy."""
    if not tensor.on_cpu:
        return False
    if name == "cuda":
        return True
    if name != "to":
        return False
    named = [a.value for a in args if isinstance(a, Constant) and isinstance(a.value, str)]
    device = keyword(node, "device")
    if device is not None:
        named.append(_literal(device))
    return any(each is not None and each.split(":")[0] != "cpu" for each in named)


def _literal(node: ast.expr) -> str | None:
    """`"cuda:0"`, or the literal name given to `torch.device(...)`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and node.args and getattr(node.func, "attr", getattr(node.func, "id", "")) == "device":
        return _literal(node.args[0])
    return None
