"""GW106-GW107: backward calls that raise because of how the graph is used."""

from __future__ import annotations

import ast
from typing import Iterator

from gradwatch.analysis.distributions import SHARED_WHAT
from gradwatch.analysis.events import Facts
from gradwatch.analysis.values import NO, YES
from gradwatch.findings import Finding, Fix, Related, Severity, Span, TextEdit
from gradwatch.rules import register
from gradwatch.rules.base import Example, Rule, raises
from gradwatch.rules.rewrites import add_argument

SECOND_TIME = "Trying to backward through the graph a second time"
UNUSED = "appears to not have been used in the graph"


@register
class BackwardTwice(Rule):
    code = "GW106"
    name = "backward-twice"
    severity = Severity.ERROR
    summary = "A second backward through a graph that an earlier backward already freed."
    explanation = f"""
`backward()` frees the graph it runs through (the tensors ops saved for it), unless
it is called with `retain_graph=True`. Backpropagating through any part of that
graph again, from the same loss or from another value computed from it, raises:

    RuntimeError: {SECOND_TIME} (or directly access saved tensors after they have already been freed)

A common way to hit it is a loss computed once, before a loop, and backpropagated
inside the loop: the second iteration raises.

Only what ops kept is freed: a graph of ops that keep nothing for their backward
(`(x + 1).sum()`) can be backpropagated again, and is not reported.

When only some paths reach the freed part (a cached value reused in one branch and
recomputed in the other), the finding is a warning that says the backward may raise.
"""
    fix_summary = "Pass `retain_graph=True` to the first backward (an unsafe fix: the graph then stays in memory), or recompute the loss before each backward."
    examples = (
        Example(
            """
import torch

x = torch.randn(3, requires_grad=True)
loss = (x.exp() * 2).sum()
loss.backward()
loss.backward()
""",
            raises(SECOND_TIME),
            line=7,
        ),
        Example(
            """
import torch

w = torch.randn(3, requires_grad=True)
loss = (w * w).sum()
for step in range(3):
    loss.backward()
""",
            raises(SECOND_TIME),
            line=7,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(3, requires_grad=True)
loss = (x.exp() * 2).sum()
loss.backward(retain_graph=True)
loss.backward()
""",
        """
import torch

x = torch.randn(3, requires_grad=True)
loss = (x + 1).sum()
loss.backward()
loss.backward()
""",
        """
import torch

w = torch.randn(3, requires_grad=True)
for step in range(3):
    loss = (w * w).sum()
    loss.backward()
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.backwards:
            earlier = event.freed_by or event.maybe_freed_by
            if earlier is None or event.implicit:
                continue
            call = facts.source.text_of(event.span)
            if earlier.node is event.node:
                where = "in the loop's previous iteration"
            else:
                where = f"`{facts.source.text_of(earlier.span)}` (line {earlier.span.line})"
            # Two densities of one torch.distributions object share what it computes once.
            shared = min(
                (op for op in event.target.history & earlier.target.history if op.what == SHARED_WHAT),
                key=lambda op: op.span,
                default=None,
            )
            through = f" (through what `{shared.call_text}` computes once, line {shared.span.line})" if shared else ""
            if event.freed_by is not None:
                message = f"`{call}` will raise: {where} already backpropagated through this graph{through} and freed it"
                severity = None
            else:  # the freed part is reached on some paths only (a branch, an item of a list)
                message = (
                    f"`{call}` may raise: on some paths its graph runs through a part that {where} "
                    "already backpropagated through and freed"
                )
                severity = Severity.WARNING
            message += f" (RuntimeError: {SECOND_TIME})"
            fix = add_argument(earlier.node, facts.source, "retain_graph=True", "Keep the graph: `retain_graph=True`")
            related = [Related(earlier.span, "the graph was freed here")]
            if shared is not None:
                related.append(Related(shared.span, "computed once here, for every density of it"))
            yield self.finding(message, event.span, related, [fix] if fix else [], severity)


@register
class GradOfUnusedInput(Rule):
    code = "GW107"
    name = "grad-of-unused-input"
    severity = Severity.ERROR
    summary = "`torch.autograd.grad` asks for the gradient of an input the outputs do not depend on."
    explanation = f"""
`torch.autograd.grad(outputs, inputs)` raises when one of the inputs does not take
part in computing the outputs (unless `allow_unused=True`, which returns None for it):

    RuntimeError: The differentiated Tensor at index 1 {UNUSED}. Set allow_unused=True if this is the desired behavior.
"""
    fix_summary = "Drop the input, use it in the computation, or pass `allow_unused=True` (an unsafe fix: its gradient is then None)."
    examples = (
        Example(
            """
import torch

x = torch.randn(3, requires_grad=True)
y = torch.randn(3, requires_grad=True)
out = (x.exp()).sum()
grads = torch.autograd.grad(out, [x, y])
""",
            raises(UNUSED),
            line=7,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(3, requires_grad=True)
y = torch.randn(3, requires_grad=True)
out = (x.exp() * y).sum()
grads = torch.autograd.grad(out, [x, y])
""",
        """
import torch

x = torch.randn(3, requires_grad=True)
y = torch.randn(3, requires_grad=True)
out = (x.exp()).sum()
grads = torch.autograd.grad(out, [x, y], allow_unused=True)
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.grad_calls:
            if event.allow_unused is not NO or not event.outputs:
                continue
            if not all(t.known and t.requires_grad is YES for t in event.outputs):
                continue
            used = frozenset().union(*(t.sources for t in event.outputs))
            for tensor, span, text in event.inputs:
                if not tensor.known or tensor.requires_grad is not YES or tensor.is_leaf is not YES:
                    continue
                if not tensor.sources or tensor.sources & used:
                    continue
                message = (
                    f"`torch.autograd.grad` will raise: the outputs do not depend on `{text}` "
                    f"(RuntimeError: The differentiated Tensor ... {UNUSED})"
                )
                fix = add_argument(
                    event.node, facts.source, "allow_unused=True", "Return None for it: `allow_unused=True`"
                )
                yield self.finding(message, span, [], [fix] if fix else [])


IMPLICIT_SCALAR = "grad can be implicitly created only for scalar outputs"


@register
class BackwardOnNonScalar(Rule):
    code = "GW112"
    name = "backward-on-non-scalar"
    severity = Severity.ERROR
    summary = (
        "`backward()` without a `gradient`, or `torch.autograd.grad` without `grad_outputs`, "
        "of a tensor that provably has more than one element."
    )
    explanation = f"""
`backward()` with no gradient argument starts from a gradient of 1, which only
makes sense for a single number; so do `torch.autograd.grad(y, x)` without
`grad_outputs` and `torch.autograd.backward(y)` without `grad_tensors`. On a
tensor with several elements torch raises:

    RuntimeError: {IMPLICIT_SCALAR}

`retain_graph=` or `inputs=` do not change that; only a gradient does.

How many elements a result has comes from its shape where the code proves one
(hover a tensor name to see it): literal factory sizes (`torch.randn(8, 32)`),
torch modules' configuration (`nn.Linear(32, 4)`, `Conv2d`, adaptive pools,
`Flatten`), jaxtyping annotations of parameters (`x: Float[Tensor, "batch 3"]`),
asserts (`assert x.shape == (B, 3)`), and the ops between: those the probe
measured as keeping the broadcast shape, reductions with `dim`/`keepdim`,
`squeeze`/`unsqueeze`, `view`/`reshape`, `permute`/`transpose`, `matmul`,
`stack`/`cat`, indexing, and losses asked not to reduce (`reduction='none'`, the
legacy `reduce=False`). One known size other than 1 is enough: the tensor then
has 0 or at least 2 elements; a size known only by name (`batch`) may be 1, so
it never counts. Elsewhere the measured element counts of the ops decide
(elementwise ops keep their inputs' size, `sum()` and the default-reduction
losses give one).
"""
    fix_summary = "Reduce first (`y.sum().backward()` or `.mean()`), or pass `gradient=torch.ones_like(y)`."
    examples = (
        Example(
            """
import torch

x = torch.randn(3, requires_grad=True)
y = x * 2
y.backward()
""",
            raises(IMPLICIT_SCALAR),
            line=6,
        ),
        Example(
            """
import torch
import torch.nn.functional as F

pred = torch.randn(4, requires_grad=True)
loss = F.mse_loss(pred, torch.zeros(4), reduction="none")
loss.backward()
""",
            raises(IMPLICIT_SCALAR),
            line=7,
        ),
        Example(
            """
import torch

x = torch.randn(5, 3, requires_grad=True)
y = (x * x).sum(dim=1)
(dx,) = torch.autograd.grad(y, x)
""",
            raises(IMPLICIT_SCALAR),
            line=6,
        ),
        Example(
            """
import torch

x = torch.randn(3, 2, requires_grad=True)
y = x * 2
(dx,) = torch.autograd.grad(y[:, 0], x)
""",
            raises(IMPLICIT_SCALAR),
            line=6,
        ),
        Example(
            """
import torch

x = torch.randn(3, requires_grad=True)
torch.autograd.backward(x.exp())
""",
            raises(IMPLICIT_SCALAR),
            line=5,
        ),
        Example(
            """
import torch

w = torch.randn(4, 3, requires_grad=True)
scores = torch.randn(2, 4) @ w
(dw,) = torch.autograd.grad(outputs=scores.max(dim=1).values, inputs=w)
""",
            raises(IMPLICIT_SCALAR),
            line=6,
        ),
        Example(
            """
import torch
import torch.nn as nn

head = nn.Linear(32, 4)
scores = head(torch.randn(8, 32)).mean(dim=0)
scores.backward(retain_graph=True)
""",
            raises(IMPLICIT_SCALAR),
            line=7,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(3, requires_grad=True)
y = x * 2
y.sum().backward()
y2 = x * 3
y2.backward(gradient=torch.ones_like(y2))
z = torch.randn(1, requires_grad=True) * 2
z.backward()
torch.autograd.backward(x * 4, grad_tensors=torch.ones(3))
torch.autograd.backward(x.exp().sum())
w = torch.randn(8, 10, requires_grad=True)
w.sum().type_as(w).backward()
w.mean().to(w).backward()
""",
        """
import torch
import torch.nn as nn
import torch.nn.functional as F

x = torch.randn(5, 3, requires_grad=True)
y = (x * x).sum(dim=1)
(dx,) = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y), retain_graph=True)
(dx,) = torch.autograd.grad(y.sum(), x, retain_graph=True)
(dx,) = torch.autograd.grad(y[0], x)
logits = torch.randn(1, 3, requires_grad=True)
soft_targets = torch.softmax(torch.randn(1, 3), dim=1)
F.cross_entropy(logits, soft_targets, reduction="none").backward()
nn.MSELoss(reduce=True, reduction="none")(logits, torch.randn(1, 3)).backward()
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.backwards:
            node = event.node
            if event.implicit or not isinstance(node, ast.Call) or _passes_gradient(node):
                continue
            if not isinstance(node.func, ast.Attribute) or node.func.attr != "backward":
                continue
            target = event.target
            if target.multi_element is not YES or target.requires_grad is not YES:
                continue
            message = (
                f"`{facts.source.text_of(event.span)}` will raise: `{event.target_text}` has more than one element "
                f"(RuntimeError: {IMPLICIT_SCALAR})"
            )
            through_autograd = _autograd_module(node)  # `torch.autograd.backward(y)`
            reduced = node.args[0] if through_autograd else node.func.value
            receiver = facts.source.span(reduced)
            at = Span(receiver.end_line, receiver.end_column, receiver.end_line, receiver.end_column)
            fixes = []
            if isinstance(reduced, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
                fixes.append(Fix("Reduce it first: `.sum().backward()`", (TextEdit(at, ".sum()"),), safe=False))
            keyword_name = "grad_tensors" if through_autograd else "gradient"
            gradient = add_argument(
                event.node,
                facts.source,
                f"{keyword_name}=torch.ones_like({event.target_text})",
                f"Pass `{keyword_name}=torch.ones_like(...)`",
            )
            if gradient is not None and event.target_text.isidentifier():
                fixes.append(gradient)
            yield self.finding(message, event.span, [], fixes)
        yield from self._grad_calls(facts)

    def _grad_calls(self, facts: Facts) -> Iterator[Finding]:
        """`torch.autograd.grad(y, x)` of a `y` with more than one element needs `grad_outputs`."""
        for event in facts.grad_calls:
            node = event.node
            if len(node.args) > 2 or any(k.arg in ("grad_outputs", None) for k in node.keywords):
                continue
            # `torch.autograd.grad(y, x)` or `torch.autograd.grad(outputs=y, inputs=x)`
            written = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "outputs"), None)
            if written is None:
                continue
            items = written.elts if isinstance(written, (ast.List, ast.Tuple)) else [written]
            if len(items) != len(event.outputs) or any(isinstance(item, ast.Starred) for item in items):
                continue
            for output, item in zip(event.outputs, items):
                if output.multi_element is not YES or output.requires_grad is not YES:
                    continue
                text = facts.source.text_of(facts.source.span(item))
                message = (
                    f"`{facts.source.text_of(event.span)}` will raise: `{text}` has more than one element and "
                    f"no `grad_outputs` is given (RuntimeError: {IMPLICIT_SCALAR})"
                )
                fix = add_argument(node, facts.source, f"grad_outputs=torch.ones_like({text})", "Pass `grad_outputs`")
                yield self.finding(message, event.span, [], [fix] if fix is not None and text.isidentifier() else [])
                break


def _passes_gradient(node: ast.Call) -> bool:
    """`y.backward(g)` / `y.backward(gradient=g)` (or arguments that may hold one): only a
    gradient lifts the one-element requirement, `retain_graph=` and `inputs=` do not.
    `torch.autograd.backward(y, g)` / `grad_tensors=g` says it after the tensor."""
    if _autograd_module(node):
        return len(node.args) != 1 or any(k.arg in ("grad_tensors", "tensors", None) for k in node.keywords)
    return bool(node.args) or any(k.arg in ("gradient", None) for k in node.keywords)


def _autograd_module(node: ast.Call) -> bool:
    """`torch.autograd.backward(...)` / `autograd.backward(...)`, not `y.backward(...)`."""
    receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
    return (isinstance(receiver, ast.Name) and receiver.id == "autograd") or (
        isinstance(receiver, ast.Attribute) and receiver.attr == "autograd"
    )
