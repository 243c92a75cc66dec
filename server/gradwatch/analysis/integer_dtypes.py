"""Tensors whose dtype is provably an integer (or bool) type: indices, comparisons,
integer casts, legacy integer tensor types. Such a tensor can never require grad:
turning its `requires_grad` on raises (GW109), so the fact is worth carrying.

Every fact here was measured on torch (2.13): the dtype of each op's result, and
which ops hand an integer operand's dtype on unchanged."""

from __future__ import annotations

import ast

from gradwatch.analysis.events import Creation
from gradwatch.analysis.syntax import INTEGER_DTYPES, dotted, keyword, literal_true
from gradwatch.analysis.values import NO, YES, Constant, Sequence, Tensor, TorchRef

# Ops whose result is int64 indices.
INDEX_OPS = {"argmax", "argmin", "argsort"}
# Ops that, given a dimension, return (values, indices) instead of one tensor.
VALUES_AND_INDICES = {"max", "min", "median", "mode", "kthvalue", "sort", "topk", "cummax", "cummin"}
# The ops among them that return (values, indices) whatever their arguments.
ALWAYS_PAIRED = {"sort", "topk", "kthvalue", "mode", "cummax", "cummin"}
# Ops whose result is bool: comparisons (with a tensor or a number) and tests.
BOOL_OPS = {
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "isnan", "isinf", "isfinite", "isneginf", "isposinf", "signbit",
    "logical_not", "logical_and", "logical_or", "logical_xor",
}  # fmt: skip
# Ops whose result has their (first) operand's dtype: copies, views, reshapes, moves.
# (`.to(...)`, `.cpu()` and `.cuda()` are handled where their arguments are seen.)
SAME_DTYPE_OPS = {
    "clone", "contiguous", "view", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose",
    "t", "expand", "repeat", "flip", "__getitem__",
}  # fmt: skip
# Ops whose result is integer or bool when every operand is an integer or bool tensor
# or a Python int or bool (measured: no error for any such mix; `-`, `//`, `%`, `**`
# may raise on bool, `/` gives float).
INTEGER_CLOSED_OPS = {
    "add", "mul", "__add__", "__radd__", "__mul__", "__rmul__",
    "bitwise_and", "bitwise_or", "bitwise_xor",
    "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__",
}  # fmt: skip
# Tensor methods that cast to an integer or bool dtype.
INTEGER_CASTS = {"long", "int", "short", "byte", "char", "bool"}
# Legacy tensor types that build or cast to an integer dtype.
INTEGER_TENSOR_TYPES = {
    "torch." + name for name in "LongTensor IntTensor ShortTensor ByteTensor CharTensor BoolTensor".split()
}
# Factories `f(t, ...)` whose result has `t`'s dtype unless `dtype=` says otherwise.
LIKE_FACTORIES = {"torch.zeros_like", "torch.ones_like", "torch.empty_like", "torch.full_like", "torch.randint_like"}
# Tensor methods `t.new_zeros(...)` that make a tensor of `t`'s dtype unless `dtype=` says otherwise.
NEW_FACTORIES = {"new_zeros", "new_ones", "new_empty", "new_full"}


def is_integer_dtype(value) -> bool:
    """`torch.long`, `torch.int64`, `torch.LongTensor`, `"torch.LongTensor"`...: a dtype
    argument known to be integer."""
    if isinstance(value, Constant) and isinstance(value.value, str):
        return value.value in INTEGER_TENSOR_TYPES
    return isinstance(value, TorchRef) and (value.qualname in INTEGER_DTYPES or value.qualname in INTEGER_TENSOR_TYPES)


def casts_to_integer(ev, name: str, args: list, node: ast.Call, state) -> bool:
    """`t.long()`, `t.to(torch.long)`, `t.to(dtype=torch.int64)`, `t.type(torch.LongTensor)`."""
    if name in INTEGER_CASTS:
        return True
    if name not in ("to", "type"):
        return False
    dtype = keyword(node, "dtype")
    return any(is_integer_dtype(a) for a in args) or (dtype is not None and is_integer_dtype(ev.eval(dtype, state)))


def keeps_integer(name: str, tensor: Tensor, args: list, node: ast.Call) -> bool:
    """`t.cpu()`, `t.cuda()`, `t.to("cpu")` of an integer tensor: a move keeps the dtype.
    Only when every argument is a device string (`t.to(other)` takes other's dtype)."""
    if not tensor.integer or not tensor.known or node.keywords:
        return False
    if name in ("cpu", "cuda"):
        return all(isinstance(a, Constant) and isinstance(a.value, (str, int)) for a in args)
    if name == "to":
        return bool(args) and all(isinstance(a, Constant) and isinstance(a.value, str) for a in args)
    return False


def like_factory_is_integer(qualname: str, args: list, node: ast.Call) -> bool:
    """`torch.zeros_like(idx)` (no `dtype=`) of a tensor known to be integer, or
    `torch.tensor(idx)` (a copy keeps the dtype)."""
    if keyword(node, "dtype") is not None or not args:
        return False
    first = args[0]
    if qualname not in LIKE_FACTORIES and qualname != "torch.tensor":
        return False
    return isinstance(first, Tensor) and first.integer and first.known


