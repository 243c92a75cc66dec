"""What the interpreter observed, in program order, for the rules to judge."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from gradwatch.analysis.values import GradSource, SavedOp, Tensor, Tri
from gradwatch.findings import NameState, Span
from gradwatch.source import SourceText


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class GradCall:
    """`torch.autograd.grad(outputs, inputs, ...)`."""

    span: Span
    outputs: tuple[Tensor, ...]
    inputs: tuple[tuple[Tensor, Span, str], ...]
    node: ast.Call
    clobbered: tuple[tuple[SavedOp, InPlace], ...] = ()


@dataclass(frozen=True)
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
    aliased: bool = False  # another name shares the tensor's memory (a rewrite would change it)


@dataclass(frozen=True)
class GradRead:
    """A read of `t.grad`."""

    span: Span
    target: Tensor
    target_text: str
    node: ast.AST


@dataclass(frozen=True)
class OptimizerParams:
    """What an optimizer is given to train: `optim.SGD([w], ...)`, `optim.Adam(model.parameters())`."""

    span: Span
    sources: frozenset[GradSource]
    tensors: tuple[tuple[Tensor, str], ...] = ()  # tensors named in the list, with their text


@dataclass
class Facts:
    source: SourceText
    backwards: list[Backward] = field(default_factory=list)
    grad_calls: list[GradCall] = field(default_factory=list)
    inplace_ops: list[InPlace] = field(default_factory=list)
    grad_reads: list[GradRead] = field(default_factory=list)
    optimizer_params: list[OptimizerParams] = field(default_factory=list)
    names: list[NameState] = field(default_factory=list)
