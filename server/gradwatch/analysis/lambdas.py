"""Lambdas as values: `Coupling(mask, lambda n_in, n_out: MLP(n_in, n_out))` hands a
function to a constructor that calls it later, as Python runs it.

A lambda is followed where it is called like a def of this file: its body runs with
the call's arguments (calls.py). Its free names are read when it runs, as Python
reads them; only a lambda whose free names all come from the module can be run
anywhere (a lambda that reads a local of the function that made it is a closure
whose cells the analysis does not keep: it stays unknown).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from gradwatch.analysis import calls
from gradwatch.analysis.state import State
from gradwatch.analysis.values import UNKNOWN_VALUE

_DEF = "_gradwatch_def"  # the def a lambda node stands for, made once per node


@dataclass(unsafe_hash=True)
class Lambda:
    """A lambda of this file: `function` is a def with its parameters that returns its body."""

    function: ast.FunctionDef


def value(ev, node: ast.Lambda, state: State):
    """The value of a lambda expression: a Lambda, or unknown for a closure over locals."""
    if ev.current_function is not None and _free_names(node) & _locals(state):
        return UNKNOWN_VALUE
    defaults = [d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]
    if not all(isinstance(d, ast.Constant) for d in defaults):
        return UNKNOWN_VALUE  # evaluated where the lambda is made, not where it is called
    function = getattr(node, _DEF, None)
    if function is None:
        function = ast.FunctionDef(
            name="<lambda>",
            args=node.args,
            body=[ast.copy_location(ast.Return(value=node.body), node.body)],
            decorator_list=[],
            returns=None,
            type_params=[],
        )
        ast.copy_location(function, node)
        setattr(node, _DEF, function)
    return Lambda(function)


def call(ev, callee: Lambda, node: ast.Call, state: State):
    """The value of calling a lambda at `node`, or None when the call is not followed."""
    if not calls.can_call(ev, callee.function):
        return None
    return calls.enter(ev, callee.function, node, state, calls.Arguments.of(ev, node, state)).value


def _locals(state: State) -> set[str]:
    return {key.split(".", 1)[0] for key in state.bindings}


def _free_names(node: ast.Lambda) -> set[str]:
    """Names the lambda's body reads that it does not bind itself (its parameters,
    its comprehensions' targets)."""
    arguments = node.args
    bound = {
        a.arg
        for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg)
        if a is not None
    }
    loaded, stored = set(), set()
    for child in ast.walk(node.body):
        if isinstance(child, ast.Name):
            (loaded if isinstance(child.ctx, ast.Load) else stored).add(child.id)
        elif isinstance(child, ast.Lambda):
            inner = child.args
            stored |= {a.arg for a in (*inner.posonlyargs, *inner.args, *inner.kwonlyargs) if a is not None}
    return loaded - bound - stored
