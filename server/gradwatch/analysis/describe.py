"""One-line descriptions of a tensor's inferred autograd state, for hover."""

from __future__ import annotations

import ast

from gradwatch.analysis.values import NO, YES, Tensor
from gradwatch.findings import NameState
from gradwatch.source import SourceText

MAX_LISTED_OPS = 3


def shape_text(shape: tuple) -> str:
    """`(8, ?, 16)`: the sizes, `?` where one is not known, a symbol by its name (`(batch, 3)`)."""
    return "(" + ", ".join("?" if size is None else str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def name_state(source: SourceText, node, name: str, tensor: Tensor, saved_by) -> NameState:
    bound = isinstance(getattr(node, "ctx", None), ast.Store)
    return NameState(source.span(node), name, f"`{name}`: {describe(tensor, saved_by)}", tensor.shape, bound)


def describe(tensor: Tensor, saved_by=()) -> str:
    grad = {YES: "requires grad", NO: "does not require grad"}.get(tensor.requires_grad, "may require grad")
    parts = ["Tensor" if tensor.shape is None else f"Tensor of shape {shape_text(tensor.shape)}", grad]
    if tensor.is_leaf is YES:
        parts.append("a leaf")
    elif tensor.is_leaf is NO:
        parts.append("not a leaf")
    if len(saved_by) > MAX_LISTED_OPS:
        # Listing them would cost every mention of a much-used tensor (a weight) a sort.
        parts.append(f"saved for backward by {len(saved_by)} ops")
    else:
        for op in sorted(saved_by, key=lambda op: op.span):
            parts.append(f"saved for backward by `{op.op}` (line {op.span.line})")
    if tensor.requires_grad is NO and tensor.cuts:
        cut = tensor.cuts[-1]
        parts.append(f"cut from the graph at line {cut.span.line}")
    return ", ".join(parts)
