"""GW108-GW110: tensor API calls that torch rejects because of autograd state."""

from __future__ import annotations

import ast
from typing import Iterator

from gradwatch.analysis import tensor_items
from gradwatch.analysis.events import Facts
from gradwatch.analysis.values import NO, YES
from gradwatch.findings import Finding, Fix, Related, Severity, TextEdit
from gradwatch.rules import register
from gradwatch.rules.base import Example, Rule, raises, warns
from gradwatch.rules.rewrites import add_argument

NUMPY = "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
# What a factory (`torch.zeros(..., dtype=torch.long, requires_grad=True)`), `nn.Parameter`
# and `Variable(..., requires_grad=True)` say of an integer dtype.
FLOATING = "Only Tensors of floating point and complex dtype can require gradients"
# What `t.requires_grad = True` says on an integer tensor.
FLOATING_SETTER = "only Tensors of floating point and complex dtype can require gradients"
# What `t.requires_grad_()` says on an integer tensor (measured: no "and complex").
FLOATING_METHOD = "only Tensors of floating point dtype can require gradients"
LEAF_FLAGS = "you can only change requires_grad flags of leaf variables"


@register
class NumpyOfTensorRequiringGrad(Rule):
    code = "GW108"
    name = "numpy-requires-grad"
    severity = Severity.ERROR
    summary = "`.numpy()` on a tensor that requires grad."
    explanation = f"""
NumPy arrays cannot carry autograd history, so torch refuses to convert a tensor
that requires grad:

    RuntimeError: {NUMPY}
"""
    fix_summary = "Detach first: `t.detach().numpy()` (add `.cpu()` for a tensor that may live on a GPU)."
    examples = (
        Example(
            """
import torch

w = torch.randn(3, requires_grad=True)
scores = w * 2
array = scores.numpy()
""",
            raises(NUMPY),
            line=6,
        ),
        Example(
            """
import numpy as np
import torch

w = torch.randn(3, requires_grad=True)
losses = [(w * 2).sum(), (w * 3).sum()]
average = np.mean(losses)
""",
            raises(NUMPY),
            line=7,
        ),
    )
    near_misses = (
        """
import torch

w = torch.randn(3, requires_grad=True)
scores = w * 2
array = scores.detach().numpy()
""",
        """
import numpy as np
import torch

w = torch.randn(3, requires_grad=True)
losses = [(w * 2).sum().item(), (w * 3).sum().item()]
average = np.mean(losses)
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for call in facts.tensor_calls:
            if not call.method.startswith("numpy") or not call.target.known or call.target.requires_grad is not YES:
                continue
            why = f"`{call.target_text}` requires grad"
            if call.method != "numpy":  # a numpy function converting it (`np.asarray(t)`, `np.mean([loss])`)
                why += " and numpy converts it to an array"
            message = f"`{facts.source.text_of(call.span)}` will raise: {why} (RuntimeError: {NUMPY})"
            if call.method != "numpy":
                yield self.finding(message, call.span)
                continue
            at = facts.source.dot_of(call.node.func)
            fix = Fix("Detach first: `.detach().numpy()`", (TextEdit(at, ".detach()"),), safe=True)
            yield self.finding(message, call.span, [], [fix])


@register
class IntegerTensorRequiresGrad(Rule):
    code = "GW109"
    name = "integer-requires-grad"
    severity = Severity.ERROR
    summary = "`requires_grad=True` on a tensor with an integer or bool dtype."
    explanation = f"""
Gradients exist only for floating point and complex tensors. A factory that makes
an integer tensor with `requires_grad=True` raises:

    RuntimeError: {FLOATING}

That is an explicit integer `dtype=`, `torch.randint`, `torch.tensor` /
`torch.arange` of integer literals, and, given a tensor known to be integer and
no `dtype=`, `torch.zeros_like(t)` (and `ones_like`, `empty_like`, `full_like`,
`randint_like`), `t.new_zeros(...)` (and `new_ones`, `new_empty`, `new_full`),
`torch.tensor(t)`; `nn.Parameter(t)` and `Variable(t, requires_grad=True)` say
the same.

Turning on `requires_grad` of a tensor known to be integer or bool raises too,
worded differently: `t.requires_grad = True` says

    RuntimeError: {FLOATING_SETTER}

and `t.requires_grad_()` says

    RuntimeError: {FLOATING_METHOD}

A tensor is known to be integer or bool when it is: the indices of `argmax`,
`argmin`, `argsort`, of `topk` and `sort` (`.indices`, `[1]`, or unpacked), of
`max`/`min`/`median` given a dimension, of `kthvalue`, `mode`, `cummax`, `cummin`;
a comparison (`==`, `<`, `torch.eq`, `x.gt(0)`...) of tensors or numbers, and
`isnan`/`isinf`/`isfinite`; an integer cast (`.long()`, `.int()`, `.bool()`,
`.to(torch.long)`, `.to(dtype=torch.int64)`, `.type(torch.LongTensor)`);
`torch.LongTensor(...)`; a copy, view, reshape, index, move (`.cpu()`,
`.to("cpu")`) or in-place write of such a tensor; and `+`, `*`, `&`, `|`, `^` of
such tensors with each other or with Python ints (`idx + 1`; `/` and float
operands give floats). A float conversion (`.float()`, `.double()`, `.half()`,
`.to(torch.float32)`, `.type_as(x)`, `.to(x)`) or `t.data = floats` ends it.

On a tensor known to be integer, `t.is_floating_point()`, `t.dtype.is_floating_point`,
`t.dtype.is_complex` and `torch.is_floating_point(t)` are known to be false, so the
branch they guard is not taken. Any other test of a dtype within the function of
the call (`if t.dtype in FLOAT_TYPES:`) leaves it alone: the code may set the flag
only where it can.
"""
    fix_summary = "Use a floating dtype: `dtype=torch.float32` (an unsafe fix: values become floats)."
    examples = (
        Example(
            """
import torch

counts = torch.tensor([1, 2, 3], requires_grad=True)
""",
            raises(FLOATING),
            line=4,
        ),
        Example(
            """
import torch

ids = torch.zeros(4, dtype=torch.long, requires_grad=True)
""",
            raises(FLOATING),
            line=4,
        ),
        Example(
            """
import torch

scores = torch.randn(4, 3)
best = scores.argmax(dim=1)
best.requires_grad = True
""",
            raises(FLOATING_SETTER),
            line=6,
        ),
        Example(
            """
import torch

logits = torch.randn(4, 10)
picks = logits.topk(3).indices
picks.requires_grad = True
""",
            raises(FLOATING_SETTER),
            line=6,
        ),
        Example(
            """
import torch

scores = torch.randn(4, 10)
_, order = torch.sort(scores, dim=1, descending=True)
order.requires_grad_()
""",
            raises(FLOATING_METHOD),
            line=6,
        ),
        Example(
            """
import torch

scores = torch.randn(4, 10)
worst = scores.min(1)[1]
worst.requires_grad_(True)
""",
            raises(FLOATING_METHOD),
            line=6,
        ),
        Example(
            """
import torch

x = torch.randn(8)
mask = x > 0
mask.requires_grad_()
""",
            raises(FLOATING_METHOD),
            line=6,
        ),
        Example(
            """
import torch

weights = torch.randn(5)
buckets = weights.mul(4).to(dtype=torch.int64).clone()
buckets[:3].requires_grad = True
""",
            raises(FLOATING_SETTER),
            line=6,
        ),
        Example(
            """
import torch

best = torch.randn(4, 3).argmax(dim=1)
shifted = best * 2 + 1
shifted.requires_grad_()
""",
            raises(FLOATING_METHOD),
            line=6,
        ),
        Example(
            """
import torch

labels = torch.randint(0, 5, (8,))
noise = torch.zeros_like(labels, requires_grad=True)
""",
            raises(FLOATING),
            line=5,
        ),
        Example(
            """
import torch

best = torch.randn(4, 3).argmax(dim=1)
delta = best.new_zeros(4, requires_grad=True)
""",
            raises(FLOATING),
            line=5,
        ),
        Example(
            """
import torch
import torch.nn as nn


class Shift(nn.Module):
    def __init__(self):
        super().__init__()
        self.offsets = nn.Parameter(torch.arange(4))

    def forward(self, x):
        return x + self.offsets


Shift()
""",
            raises(FLOATING),
            line=9,
        ),
    )
    near_misses = (
        """
import torch

counts = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
ids = torch.zeros(4, dtype=torch.float64, requires_grad=True)
""",
        """
import torch
import torch.nn as nn

logits = torch.randn(4, 10)
top = logits.topk(3).values
top.requires_grad = True
picks = logits.topk(3).indices.float()
picks.requires_grad_()
mask = (logits > 0).to(torch.float32)
mask.requires_grad_()
best = logits.max(dim=1)[0]
best.requires_grad_()
ids = logits.argmax(dim=1)
ids.requires_grad_(False)
ids.requires_grad = False
halves = ids.half()
halves.requires_grad_()
like = ids.type_as(logits)
like.requires_grad_()
shift = nn.Parameter(torch.arange(4).double())
frozen = nn.Parameter(torch.arange(4), requires_grad=False)
noise = torch.zeros_like(ids, dtype=torch.float32, requires_grad=True)
same = logits == None
halfway = ids * 0.5
halfway.requires_grad_()
ratio = ids / 2
ratio.requires_grad_()
""",
        """
import torch


def prepare(inputs):
    for inp in inputs:
        if inp.dtype.is_floating_point:
            inp.requires_grad_()
    return inputs


prepare([torch.randn(3), torch.randint(0, 5, (3,))])
""",
        """
import torch

slots = torch.zeros(3, dtype=torch.long)
view = slots
slots.data = torch.randn(3)
view.requires_grad_()
picked = torch.randn(4, 5).argmax(dim=1).detach().float()
picked.requires_grad = True
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for creation in facts.creations:
            if creation.integer_dtype is not YES or _tests_dtypes_around(facts, creation.span):
                continue
            call = facts.source.text_of(creation.span)
            message = f"`{call}` will raise: its dtype is an integer type (RuntimeError: {FLOATING})"
            fix = self._float_dtype(creation, facts)
            yield self.finding(message, creation.span, [], [fix] if fix else [])
        for call in facts.tensor_calls:
            target = call.target
            if call.method != "requires_grad_" or call.flag is not YES or not target.known or not target.integer:
                continue
            if _tests_dtypes_around(facts, call.span):
                continue
            message = (
                f"`{facts.source.text_of(call.span)}` will raise: `{call.target_text}` has an integer dtype "
                f"(RuntimeError: {_refusal(call.node)})"
            )
            related = [Related(target.origin.span, f"made here: {target.origin.text}")] if target.origin else []
            yield self.finding(message, call.span, related)

    @staticmethod
    def _float_dtype(creation, facts) -> Fix | None:
        if isinstance(creation.node.func, (ast.Attribute, ast.Name)) and _callee(creation.node) == "Parameter":
            return None  # `nn.Parameter(t)` takes no dtype
        dtype = next((kw.value for kw in creation.node.keywords if kw.arg == "dtype"), None)
        title = "Use a floating dtype: `dtype=torch.float32`"
        if dtype is None:
            return add_argument(creation.node, facts.source, "dtype=torch.float32", title)
        return Fix(title, (TextEdit(facts.source.span(dtype), "torch.float32"),), safe=False)


# What a test that asks about a tensor's dtype reads: `t.dtype`, `t.is_floating_point()`,
# `torch.is_floating_point(t)`, `t.dtype.is_complex`.
_DTYPE_TESTS = {"dtype", "is_floating_point", "is_complex"}


def _tests_dtypes_around(facts: Facts, span) -> bool:
    """Code that branches on a dtype (`if t.dtype.is_floating_point: t.requires_grad_()`)
    turns requires_grad on only where the dtype allows it, on a path the analysis may not
    tell apart: within the function (or module body) around `span`, any test that reads
    a dtype keeps GW109 quiet there."""
    if facts.tree is None:
        return False
    scope: ast.AST = facts.tree
    for node in ast.walk(facts.tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            end = getattr(node, "end_lineno", None)
            if end is not None and node.lineno <= span.line <= end and node.lineno >= getattr(scope, "lineno", 0):
                scope = node
    for node in ast.walk(scope):
        tests = []
        if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            tests.append(node.test)
        elif isinstance(node, ast.comprehension):
            tests.extend(node.ifs)
        for test in tests:
            for part in ast.walk(test):
                name = part.attr if isinstance(part, ast.Attribute) else getattr(part, "id", None)
                if name in _DTYPE_TESTS:
                    return True
    return False


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _refusal(node: ast.AST) -> str:
    """torch's words differ by spelling: `t.requires_grad_()` omits "and complex", the
    attribute set starts lower case, `Variable(t, requires_grad=True)` speaks as a factory."""
    if isinstance(node, ast.Attribute):
        return FLOATING_SETTER
    if isinstance(node, ast.Call) and _callee(node) == "requires_grad_":
        return FLOATING_METHOD
    return FLOATING


@register
class RequiresGradOfNonLeaf(Rule):
    code = "GW110"
    name = "requires-grad-of-non-leaf"
    severity = Severity.ERROR
    summary = "Turning off `requires_grad` of a tensor computed from others (not a leaf)."
    explanation = f"""
Only leaves (tensors you created) have a `requires_grad` flag of their own; a
computed tensor requires grad because its inputs do. Switching it off raises:

    RuntimeError: {LEAF_FLAGS}. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().
"""
    fix_summary = "Use a detached copy instead: `y = y.detach()`."
    examples = (
        Example(
            """
import torch

x = torch.randn(3, requires_grad=True)
y = x * 2
y.requires_grad_(False)
""",
            raises(LEAF_FLAGS),
            line=6,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(3, requires_grad=True)
y = x * 2
y = y.detach()
x.requires_grad_(False)
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for call in facts.tensor_calls:
            target = call.target
            if call.method != "requires_grad_" or call.flag is not NO:
                continue
            if not target.known or target.is_leaf is not NO or target.requires_grad is not YES:
                continue
            message = (
                f"`{facts.source.text_of(call.span)}` will raise: `{call.target_text}` is computed from other tensors, "
                f"not a leaf (RuntimeError: {LEAF_FLAGS})"
            )
            related = [Related(target.origin.span, "computed here")] if target.origin else []
            yield self.finding(message, call.span, related)


COPY_CONSTRUCT = "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone()"
TO_SCALAR = "Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior"


@register
class TensorOfGraphTensor(Rule):
    code = "GW113"
    name = "tensor-of-graph-tensor"
    severity = Severity.WARNING
    summary = "`torch.tensor(t)` of a tensor that requires grad: the copy has no graph."
    explanation = f"""
`torch.tensor(data)` builds a new leaf from data. Given a tensor in the autograd
graph it copies the values and drops the graph, so nothing computed from the copy
sends gradient back, and torch warns:

    UserWarning: {COPY_CONSTRUCT} or sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor).

To keep the graph, use the tensor itself (or `t.clone()`); to copy without it, say
so with `t.detach().clone()`.

`torch.tensor([a, b])` and `torch.as_tensor([a, b])` of a list that holds tensors
read each as a number, so the new tensor has no graph either:

    UserWarning: {TO_SCALAR}

To keep the graph, use `torch.stack([a, b])`.
"""
    fix_summary = "Say what it does: `t.detach().clone()` (the same values, no graph, no warning)."
    examples = (
        Example(
            """
import torch

x = torch.randn(3, requires_grad=True)
scores = torch.tensor(x * 2)
""",
            warns(COPY_CONSTRUCT),
            line=5,
        ),
        Example(
            """
import torch

amplitude = torch.tensor(2.0, requires_grad=True)
ramp = torch.tensor([0.0, amplitude * 3])
""",
            warns(TO_SCALAR),
            line=5,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(3, requires_grad=True)
scores = (x * 2).detach().clone()
labels = torch.tensor([1.0, 2.0])
""",
        """
import torch

amplitude = torch.tensor(2.0, requires_grad=True)
ramp = torch.stack([torch.zeros(()), amplitude * 3])
limits = torch.tensor([0.0, amplitude.item()])
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for call in facts.tensor_calls:
            if call.method == tensor_items.OF_ITEMS:
                yield self._of_items(call, facts)
                continue
            if call.method != "torch.tensor" or not call.target.known or call.target.requires_grad is not YES:
                continue
            message = (
                f"`{facts.source.text_of(call.span)}` copies `{call.target_text}` without its graph: no gradient "
                f"flows back through the copy (UserWarning: {COPY_CONSTRUCT} ...)"
            )
            fix = self._detach_clone(call)
            yield self.finding(message, call.span, [], [fix] if fix else [])

    def _of_items(self, call, facts) -> Finding:
        whole_list = call.node.args and facts.source.text_of(facts.source.span(call.node.args[0])) == call.target_text
        read = f"the tensors in `{call.target_text}` as numbers" if whole_list else f"`{call.target_text}` as a number"
        message = (
            f"`{facts.source.text_of(call.span)}` reads {read}: the new tensor has no graph, so no gradient "
            f"flows back through it (UserWarning: {TO_SCALAR}); `torch.stack` keeps the graph"
        )
        related = [Related(call.target.origin.span, "requires grad")] if call.target.origin else []
        return self.finding(message, call.span, related)

    @staticmethod
    def _detach_clone(call) -> Fix | None:
        keywords = {kw.arg for kw in call.node.keywords}
        if keywords - {"requires_grad"} or len(call.node.args) != 1:
            return None
        data = call.node.args[0]
        text = call.target_text
        if not isinstance(data, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
            text = f"({text})"
        replacement = f"{text}.detach().clone()"
        if "requires_grad" in keywords:
            replacement += ".requires_grad_(True)"
        return Fix(f"Copy explicitly: `{replacement}`", (TextEdit(call.span, replacement),), safe=True)
