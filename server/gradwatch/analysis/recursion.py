"""Recursion down a module tree: `clone_module(child)` called from `clone_module(module)`.

A call of a function that is already running is not followed (calls.py), save
one kind: the call passes, where the running call had a module, one of that
module's submodules. Each such call goes one level down a finite tree of
modules, so it ends, as torch's own walks (`named_modules`, `apply`) do; the
depth bound and call budget still hold.
"""

from __future__ import annotations

import ast

from gradwatch.analysis import calls
from gradwatch.analysis.state import State
from gradwatch.analysis.values import Module

MAX_TREE_DEPTH = 8


def descend(ev, function: ast.FunctionDef, node: ast.Call, state: State):
    """The CallResult of a recursive call that goes down a module tree, or None when the
    call is not one (its arguments may have been evaluated: evaluating them again is harmless,
    events and identities are keyed by node)."""
    context = ev.calls
    if function not in context.running or not _could_enter(context):
        return None
    arguments = calls.Arguments.of(ev, node, state)
    innermost = next(
        args for running, args in zip(reversed(context.running), reversed(context.running_arguments))
        if running is function
    )
    if not any(
        isinstance(outer, Module) and isinstance(inner, Module) and _is_submodule(inner, outer)
        for outer, inner in zip(innermost.positional, arguments.positional)
    ):
        return None
    return calls.enter(ev, function, node, state, arguments)


def _could_enter(context) -> bool:
    return context.depth < calls.MAX_CALL_DEPTH and context.budget > 0


def _is_submodule(inner: Module, outer: Module, depth: int = 0) -> bool:
    """`inner` is held by `outer` (a child of a Sequential, a module attribute), at any depth."""
    if depth > MAX_TREE_DEPTH:
        return False
    for value in outer.held:
        if isinstance(value, Module) and (value == inner or _is_submodule(inner, value, depth + 1)):
            return True
    return False
