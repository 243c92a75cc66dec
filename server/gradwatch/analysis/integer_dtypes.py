"""Tensors whose dtype is provably an integer (or bool) type: indices, integer casts,
legacy integer tensor types. Such a tensor can never require grad: turning its
`requires_grad` on raises (GW109), so the fact is worth carrying."""

from __future__ import annotations

import ast

from gradwatch.analysis.syntax import INTEGER_DTYPES
from gradwatch.analysis.values import NO, YES, Constant, Sequence, Tensor, TorchRef

# Ops whose result is int64 indices.
INDEX_OPS = {"argmax", "argmin", "argsort"}
# Ops that, given a dimension, return (values, indices) instead of one tensor.
VALUES_AND_INDICES = {"max", "min", "median", "mode", "kthvalue", "sort", "topk"}
# Tensor methods that cast to an integer or bool dtype.
INTEGER_CASTS = {"long", "int", "short", "byte", "char", "bool"}
# Legacy tensor types that build or cast to an integer dtype.
INTEGER_TENSOR_TYPES = {
    "torch." + name for name in "LongTensor IntTensor ShortTensor ByteTensor CharTensor BoolTensor".split()
}


def is_integer_dtype(value) -> bool:
    """`torch.long`, `torch.int64`, `torch.LongTensor`...: a dtype argument known to be integer."""
    return isinstance(value, TorchRef) and (value.qualname in INTEGER_DTYPES or value.qualname in INTEGER_TENSOR_TYPES)


def indices_of(ev, qualname: str, operands: list, node: ast.AST, state, result):
    """`result` of an op, with what is known of its indices' dtype: argmax's result is
    integer; `torch.max(x, 1)` (a dimension given) returns (values, indices)."""
    name = qualname.rsplit(".", 1)[-1]
    if name in INDEX_OPS and isinstance(result, Tensor):
        return result.but(integer=True)
    if name in VALUES_AND_INDICES and _given_a_dimension(name, operands, node) and isinstance(result, Tensor):
        indices = Tensor(
            requires_grad=NO,
            is_leaf=YES,
            storage=ev.fresh_storage(node, state, ("indices",)),
            origin=ev.reason(node, f"the indices of `{ev.text(node)}`"),
            integer=True,
            shape=result.shape,  # one index per value
            multi_element=result.multi_element,
        )
        return Sequence((result, indices))
    return result


def _given_a_dimension(name: str, operands: list, node: ast.AST) -> bool:
    """The call returns (values, indices): sort and topk always do; max and the others
    only with a dimension (`torch.max(x, 1)`, `x.max(dim=1)`; `torch.max(a, b)` of two
    tensors is elementwise)."""
    if not operands or not isinstance(operands[0], Tensor):
        return False
    if name in ("sort", "topk", "kthvalue", "mode"):
        return True
    keywords = {kw.arg for kw in node.keywords} if isinstance(node, ast.Call) else set()
    dimension = len(operands) > 1 and isinstance(operands[1], Constant) and isinstance(operands[1].value, int)
    return dimension or "dim" in keywords
