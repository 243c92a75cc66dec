"""What the interpreter observed, in program order, for the rules to judge."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from gradwatch.analysis.values import Reason, SavedOp, Tensor, Tri
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


@dataclass(frozen=True)
class GradRead:
    """A read of `t.grad`."""

    span: Span
    target: Tensor
    target_text: str
    node: ast.AST


@dataclass(frozen=True)
class OptimizerParams:
    """A tensor given to an optimizer by name: `optim.SGD([w], ...)`."""

    span: Span
    target: Tensor
    target_text: str


@dataclass(frozen=True)
class ZeroGradient:
    """An op whose gradient is zero everywhere (`round`, `sign`, ...) applied to a tensor that requires grad."""

    reason: Reason


@dataclass
class Facts:
    source: SourceText
    backwards: list[Backward] = field(default_factory=list)
    grad_calls: list[GradCall] = field(default_factory=list)
    inplace_ops: list[InPlace] = field(default_factory=list)
    grad_reads: list[GradRead] = field(default_factory=list)
    optimizer_params: list[OptimizerParams] = field(default_factory=list)
    names: list[NameState] = field(default_factory=list)
