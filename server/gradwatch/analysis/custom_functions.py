"""A `torch.autograd.Function` subclass of this file, called through `apply`.

`SuperSpike.apply(v, 100.0)` records one node in the graph of its tensor
arguments (none when grad mode is off or no argument requires grad: measured),
so what is computed from its result keeps their history. When its `forward` (or
`setup_context`) calls `ctx.save_for_backward(...)`, a backward frees what the
node kept, and a second backward through it raises "Trying to backward through
the graph a second time"; a node that keeps only Python values (`ctx.alpha =
alpha`) can be backpropagated again (measured). Which tensors it saved is not
claimed (its `backward` decides what it reads), so no in-place write is blamed on
it. A function whose `forward` returns anything but one expression (a tuple),
or marks an input dirty (an in-place function), gives an unknown value.
"""

from __future__ import annotations

import ast

from gradwatch.analysis.state import State
from gradwatch.analysis.tensor_ops import merged_reasons, no_grad_cut
from gradwatch.analysis.values import (
    NO,
    UNKNOWN,
    UNKNOWN_TENSOR,
    UNKNOWN_VALUE,
    YES,
    Constant,
    CustomFunction,
    SavedOp,
    Tensor,
    TorchRef,
    Tri,
    merged_uncertain,
    union_deps,
)

_FUNCTION_BASES = ("torch.autograd.Function", "torch.autograd.function.Function")


def function_class(node: ast.ClassDef, bases: list) -> CustomFunction | None:
    """The CustomFunction of a class deriving `torch.autograd.Function`; None for another."""
    if not any(isinstance(base, TorchRef) and base.qualname in _FUNCTION_BASES for base in bases):
        return None
    methods = {item.name: item for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
    forward = methods.get("forward")
    calls = [
        inner
        for method in (forward, methods.get("setup_context"))
        if method is not None
        for inner in ast.walk(method)
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute)
    ]
    saves = any(call.func.attr == "save_for_backward" and call.args for call in calls)
    in_place = any(call.func.attr == "mark_dirty" for call in calls)
    returns = [inner for inner in ast.walk(forward) if isinstance(inner, ast.Return)] if forward is not None else []
    one_value = bool(returns) and all(r.value is not None and not isinstance(r.value, ast.Tuple) for r in returns)
    return CustomFunction(node.name, saves=saves, one_tensor=one_value and not in_place)


def apply(ev, function: CustomFunction, node: ast.Call, state: State):
    """The value of `function.apply(...)` at `node`."""
    positional, keywords = ev.eval_arguments_and_keywords(node, state)
    if not function.one_tensor:
        return UNKNOWN_VALUE
    operands = [
        value if isinstance(value, Tensor) else UNKNOWN_TENSOR
        for value in (*positional, *keywords)
        if not isinstance(value, (Constant, TorchRef))
    ]
    upstream = Tri.any_of([t.requires_grad for t in operands])
    sources = frozenset().union(*(t.sources for t in operands))
    cuts = merged_reasons(t.cuts for t in operands)
    if state.grad_enabled is NO:
        requires = NO
        if upstream is not NO:
            cuts = cuts + (no_grad_cut(ev, node, state, sources),)
    else:
        requires = upstream if state.grad_enabled is YES else (NO if upstream is NO else UNKNOWN)
    storage = ev.storage_for(node)
    in_graph = requires is not NO
    history = frozenset().union(*(t.history for t in operands)) if in_graph else frozenset()
    if requires is YES and function.saves:
        kept = SavedOp(function.name, ev.span(node), ev.text(node), frozenset(), "what `ctx.save_for_backward` kept", result=storage)
        history = history | {kept}
        state.clobbered.pop(kept, None)  # a fresh application (the next iteration) keeps fresh tensors
        state.freed.pop(kept, None)
    return Tensor(
        requires_grad=requires,
        is_leaf=NO if requires is YES else (YES if requires is NO else UNKNOWN),
        storage=storage,
        history=history,
        uncertain=merged_uncertain(operands) if in_graph else frozenset(),
        sources=sources if in_graph else frozenset(),
        cuts=cuts,
        zero_grads=merged_reasons(t.zero_grads for t in operands) if in_graph else (),
        deps=union_deps((*(t.deps for t in operands), {storage})),
        origin=ev.reason(node, f"`{ev.text(node)}`"),
        multi_element=UNKNOWN,
        known=all(t.known for t in operands),
        never_none=True,
    )
