"""Python's own functions: which calls give numbers, and what iterating helpers yield.

A number is never a tensor operand: `x / math.sqrt(d)`, `t[len(t) - 1]` and
`for i in range(n): t[i]` involve one tensor only. Only names that the file
does not bind itself are taken as the builtins.
"""

from __future__ import annotations

import ast

from gradwatch.analysis import module_dicts
from gradwatch.analysis.values import (
    CONSTANT,
    NO,
    UNKNOWN_VALUE,
    Constant,
    Imported,
    Mapping,
    Module,
    ModuleClass,
    Sequence,
    Tensor,
)

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
        args = ev.eval_arguments(node, state)
        return _range(args, node)
    if name in ("enumerate", "zip"):
        args = ev.eval_arguments(node, state)
        elements = [element_of(a) for a in args]
        if name == "enumerate":
            elements = [CONSTANT, *elements[:1]]
        return Sequence((), each=Sequence(tuple(elements)))
    if name == "dict" and not node.args and all(kw.arg is not None for kw in node.keywords):
        # `dict(alpha=10.0, beta=0.2)` is the dict literal `{"alpha": 10.0, "beta": 0.2}`.
        return Mapping(tuple((kw.arg, ev.eval(kw.value, state)) for kw in node.keywords))
    if name in ("list", "tuple") and len(node.args) == 1 and not node.keywords:
        value = ev.eval(node.args[0], state)
        return value if isinstance(value, Sequence) else UNKNOWN_VALUE
    if name == "type" and len(node.args) == 1 and not node.keywords:
        cls = module_dicts.class_of(ev.eval(node.args[0], state))  # `type(module)`: its class
        if cls is not None:
            return cls
    if name in NUMBER_BUILTINS:
        args = ev.eval_arguments(node, state)
        if name == "sum" and args and not any(isinstance(a, ast.Starred) for a in node.args):
            total = _sum(ev, args, node, state)
            if total is not None:
                return total
        if name in NUMERIC_ON_NUMBERS and not all(isinstance(a, Constant) for a in args):
            return UNKNOWN_VALUE
        if name == "len" and len(args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Starred):
            return Constant(value=_length(args[0]))
        return CONSTANT
    return None


def _range(args: list, node: ast.Call) -> Sequence:
    """`range(...)`: numbers. With known int bounds and at most one number, the numbers
    themselves (a loop over it then runs at most once: loops.py); else numbers of
    unknown count."""
    bounds = [a.value for a in args if isinstance(a, Constant) and type(a.value) is int]
    plain = not node.keywords and not any(isinstance(a, ast.Starred) for a in node.args)
    if plain and 1 <= len(args) <= 3 and len(bounds) == len(args) and (len(bounds) < 3 or bounds[2] != 0):
        numbers = range(*bounds)
        if len(numbers) <= 1:
            return Sequence(tuple(Constant(value=number) for number in numbers))
    return Sequence((), each=CONSTANT)


def _length(value) -> int | None:
    """`len(value)` when known: a literal string, a tuple or list of known items, a tensor's first size."""
    if isinstance(value, Constant) and isinstance(value.value, (str, bytes, tuple)):
        return len(value.value)
    if isinstance(value, Sequence) and value.each is None:
        return len(value.items)
    if isinstance(value, Tensor) and value.shape and type(value.shape[0]) is int:
        return value.shape[0]
    return None


def _sum(ev, args: list, node: ast.Call, state):
    """`sum(items, start)` of a list or tuple of known length that holds tensors: Python
    adds them one by one (`start + items[0] + items[1] ...`), each `+` a tensor add."""
    items = args[0]
    if not isinstance(items, Sequence) or items.each is not None or len(args) > 2:
        return None
    if not any(isinstance(item, Tensor) for item in items.items):
        return None
    if any(k.arg != "start" or not isinstance(k.value, (ast.Constant, ast.Name)) for k in node.keywords):
        return None  # (evaluated once already: only a value read again without effects)
    start = next((ev.eval(k.value, state) for k in node.keywords), None)
    total = args[1] if len(args) > 1 else start if start is not None else CONSTANT
    for index, item in enumerate(items.items):
        if isinstance(total, Tensor):
            total = ev.apply_op("torch.Tensor.__add__", [total, item], node, state, part=("sum", index))
        elif isinstance(item, Tensor) and isinstance(total, Constant):
            total = ev.apply_op("torch.Tensor.__radd__", [item, total], node, state, part=("sum", index))
        else:
            return UNKNOWN_VALUE
    return total


def math_call(ev, qualname: str, node: ast.Call, state):
    """`math.sqrt(d)`, `math.log(2)`: numbers."""
    ev.eval_arguments(node, state)
    return CONSTANT


def ordered_dict(ev, node: ast.Call, state):
    """`OrderedDict()`, `OrderedDict([("conv", conv), ("relu", relu)])`: a dict of those keys, in order."""
    args = ev.eval_arguments(node, state)
    if not node.args and not node.keywords:
        return Mapping(())
    plain = len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Starred)
    pairs = args[0] if plain else None
    if not isinstance(pairs, Sequence) or pairs.each is not None:
        return UNKNOWN_VALUE
    mapping = Mapping(())
    for pair in pairs.items:
        if not isinstance(pair, Sequence) or pair.each is not None or len(pair.items) != 2:
            return UNKNOWN_VALUE
        key, value = pair.items
        if not isinstance(key, Constant) or not isinstance(key.value, (str, int)):
            return UNKNOWN_VALUE
        mapping = mapping.with_entry(key.value, value)  # a key given twice keeps its first place
    return mapping


NAMESPACES = frozenset({"types.SimpleNamespace", "argparse.Namespace"})
# A plain class without methods: an instance is its attributes.
_NAMESPACE_CLASS = ModuleClass("SimpleNamespace", is_module=False)


def namespace(ev, qualname: str, node: ast.Call, state):
    """`SimpleNamespace(fix_encoder=True, lr=1e-4)`: an object with those attributes (a
    script's stand-in for parsed options), so `opt.fix_encoder` is known."""
    if node.args or any(kw.arg is None for kw in node.keywords):
        ev.eval_arguments(node, state)
        return UNKNOWN_VALUE
    attributes = tuple((kw.arg, ev.eval(kw.value, state)) for kw in node.keywords)
    built_at = ev.reason(node, f"`{ev.text(node)}`")
    return Module(qualname, has_parameters=NO, user_class=_NAMESPACE_CLASS, built_at=built_at, attributes=attributes)


def is_math(value) -> bool:
    return isinstance(value, Imported) and value.qualname.startswith("math.")


def element_of(value):
    """What iterating over `value` yields."""
    if isinstance(value, Sequence):
        return value.any_item()
    return UNKNOWN_VALUE

