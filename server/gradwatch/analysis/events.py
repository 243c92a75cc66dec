"""What the interpreter observed, in program order, for the rules to judge."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from gradwatch.analysis.values import GradSource, Reason, SavedOp, Tensor, Tri
from gradwatch.findings import NameState, Span
from gradwatch.source import SourceText


@dataclass(unsafe_hash=True)
class Backward:
    """`t.backward(...)`, `torch.autograd.backward(t)`, or the implicit backward
    after a module's `forward` returns (`implicit=True`)."""

    span: Span
    target: Tensor
    target_text: str
    node: ast.AST
    implicit: bool = False
    # Saved tensors in the target's history that an in-place op modified since:
    # (the op that saved them, the in-place op that modified them).
    clobbered: tuple[tuple[SavedOp, InPlace], ...] = ()
    # An earlier backward, without retain_graph=True, that already freed this graph.
    # Not compared: what a later statement makes of this event is where it is and what it
    # backpropagated, and comparing a chain of backwards each freed by the one before
    # would recurse once per backward (the editor compares states that hold them).
    freed_by: Backward | None = field(default=None, compare=False)
    # Else one that freed a part of it that only some paths reach (`uncertain` history).
    maybe_freed_by: Backward | None = field(default=None, compare=False)


@dataclass(unsafe_hash=True)
class GradCall:
    """`torch.autograd.grad(outputs, inputs, ...)`."""

    span: Span
    outputs: tuple[Tensor, ...]
    inputs: tuple[tuple[Tensor, Span, str], ...]
    node: ast.Call
    clobbered: tuple[tuple[SavedOp, InPlace], ...] = ()
    allow_unused: Tri = Tri.NO


@dataclass(unsafe_hash=True)
class InPlace:
    """An in-place modification of a tensor: `t.add_(...)`, `t += ...`, `t[i] = ...`,
    `F.relu(t, inplace=True)`, a module built with inplace=True, or `out=t`."""

    span: Span
    target: Tensor  # the state before the modification
    target_text: str
    spelling: str  # how it was written, e.g. "add_", "+=", "[...] =", "inplace=True"
    node: ast.AST
    grad_enabled: Tri
    through_data: bool = False  # `t.data.add_(...)`
    clobbers: tuple[SavedOp, ...] = ()  # saved tensors this bumps the version of
    # For a call of a function in another file that modifies its argument: where it does.
    elsewhere: Reason | None = None
    aliased: bool = False  # another name shares the tensor's memory (a rewrite would change it)
    # How messages name the modified tensor when it has no name of its own (the
    # output of one child of an nn.Sequential, modified by the next).
    subject: str = ""
    # When the write happens only under a condition the analysis cannot see
    # (`nn.Dropout(p, inplace=True)`: in training mode, with p > 0).
    condition: str = ""
    certain: bool = True
    flag: Span | None = None  # the `True` of `inplace=True`, which a fix can turn off
    # When it happens inside a called function: the calls that led there, outermost first.
    chain: tuple[Span, ...] = ()

    def subject_text(self) -> str:
        return self.subject or f"`{self.target_text}`"


@dataclass(unsafe_hash=True)
class GradRead:
    """A read of `t.grad`."""

    span: Span
    target: Tensor
    target_text: str
    node: ast.AST


@dataclass(unsafe_hash=True)
class TensorCall:
    """A call whose validity depends on the receiver's autograd state:
    `t.numpy()`, `t.requires_grad_(flag)` / `t.requires_grad = flag`."""

    span: Span
    target: Tensor
    target_text: str
    method: str  # "numpy", "requires_grad_"
    node: ast.AST
    flag: Tri = Tri.UNKNOWN  # for requires_grad_: the value set


@dataclass(unsafe_hash=True)
class Creation:
    """A factory call with `requires_grad=True`, and whether its dtype is provably an integer or bool."""

    span: Span
    node: ast.Call
    integer_dtype: Tri
    dtype_span: Span | None  # the dtype= argument, or the data literal that makes it integer


@dataclass(unsafe_hash=True)
class OptimizerStep:
    """`optimizer.step()` on a known optimizer, with the innermost loop around it."""

    span: Span
    node: ast.Call
    loop: ast.AST | None


@dataclass(unsafe_hash=True)
class Accumulation:
    """`total += value` inside a loop, where `value` carries a graph."""

    span: Span
    node: ast.AugAssign
    name: str
    value: Tensor
    storage: int | None  # the accumulator's tensor after the addition
    loop: ast.AST


@dataclass(unsafe_hash=True)
class OptimizerParams:
    """What an optimizer is given to train: `optim.SGD([w], ...)`, `optim.Adam(model.parameters())`."""

    span: Span
    sources: frozenset[GradSource]
    tensors: tuple[tuple[Tensor, str], ...] = ()  # tensors named in the list, with their text


@dataclass(unsafe_hash=True)
class ShapeError:
    """An op whose operands' proved shapes make torch raise (analysis/shape_errors.py): inner
    dimensions of a product that differ, shapes that cannot broadcast, a view or reshape to
    another element count."""

    span: Span
    node: ast.AST
    kind: str  # "product", "broadcast" or "reshape"
    op: str  # how the op reads in a message: "`x @ w`", "`nn.Linear(6, 3)`"
    # What torch raises; exact when every size in it is known, else its first words.
    error: str
    exact: bool
    detail: str  # which sizes disagree, in words
    shapes: tuple  # the operands' shapes, in the order torch names them
    # Where each operand's shape came from (None when not known), in that order.
    origins: tuple[Reason | None, ...] = ()
    # When it happens inside a called function: the calls that led there, outermost first.
    chain: tuple[Span, ...] = ()
    layer: bool = False  # the sizes include a module's configuration (`nn.Linear(6, 3)`)


@dataclass
class Facts:
    source: SourceText
    path: str | None = None  # the analysed file, when it is one (cross-module look-ups need it)
    tree: ast.Module | None = None  # for rules that ask about the file's own definitions
    # A scope that backpropagates calls something imported from a non-torch module.
    calls_other_files: bool = False
    backwards: list[Backward] = field(default_factory=list)
    grad_calls: list[GradCall] = field(default_factory=list)
    inplace_ops: list[InPlace] = field(default_factory=list)
    grad_reads: list[GradRead] = field(default_factory=list)
    optimizer_params: list[OptimizerParams] = field(default_factory=list)
    tensor_calls: list[TensorCall] = field(default_factory=list)
    creations: list[Creation] = field(default_factory=list)
    optimizer_steps: list[OptimizerStep] = field(default_factory=list)
    accumulations: list[Accumulation] = field(default_factory=list)
    names: list[NameState] = field(default_factory=list)
    shape_errors: list[ShapeError] = field(default_factory=list)


# Which list of Facts each kind of event goes to.
FACT_LISTS = {
    Backward: "backwards",
    GradCall: "grad_calls",
    InPlace: "inplace_ops",
    GradRead: "grad_reads",
    OptimizerParams: "optimizer_params",
    TensorCall: "tensor_calls",
    Creation: "creations",
    OptimizerStep: "optimizer_steps",
    Accumulation: "accumulations",
    ShapeError: "shape_errors",
}