def indices_of(ev, qualname: str, operands: list, node: ast.AST, state, result):
    """`result` of an op, with what is known of its dtype: argmax's result and
    comparisons are integer or bool; `torch.max(x, 1)` and `x.topk(3)` return (values,
    indices); a copy, view or reshape keeps an integer operand's dtype."""
    name = qualname.rsplit(".", 1)[-1]
    if name in INDEX_OPS and isinstance(result, Tensor):
        return result.but(integer=True)
    if name in BOOL_OPS and isinstance(result, Tensor) and _compared_with_number_or_tensor(operands):
        return result.but(integer=True)
    if name in SAME_DTYPE_OPS and isinstance(result, Tensor) and operands:
        first = operands[0]
        # `t.view(torch.float32)` reinterprets the data as another dtype.
        reinterpreted = any(isinstance(o, TorchRef) for o in operands)
        if isinstance(first, Tensor) and first.integer and first.known and not reinterpreted:
            return result.but(integer=True)
        return result
    if name in INTEGER_CLOSED_OPS and isinstance(result, Tensor) and _all_integer(operands, node):
        return result.but(integer=True)
    if name in VALUES_AND_INDICES and _given_a_dimension(name, operands, node) and isinstance(result, Tensor):
        indices = Tensor(
            requires_grad=NO,
            is_leaf=YES,
            storage=ev.storage_for(node, ("indices",)),
            origin=ev.reason(node, f"the indices of `{ev.text(node)}`"),
            integer=True,
            shape=result.shape,  # one index per value
            multi_element=result.multi_element,
            known=operands[0].known,
        )
        return Sequence((result, indices), names=("values", "indices"))
    return result


def _all_integer(operands: list, node: ast.AST) -> bool:
    """`idx + 1`, `idx * mask`: integer or bool tensors and Python ints and bools only,
    at least one tensor, and no keyword (`alpha=0.5` would make it float)."""
    if isinstance(node, ast.Call) and node.keywords:
        return False
    tensors = 0
    for operand in operands:
        if isinstance(operand, Tensor):
            if not (operand.integer and operand.known):
                return False
            tensors += 1
        elif not (isinstance(operand, Constant) and type(operand.value) in (int, bool) and not operand.none):
            return False
    return tensors > 0


def _compared_with_number_or_tensor(operands: list) -> bool:
    """A comparison gives a bool tensor only of tensors and numbers: `t == None` and
    `t == "a"` are Python's False (measured). The first operand must be a tensor."""
    if not operands or not isinstance(operands[0], Tensor) or not operands[0].known:
        return False
    for other in operands[1:]:
        if isinstance(other, Tensor):
            if not other.known:
                return False
        elif not (isinstance(other, Constant) and type(other.value) in (int, float, bool) and not other.none):
            return False
    return True


def _given_a_dimension(name: str, operands: list, node: ast.AST) -> bool:
    """The call returns (values, indices): sort and topk always do; max and the others
    only with a dimension (`torch.max(x, 1)`, `x.max(dim=1)`; `torch.max(a, b)` of two
    tensors is elementwise)."""
    if not operands or not isinstance(operands[0], Tensor):
        return False
    if name in ALWAYS_PAIRED:
        return True
    keywords = {kw.arg for kw in node.keywords} if isinstance(node, ast.Call) else set()
    dimension = len(operands) > 1 and isinstance(operands[1], Constant) and isinstance(operands[1].value, int)
    return dimension or "dim" in keywords


def new_factory(ev, node: ast.Call, state) -> None:
    """`idx.new_zeros(3, requires_grad=True)` of a tensor known to be integer and no
    `dtype=`: the new tensor has idx's dtype, so the call raises (GW109)."""
    if keyword(node, "dtype") is not None or literal_true(keyword(node, "requires_grad")) is not YES:
        return
    ev.emit(node, Creation(ev.span(node), node, YES, None))


# Tests of a dtype that are false for every integer and bool dtype.
_FLOAT_TESTS = {"is_floating_point", "is_complex"}


def float_test_is_false(node: ast.AST, state) -> bool:
    """`t.is_floating_point()`, `t.dtype.is_floating_point`, `t.dtype.is_complex`,
    `torch.is_floating_point(t)` of a tensor known to be integer or bool: False."""
    if isinstance(node, ast.Attribute) and node.attr in _FLOAT_TESTS:
        holder = node.value
        return isinstance(holder, ast.Attribute) and holder.attr == "dtype" and _integer_at(holder.value, state)
    if not isinstance(node, ast.Call) or node.keywords or not isinstance(node.func, ast.Attribute):
        return False
    func = node.func
    if func.attr not in _FLOAT_TESTS:
        return False
    if not node.args:
        return _integer_at(func.value, state)  # `t.is_floating_point()`
    torch_module = isinstance(func.value, ast.Name) and state.lookup(func.value.id) == TorchRef("torch")
    return torch_module and len(node.args) == 1 and _integer_at(node.args[0], state)


def _integer_at(node: ast.AST, state) -> bool:
    path = dotted(node)
    value = state.bindings.get(path) if path is not None else None
    return isinstance(value, Tensor) and value.integer and value.known
