"""Ops that torch rejects for their operands' shapes, as far as shapes.py proves them.

Where shapes.py gives a call no result shape, this looks for the reason torch
would raise: the inner dimensions of a product that differ (`a @ b`, `mm`,
`bmm`, `mv`, `addmm`, `F.linear`, `nn.Linear`), two operands of an
elementwise op whose sizes cannot broadcast, a `view`/`reshape` to literal
sizes of another element count. A problem is claimed only when the sizes that
disagree are known ints; torch's message is quoted exactly when every size it
names is known (else its first words). The messages were measured on torch
(the GW4xx rules' examples check them).
"""

from __future__ import annotations

import ast
import math

from gradwatch.analysis import shapes
from gradwatch.analysis.events import ShapeError
from gradwatch.analysis.values import Tensor

MAT_MUL = "mat1 and mat2 shapes cannot be multiplied"
BATCH_MUL = "Expected size for first two dimensions of batch2 tensor to be"
VECTOR_MUL = "size mismatch, got input"
DOT = "inconsistent tensor size, expected tensor"
BROADCAST = "The size of tensor a"
RESHAPE = "is invalid for input of size"

# Elementwise ops of two tensors that broadcast them (in-place forms too: `add_`, `+=`).
_ELEMENTWISE = {
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "remainder",
    "fmod", "pow", "float_power", "atan2", "arctan2", "hypot", "maximum", "minimum", "fmax", "fmin", "copysign",
    "xlogy", "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal",
    "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
    "__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__", "__and__", "__or__",
    "__xor__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__", "__iand__",
    "__ior__", "__ixor__",
}  # fmt: skip
_NAMESPACES = {"torch", "torch.Tensor"}


def check(ev, info, operands: list, node: ast.AST, module=None, part: tuple = (), shape=None) -> None:
    """Record a ShapeError when `info` applied to `operands` provably raises for their shapes
    (`shape`: the result's, when shapes.py proved one; it sizes a module's output without
    checking the input). In a loop, only the body's last, most general run counts: an error
    an earlier run showed is dropped when this one does not show it."""
    found = _problem(info, operands, node, module) if shape is None or module is not None else None
    if found is None:
        ev.retract(node, ShapeError, part)
        return
    kind, error, exact, detail, tensors = found
    if module is not None:
        op = f"`{module.built_at.text.strip('`')}`" if module.built_at is not None else f"`{ev.text(node)}`"
    else:
        op = f"`{ev.text(node)}`"
    ev.emit(
        node,
        ShapeError(
            span=ev.span(node),
            node=node,
            kind=kind,
            op=op,
            error=error,
            exact=exact,
            detail=detail,
            shapes=tuple(t.shape for t in tensors),
            origins=tuple(t.origin for t in tensors),
            chain=ev.calls.sites,
            layer=module is not None,
        ),
        part,
    )


def _problem(info, operands: list, node: ast.AST, module):
    """(kind, torch's message, whether exact, which sizes disagree, the tensors torch names) or None."""
    if isinstance(node, ast.Call) and any(k.arg is None or k.arg == "out" for k in node.keywords):
        return None
    namespace, _, name = info.name.rpartition(".")
    if module is not None:
        return _linear_module(module, operands) if module.kind == "torch.nn.Linear" else None
    if namespace == "torch.nn.functional" and name == "linear":
        return _linear(operands)
    if namespace not in _NAMESPACES:
        return None
    if name in ("matmul", "__matmul__", "mm", "bmm", "mv", "addmm"):
        return _product(name, operands)
    if name.rstrip("_") in _ELEMENTWISE or name in _ELEMENTWISE:
        return _broadcast(operands, node)
    if name in ("view", "reshape"):
        return _reshape(operands, node)
    return None


def _shaped(operands: list, count: int) -> list[Tensor] | None:
    """The operands, when they are exactly `count` tensors of known rank."""
    if len(operands) != count or not all(isinstance(o, Tensor) and o.shape is not None for o in operands):
        return None
    return operands


def _known(*sizes) -> bool:
    return all(type(size) is int for size in sizes)


def _product(name: str, operands: list):
    if name == "addmm":
        tensors = _shaped(operands, 3)
        if tensors is None:
            return None
        tensors = tensors[1:]
    else:
        tensors = _shaped(operands, 2)
    if tensors is None:
        return None
    a, b = (t.shape for t in tensors)
    ranks = {"mm": (2, 2), "addmm": (2, 2), "bmm": (3, 3), "mv": (2, 1)}.get(name)
    if ranks is not None and (len(a), len(b)) != ranks:
        return None  # torch raises, but about the ranks
    if not a or not b:
        return None
    if name == "bmm":
        return _bmm(a, b, tensors)
    inner, other = a[-1], (b[-2] if len(b) > 1 else b[0])
    if not _known(inner, other) or inner == other:
        return None
    detail = f"the inner dimensions differ: {inner} and {other}"
    if len(a) == 1 and len(b) == 1:
        message = f"{DOT} [{inner}] and src [{other}] to have the same number of elements, but got {inner} and {other} elements respectively"
        return "product", message, True, detail, tensors
    rows = math.prod(a[:-1]) if _known(*a[:-1]) else None
    if len(b) == 1:
        exact = rows is not None
        message = f"{VECTOR_MUL} ({rows}), mat ({rows}x{inner}), vec ({other})" if exact else VECTOR_MUL
        return "product", message, exact, detail, tensors
    if len(b) == 2:
        return "product", *_mat_mul(rows, inner, other, b[1]), detail, tensors
    # a batch of matrices on the right: the batch dims broadcast first
    batch = _broadcast_error(a[:-2], b[:-2])
    if batch is not None:
        return None  # torch raises about the batch dims first
    batch_shape = shapes.broadcast([a[:-2], b[:-2]])
    count = math.prod(batch_shape) if batch_shape is not None and _known(*batch_shape) else None
    if count is None:
        return "product", BATCH_MUL, False, detail, tensors
    return "product", f"{BATCH_MUL}: [{count}, {inner}] but got: [{count}, {other}].", True, detail, tensors


