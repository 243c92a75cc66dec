"""Summaries of functions: what a call does to autograd state, computed from the function's body.

A function is run with each argument a tensor that requires grad. If every value it
returns has no graph (it detaches, calls `.item()`, computes under `torch.no_grad()`),
callers get a value without a graph, and the cut cites the line in the function. If it
modifies an argument in place, callers see that in-place change on what they passed.
Used for functions of the same file and (through jedi) of the project's other files.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace

from gradwatch.analysis.values import (
    NO,
    UNKNOWN_VALUE,
    YES,
    Constant,
    GradSource,
    Reason,
    Tensor,
    new_storage,
)


@dataclass(unsafe_hash=True)
class FunctionSummary:
    name: str
    path: str
    # Cuts that every returned value carries when the function returns a value without a graph.
    returns_cut: tuple = ()
    returns_number: bool = False  # the value returned is a Python number (`.item()`)
    # Argument index -> (the in-place op's name, e.g. "sub_", and where it happens).
    mutates: tuple[tuple[int, str, Reason], ...] = ()
    # A plain method: argument 0 is `self`, which a call through an instance passes itself.
    binds_self: bool = False


def apply_summary(ev, summary: FunctionSummary, node: ast.Call, state, bound: int = 0):
    """What the caller sees of a call: the arguments it modifies in place, and a value without a
    graph when the function returns one. `bound`: how many leading parameters the call does not
    pass (1 for `self` in a method called on an instance)."""
    args = ev.eval_arguments(node, state)
    for parameter, method, where in summary.mutates:
        index = parameter - bound
        if 0 <= index < len(args) and isinstance(args[index], Tensor):
            ev.inplace(
                args[index],
                node.args[index],
                "call",
                node,
                state,
                [],
                f"torch.Tensor.{method.rstrip('_')}",
                elsewhere=where,
            )
    if not summary.returns_cut:
        return UNKNOWN_VALUE
    sources = frozenset().union(*(a.sources for a in args if isinstance(a, Tensor)))
    cuts = tuple(replace(cut, sources=sources) for cut in summary.returns_cut)
    if summary.returns_number:
        return Constant(cuts=cuts)
    return Tensor(
        requires_grad=NO,
        is_leaf=YES,
        storage=ev.storage_for(node),
        cuts=cuts,
        origin=ev.reason(node, f"`{ev.text(node)}`"),
    )


def function_summary(interpreter, node: ast.FunctionDef, path: str, method: bool = False) -> FunctionSummary:
    """`method`: the function is defined in a class body (its first parameter is `self`
    unless it is a static or class method)."""
    state = interpreter.function_entry_state(node, None)
    parameters = node.args.posonlyargs + node.args.args
    if any(isinstance(d, ast.Name) and d.id == "classmethod" for d in node.decorator_list):
        parameters = parameters[1:]  # `cls` is no argument of the call: `Model.build(x)` passes x first
    storages = {}
    for index, arg in enumerate(parameters):
        storage = new_storage()
        storages[storage] = index
        source = GradSource(f"argument `{arg.arg}`", interpreter.source.span(arg))
        state.bind(arg.arg, Tensor(requires_grad=YES, is_leaf=NO, storage=storage, sources=frozenset([source])))
    interpreter.current_function = node
    interpreter.exec_block(node.body, state)
    mutates = []
    for event in interpreter.events.values():
        index = storages.get(getattr(getattr(event, "target", None), "storage", None))
        if index is not None and type(event).__name__ == "InPlace" and not event.through_data:
            method = event.spelling if event.spelling.endswith("_") else "add_"
            mutates.append((index, method, Reason(event.span, f"`{event.target_text}` is modified in place", path)))
    returns_cut: tuple = ()
    number = False
    values = [value for value, _ in interpreter.returned]
    if values and all(_without_graph(v) for v in values):
        returns_cut = tuple(replace(cut, path=path) for cut in values[0].cuts)
        number = isinstance(values[0], Constant)
    decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
    binds_self = method and not decorators & {"staticmethod", "classmethod"}
    return FunctionSummary(node.name, path, returns_cut, number, tuple(mutates), binds_self)


def _without_graph(value) -> bool:
    """Returned without a graph although the arguments required grad, and we can say why."""
    if isinstance(value, Tensor):
        return value.known and value.requires_grad is NO and bool(value.cuts)
    return isinstance(value, Constant) and bool(value.cuts)
