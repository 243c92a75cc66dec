"""`torch.tensor([a, b])` / `torch.as_tensor([a, b])` of a list that holds tensors.

torch reads each item as a Python number (`float(a)`): an item that requires grad
gives its value, not its graph (torch warns "Converting a tensor with
requires_grad=True to a scalar"; an item of more than one element raises). The
new tensor is a leaf, so no gradient flows back to those items.
"""

from __future__ import annotations

import ast

from gradwatch.analysis.events import TensorCall
from gradwatch.analysis.values import YES, Constant, Cut, Sequence, Tensor

# The TensorCall method of such a conversion (GW113).
OF_ITEMS = "torch.tensor of items"


def converted(ev, node: ast.Call, items: Sequence) -> tuple:
    """The cuts of the new tensor; reports (as a TensorCall) the first item that requires grad."""
    cuts: tuple = ()
    first = None
    sources: frozenset = frozenset()
    for value, item_node in _items(items, node.args[0]):
        if isinstance(value, Tensor) and value.requires_grad is YES and value.known:
            first = first or (value, item_node)
            sources |= value.sources
        elif isinstance(value, (Constant, Tensor)):
            cuts += tuple(cut for cut in value.cuts if cut not in cuts)
    if first is None:
        return cuts
    value, item_node = first
    ev.emit(node, TensorCall(ev.span(node), value, ev.text(item_node), OF_ITEMS, node))
    reason = f"`{ev.text(node)}` converts the tensors it holds to numbers, without their graph"
    return cuts + (Cut(ev.span(node), reason, kind="rewrap", sources=sources),)


def _items(items: Sequence, written: ast.AST):
    """(value, the expression to name it by) for every item of known position, nested
    lists included; an item written in the literal is named by its own text."""
    elements = written.elts if isinstance(written, (ast.List, ast.Tuple)) else None
    if elements is not None and len(elements) != len(items.items):
        elements = None
    for index, value in enumerate(items.items):
        item_node = elements[index] if elements is not None else written
        if isinstance(value, Sequence) and value.each is None:
            yield from _items(value, item_node)
        else:
            yield value, item_node
