"""Values that are never tensors: numbers, strings and numpy arrays built from them.

A `Constant` stands for such a value. Whatever is read from one (`arr[i]`,
`arr.shape`, `arr.astype(int)`, `text.split()`) is again never a tensor, as long
as no argument may be a tensor: a numpy ufunc given a tensor gives a tensor back
(`Tensor.__array_wrap__`), and an array of dtype `object` may hold tensors.
"""

from __future__ import annotations

import ast

from gradwatch.analysis.values import CONSTANT, UNKNOWN_VALUE, Constant, Imported, Mapping, Sequence

# Builtin types given as an argument (`arr.astype(int)`): never tensors themselves.
_BUILTIN_TYPES = frozenset("int float bool complex str".split())


def never_tensor(value) -> bool:
    """`value` is provably not a tensor, nor a container that may hold one."""
    if isinstance(value, Constant):
        return True
    if isinstance(value, Sequence):
        items = [*value.items, *([value.each] if value.each is not None else [])]
        return all(never_tensor(item) for item in items)
    if isinstance(value, Mapping):
        return value.complete and all(never_tensor(item) for _, item in value.entries)
    # `np.float32`, `np.random`: numpy's own names are types and functions, not tensors.
    return isinstance(value, Imported) and value.qualname.split(".", 1)[0] == "numpy"


def evaluate_arguments(ev, node: ast.Call, state) -> tuple[list, bool]:
    """The call's positional argument values (as `eval_arguments` gives them), and whether
    none of its arguments may be a tensor and none asks for an array of Python objects
    (`dtype=object`)."""
    values = []
    plain = True
    for argument in node.args:
        value = ev.eval(argument.value if isinstance(argument, ast.Starred) else argument, state)
        plain = plain and _plain_argument(argument, value, state)
        values.append(UNKNOWN_VALUE if isinstance(argument, ast.Starred) else value)
    for keyword in node.keywords:
        value = ev.eval(keyword.value, state)
        plain = plain and _plain_argument(keyword.value, value, state) and not _object_dtype(keyword)
    return values, plain


def method_call(ev, node: ast.Call, state):
    """`arr.astype(int)`, `arr.copy()`, `name.split()`: a method of a value that is never a tensor."""
    _, plain = evaluate_arguments(ev, node, state)
    return CONSTANT if plain else UNKNOWN_VALUE


def _plain_argument(node: ast.AST, value, state) -> bool:
    if never_tensor(value):
        return True
    return (
        isinstance(node, ast.Name)
        and node.id in _BUILTIN_TYPES
        and node.id not in state.bindings
        and node.id not in state.outer
    )


def _object_dtype(keyword: ast.keyword) -> bool:
    if keyword.arg != "dtype":
        return False
    value = keyword.value
    if isinstance(value, ast.Constant):
        return value.value in ("O", "object")
    name = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else ""
    return name in ("object", "object_")
