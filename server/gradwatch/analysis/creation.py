"""Tensors and leaves made by factories: `torch.randn(...)`, `torch.tensor(...)`, `nn.Parameter(...)`."""

from __future__ import annotations

import ast

from gradwatch.analysis import devices, integer_dtypes, shapes, tensor_items
from gradwatch.analysis.conditions import known_flag
from gradwatch.analysis.events import Creation, TensorCall
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import INTEGER_DTYPES, canonical_dtype, keyword, literal_true
from gradwatch.analysis.values import (
    NO,
    UNKNOWN,
    UNKNOWN_VALUE,
    YES,
    Constant,
    Cut,
    GradSource,
    Sequence,
    Tensor,
    TorchRef,
    Tri,
    union_deps,
)


# The legacy constructors of floating point tensors: `torch.Tensor(array)`, `torch.FloatTensor([1.0, 2.0])`.
FLOAT_TENSOR_TYPES = frozenset({"torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor", "torch.HalfTensor"})


def factory(ev, qualname: str, node: ast.Call, state: State):
    args = ev.eval_arguments(node, state)
    requires = known_flag(keyword(node, "requires_grad"), state)
    if qualname == "torch.as_tensor" and args and isinstance(args[0], Tensor):
        return args[0]
    cuts: tuple = ()
    if qualname == "torch.tensor" and args:
        first = args[0]
        if isinstance(first, Tensor) and first.requires_grad is YES:
            ev.emit(node, TensorCall(ev.span(node), first, ev.text(node.args[0]), "torch.tensor", node))
            cuts = (
                Cut(
                    ev.span(node),
                    f"`{ev.text(node)}` copies the data without its graph",
                    kind="rewrap",
                    sources=first.sources,
                ),
            )
        elif isinstance(first, (Constant, Tensor)):
            cuts = first.cuts
    if qualname in ("torch.tensor", "torch.as_tensor") and args and isinstance(args[0], Sequence):
        cuts = tensor_items.converted(ev, node, args[0])
    integer, where = integer_dtype(ev, qualname, node, state, args)
    if requires is YES:
        ev.emit(node, Creation(ev.span(node), node, integer, where))
    value = leaf(ev, node, requires, explicit=requires is YES, deps=args).but(on_cpu=devices.made_on_cpu(ev, node))
    if integer is YES:
        value = value.but(integer=True)
    dtype = keyword(node, "dtype")
    dtype_value = ev.eval(dtype, state) if dtype is not None else None
    if isinstance(dtype_value, TorchRef):
        value = value.but(dtype=canonical_dtype(dtype_value.qualname))
    elif dtype is None and integer is YES:
        value = value.but(dtype=_default_integer_dtype(qualname, node))
    return value.but(cuts=cuts) if cuts else value


def _default_integer_dtype(qualname: str, node: ast.Call) -> str | None:
    """The dtype an integer factory without `dtype=` makes: int64 for `randint` and for
    `tensor`/`arange` of int literals, bool for `tensor` of bools only; a `*_like` factory
    takes its argument's (not known here)."""
    if qualname == "torch.randint":
        return "torch.int64"
    if qualname not in ("torch.tensor", "torch.arange"):
        return None
    literals = [n.value for arg in node.args for n in ast.walk(arg) if isinstance(n, ast.Constant)]
    return "torch.bool" if literals and all(type(v) is bool for v in literals) else "torch.int64"


def integer_dtype(ev, qualname: str, node: ast.Call, state: State, args=()) -> tuple[Tri, object]:
    """Does this factory provably make an integer or bool tensor? And which text says so."""
    if integer_dtypes.like_factory_is_integer(qualname, list(args), node):
        return YES, ev.span(node.args[0])  # `torch.zeros_like(idx)`: idx's dtype
    dtype = keyword(node, "dtype")
    if dtype is not None:
        value = ev.eval(dtype, state)
        if isinstance(value, TorchRef) and value.qualname in INTEGER_DTYPES:
            return YES, ev.span(dtype)
        return (NO if isinstance(value, TorchRef) else UNKNOWN), ev.span(dtype)
    if qualname == "torch.randint":
        return YES, None
    if qualname in ("torch.tensor", "torch.arange") and node.args:
        literals = [n for arg in node.args for n in ast.walk(arg) if isinstance(n, ast.Constant)]
        containers = all(
            isinstance(n, (ast.List, ast.Tuple, ast.Constant, ast.UnaryOp, ast.USub, ast.expr_context))
            for arg in node.args
            for n in ast.walk(arg)
        )
        if containers and literals and all(isinstance(n.value, (int, bool)) for n in literals):
            return YES, ev.span(node.args[0]) if qualname == "torch.tensor" else None
    return UNKNOWN, None


def leaf(ev, node: ast.Call, requires: Tri, explicit: bool, deps=()) -> Tensor:
    storage = ev.storage_for(node)
    shape = shapes.of_factory(node, list(deps))
    source = GradSource(f"`{ev.text(node)}`", ev.span(node), explicit=explicit)
    # A factory with requires_grad=True makes a leaf that requires grad even under no_grad.
    return Tensor(
        requires_grad=requires,
        is_leaf=YES,
        storage=storage,
        sources=frozenset([source]) if requires is YES else frozenset(),
        deps=union_deps([frozenset([storage])] + [d.deps for d in deps if isinstance(d, Tensor)]),
        origin=ev.reason(node, f"`{ev.text(node)}`"),
        factory=ev.span(node),
        multi_element=shapes.multi_element(shape) if shape is not None else _multi_element(node),
        shape=shape,
        never_none=True,
    )


def _multi_element(node: ast.Call) -> Tri:
    """For a factory whose shape is not known (shapes.of_factory): `torch.tensor([a, b])` of
    items that are not literals still has more than one element."""
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    if name == "tensor" and node.args:
        data = node.args[0]
        if isinstance(data, ast.Constant):
            return NO
        if isinstance(data, (ast.List, ast.Tuple)):
            return (
                Tri.of(len(data.elts) > 1)
                if len(data.elts) != 1 or not isinstance(data.elts[0], (ast.List, ast.Tuple))
                else UNKNOWN
            )
    return UNKNOWN


def variable(ev, node: ast.Call, state: State):
    """`Variable(t, requires_grad=flag)`: a new leaf with `t`'s data and no graph (measured:
    even of a computed tensor), whose flag is set as `t.requires_grad_(flag)` would."""
    args = ev.eval_arguments(node, state)
    data = args[0] if args and isinstance(args[0], Tensor) else None
    if data is None:
        return UNKNOWN_VALUE
    flag_node = keyword(node, "requires_grad") or (node.args[1] if len(node.args) > 1 else None)
    requires = literal_true(flag_node)
    value = Tensor(
        requires_grad=NO,
        is_leaf=YES,
        storage=data.storage,
        deps=data.deps,
        origin=ev.reason(node, f"`{ev.text(node)}`"),
        integer=data.integer,
        multi_element=data.multi_element,
        shape=data.shape,
        known=data.known,
    )
    if requires is NO:
        return value
    ev.emit(node, TensorCall(ev.span(node), value, ev.text(node.args[0]), "requires_grad_", node, requires))
    source = GradSource(f"`{ev.text(node)}`", ev.span(node), explicit=True)
    return value.but(requires_grad=requires, sources=frozenset([source]) if requires is YES else frozenset())
