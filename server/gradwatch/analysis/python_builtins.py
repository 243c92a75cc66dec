"""Python's own functions: which calls give numbers, and what iterating helpers yield.

A number is never a tensor operand: `x / math.sqrt(d)`, `t[len(t) - 1]` and
`for i in range(n): t[i]` involve one tensor only. Only names that the file
does not bind itself are taken as the builtins.
"""

from __future__ import annotations

import ast

from gradwatch.analysis.values import CONSTANT, UNKNOWN_VALUE, Constant, Imported, Sequence

NUMBER_BUILTINS = frozenset("len int float bool round abs min max sum pow hash ord id".split())
# These give a tensor when given one: a number only from numbers.
NUMERIC_ON_NUMBERS = frozenset("round abs min max sum pow".split())


def builtin_name(func: ast.AST, state) -> str | None:
    """The builtin a call names, unless the file rebinds that name."""
    if isinstance(func, ast.Name) and func.id not in state.bindings and func.id not in state.outer:
        return func.id
    return None


def call(ev, name: str, node: ast.Call, state):
    """The value of a builtin call, or None when it is not one of those known here."""
    if name == "range":
        ev.eval_arguments(node, state)
        return Sequence((), each=CONSTANT)
    if name in ("enumerate", "zip"):
        args = ev.eval_arguments(node, state)
        elements = [element_of(a) for a in args]
        if name == "enumerate":
            elements = [CONSTANT, *elements[:1]]
        return Sequence((), each=Sequence(tuple(elements)))
    if name in ("list", "tuple") and len(node.args) == 1 and not node.keywords:
        value = ev.eval(node.args[0], state)
        return value if isinstance(value, Sequence) else UNKNOWN_VALUE
    if name in NUMBER_BUILTINS:
        args = ev.eval_arguments(node, state)
        if name in NUMERIC_ON_NUMBERS and not all(isinstance(a, Constant) for a in args):
            return UNKNOWN_VALUE
        return CONSTANT
    return None


def math_call(ev, qualname: str, node: ast.Call, state):
    """`math.sqrt(d)`, `math.log(2)`: numbers."""
    ev.eval_arguments(node, state)
    return CONSTANT


def is_math(value) -> bool:
    return isinstance(value, Imported) and value.qualname.startswith("math.")


def element_of(value):
    """What iterating over `value` yields."""
    if isinstance(value, Sequence):
        return value.any_item()
    return UNKNOWN_VALUE

