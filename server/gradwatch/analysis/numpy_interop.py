"""numpy given tensors: which calls convert a tensor that requires grad to an array.

numpy converts its arguments with `Tensor.__array__`, which calls `.numpy()` and so
raises for a tensor that requires grad. A list or tuple of tensors is always
converted item by item, whatever the function. A tensor given directly is
converted by the array constructors and joins below; numpy's reductions
(`np.sum(t)`, `np.mean(t)`) call the tensor's own method instead, which raises
something else (a TypeError about `axis`), so they are left alone. Measured on
torch 2.13 with numpy 2.
"""

from __future__ import annotations

import ast

from gradwatch.analysis import plain_values
from gradwatch.analysis.events import TensorCall
from gradwatch.analysis.values import CONSTANT, UNKNOWN_VALUE, YES, Sequence, Tensor

CONVERTS_A_TENSOR = frozenset(
    "array asarray asanyarray ascontiguousarray concatenate stack vstack hstack column_stack".split()
)


def numpy_call(ev, qualname: str, node: ast.Call, state):
    """`np.<name>(...)`: reports the first argument numpy would call `.numpy()` on. Given
    no tensor, numpy gives no tensor (an array or a number: plain_values.py)."""
    args, plain = plain_values.evaluate_arguments(ev, node, state)
    name = qualname.rsplit(".", 1)[-1]
    for value, argument in zip(args, node.args):
        tensor = _converted(value, name)
        if tensor is not None:
            ev.emit(node, TensorCall(ev.span(node), tensor, ev.text(argument), qualname, node))
            break
    return CONSTANT if plain else UNKNOWN_VALUE


def _converted(value, name: str) -> Tensor | None:
    if isinstance(value, Sequence):
        items = (*value.items, *([value.each] if value.each is not None else []))
        return next((item for item in items if _requires_grad(item)), None)
    if name in CONVERTS_A_TENSOR and _requires_grad(value):
        return value
    return None


def _requires_grad(value) -> bool:
    return isinstance(value, Tensor) and value.known and value.requires_grad is YES