def _mat_mul(rows, inner, other, columns) -> tuple[str, bool]:
    if rows is None or not _known(columns):
        return MAT_MUL, False
    return f"{MAT_MUL} ({rows}x{inner} and {other}x{columns})", True


def _bmm(a, b, tensors):
    expected, got = (a[0], a[2]), (b[0], b[1])
    differ = [(x, y) for x, y in zip(expected, got) if _known(x, y) and x != y]
    if not differ:
        return None
    words = {0: "the batch sizes differ", 1: "the inner dimensions differ"}
    index = 0 if _known(a[0], b[0]) and a[0] != b[0] else 1
    detail = f"{words[index]}: {differ[0][0]} and {differ[0][1]}"
    if not _known(*expected, *got):
        return "product", BATCH_MUL, False, detail, tensors
    message = f"{BATCH_MUL}: [{expected[0]}, {expected[1]}] but got: [{got[0]}, {got[1]}]."
    return "product", message, True, detail, tensors


def _linear(operands: list):
    """`F.linear(input, weight[, bias])`: weight is (out_features, in_features)."""
    tensors = [o for o in operands if isinstance(o, Tensor)]
    if len(tensors) not in (2, 3) or len(tensors) != len(operands) or tensors[0].shape is None or tensors[1].shape is None:
        return None
    weight = tensors[1].shape
    if len(weight) != 2:
        return None
    return _linear_input(tensors[0], weight[1], weight[0], tensors[:2])


def _linear_module(module, operands: list):
    config = dict(module.config)
    in_features = config.get(0, config.get("in_features"))
    out_features = config.get(1, config.get("out_features"))
    tensors = _shaped(operands, 1)
    if tensors is None or not _known(in_features):
        return None
    return _linear_input(tensors[0], in_features, out_features, tensors)


def _linear_input(tensor: Tensor, in_features, out_features, tensors):
    shape = tensor.shape
    if not shape or not _known(shape[-1], in_features) or shape[-1] == in_features:
        return None
    rows = math.prod(shape[:-1]) if _known(*shape[:-1]) else None
    detail = f"the input has {shape[-1]} features, the layer takes {in_features}"
    return "product", *_mat_mul(rows, shape[-1], in_features, out_features), detail, tensors


def _broadcast_error(a: tuple, b: tuple) -> tuple | None:
    """(size in a, size in b, dimension) where they provably cannot broadcast, the one torch
    names (it looks from the last dimension), or None."""
    rank = max(len(a), len(b))
    for position in range(-1, -min(len(a), len(b)) - 1, -1):
        x, y = a[position], b[position]
        if _known(x, y) and x != y and x != 1 and y != 1:
            return x, y, rank + position
    return None


def _broadcast(operands: list, node: ast.AST):
    tensors = _shaped(operands, 2)
    if tensors is None:
        return None
    a, b = (t.shape for t in tensors)
    found = _broadcast_error(a, b)
    if found is None:
        return None
    x, y, dim = found
    # torch names the first pair it meets from the last dimension: exact when all are known
    exact = _known(*a, *b)
    message = f"{BROADCAST} ({x}) must match the size of tensor b ({y}) at non-singleton dimension {dim}"
    detail = f"sizes {x} and {y} at dimension {dim} cannot broadcast"
    return "broadcast", message if exact else BROADCAST, exact, detail, tensors


def _reshape(operands: list, node: ast.AST):
    tensor = operands[0] if operands else None
    if not isinstance(tensor, Tensor) or tensor.shape is None or not _known(*tensor.shape):
        return None
    if any(isinstance(o, Tensor) for o in operands[1:]):
        return None
    sizes = shapes._Call(operands, node).sizes("shape")
    if not sizes or not all(size >= -1 for size in sizes) or sizes.count(-1) > 1:
        return None
    total = math.prod(tensor.shape)
    rest = math.prod(size for size in sizes if size != -1)
    if -1 in sizes:
        if rest == 0 or total % rest == 0:
            return None
        detail = f"{total} elements do not divide into rows of {rest}"
    else:
        if rest == total:
            return None
        detail = f"{total} elements, {rest} asked for"
    message = f"shape '[{', '.join(map(str, sizes))}]' {RESHAPE} {total}"
    return "reshape", message, True, detail, [tensor]
