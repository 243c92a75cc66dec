"""Classes that are records of their fields: a `typing.NamedTuple` subclass and a
`@dataclass`. Calling one binds the call's arguments to the fields, in the order the
class body annotates them (`LIFState(z=z, v=v, i=i)`, `Outputs(logits, loss)`), so
that `state.v` is the tensor that was passed: a hazard carried in a record (a
recurrent cell's state handed from one step to the next) is followed through it.

A class is taken as a record only when nothing else decides its fields: no
`__init__`, `__new__` or `__post_init__` of its own, no base other than
`NamedTuple` (and `Generic`), and nothing that makes a field keyword-only, not an
argument, or an argument only (`KW_ONLY`, `InitVar`, `field(init=False)`,
`kw_only=`, `init=False`); a `ClassVar` is no field. A field the call does not
pass (a default, `**kwargs`) stays unknown.
"""

from __future__ import annotations

import ast

from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import dotted
from gradwatch.analysis.values import Imported

_NAMED_TUPLES = ("typing.NamedTuple", "typing_extensions.NamedTuple")
_DATACLASS = "dataclasses.dataclass"
_ALLOWED_BASES = (*_NAMED_TUPLES, "typing.Generic", "typing_extensions.Generic")
_OWN_CONSTRUCTION = ("__init__", "__new__", "__post_init__")
# An annotation that is an argument of the constructor but not a field, or makes the fields
# after it keyword-only.
_NOT_PLAIN_FIELDS = ("InitVar", "KW_ONLY")


def record_fields(interpreter, node: ast.ClassDef, bases: list) -> tuple[str, ...] | None:
    """The fields of `node` in the order its constructor takes them; None when it is not a
    record class (see the module docstring)."""
    named_tuple = any(_qualname(base) in _NAMED_TUPLES for base in bases)
    if not named_tuple and not _is_plain_dataclass(interpreter, node):
        return None
    if any(_qualname(base) not in _ALLOWED_BASES for base in bases):
        return None
    if any(isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in _OWN_CONSTRUCTION for item in node.body):
        return None
    fields = []
    for item in node.body:
        if not isinstance(item, ast.AnnAssign):
            continue
        if _names_any(item.annotation, ("ClassVar",)):
            continue  # a class attribute, not a field
        if not isinstance(item.target, ast.Name) or _names_any(item.annotation, _NOT_PLAIN_FIELDS):
            return None
        if isinstance(item.value, ast.Call) and any(k.arg in ("init", "kw_only") for k in item.value.keywords):
            return None  # `field(init=False)`, `field(kw_only=True)`
        fields.append(item.target.id)
    return tuple(fields)


def field_values(fields: tuple[str, ...], arguments) -> tuple[tuple[str, object], ...]:
    """(field, value) for each field the call passes: by position, then by keyword."""
    passed = dict(zip(fields, arguments.positional))  # after a `*args`, positions are not known
    passed.update((name, value) for name, value in arguments.keywords if name in fields)
    return tuple((name, passed[name]) for name in fields if name in passed)


def _is_plain_dataclass(interpreter, node: ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        value = interpreter.eval(call.func if call else decorator, State(outer=interpreter.globals))
        if _qualname(value) == _DATACLASS:
            return call is None or not any(k.arg in ("init", "kw_only") or k.arg is None for k in call.keywords)
    return False


def _qualname(value) -> str | None:
    return value.qualname if isinstance(value, Imported) else None


def _names_any(annotation: ast.expr, names: tuple[str, ...]) -> bool:
    """Whether the annotation is, or is subscripted from, one of `names` (`ClassVar[int]`,
    `dataclasses.InitVar[int]`, also written as a string)."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return any(name in annotation.value for name in names)
    head = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    path = dotted(head)
    return path is not None and path.rsplit(".", 1)[-1] in names
