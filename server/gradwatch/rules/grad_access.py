"""GW103, GW104, GW111: asking for a gradient that a tensor never gets."""

from __future__ import annotations

from typing import Iterator

from gradwatch.analysis.events import Facts
from gradwatch.analysis.values import NO, YES
from gradwatch.findings import Finding, Related, Severity
from gradwatch.rules import register
from gradwatch.rules.base import Example, Rule, grad_none, raises, warns
from gradwatch.rules.rewrites import add_requires_grad

NON_LEAF_GRAD = "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed"


@register
class GradForTensorWithoutGrad(Rule):
    code = "GW103"
    name = "grad-of-tensor-without-grad"
    severity = Severity.ERROR
    summary = "`torch.autograd.grad` asks for the gradient of a tensor that does not require grad."
    explanation = """
`torch.autograd.grad(outputs, inputs)` checks every input first: one that does not
require grad makes it raise

    RuntimeError: One of the differentiated Tensors does not require grad

(A plain `loss.backward()` is different: it simply leaves such a tensor's `.grad`
None; see GW104.)
"""
    fix_summary = "Create the tensor with `requires_grad=True` (or call `.requires_grad_()` on it first)."
    examples = (
        Example(
            """
import torch

x = torch.randn(10, requires_grad=True)
w = torch.randn(10)
loss = (x * w).sum()
grads = torch.autograd.grad(loss, [x, w])
""",
            raises("One of the differentiated Tensors does not require grad"),
            line=7,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(10, requires_grad=True)
w = torch.randn(10, requires_grad=True)
loss = (x * w).sum()
grads = torch.autograd.grad(loss, [x, w])
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.grad_calls:
            for tensor, span, text in event.inputs:
                if not tensor.known or tensor.requires_grad is not NO:
                    continue
                message = (
                    f"`torch.autograd.grad` will raise: `{text}` does not require grad "
                    f"(RuntimeError: One of the differentiated Tensors does not require grad)"
                )
                related = (
                    [Related(tensor.origin.span, f"`{text}` created here without requires_grad=True")]
                    if tensor.origin
                    else []
                )
                fix = add_requires_grad(tensor.factory, facts) if tensor.factory else None
                yield self.finding(message, span, related, [fix] if fix else [])


@register
class GradAlwaysNone(Rule):
    code = "GW104"
    name = "grad-always-none"
    severity = Severity.WARNING
    summary = (
        "Reading `.grad` of a tensor that does not require grad, after a backward it took part in: it is always None."
    )
    explanation = """
`loss.backward()` only fills `.grad` of leaf tensors that require grad. A tensor
created without `requires_grad=True` takes part in the computation, but torch
computes no gradient for it: its `.grad` stays None, without any error, and code
that reads it (an update step, a gradient norm) silently does nothing or fails
later with a TypeError on None.
"""
    fix_summary = "Create the tensor with `requires_grad=True` if you want its gradient."
    examples = (
        Example(
            """
import torch

x = torch.randn(10, requires_grad=True)
w = torch.randn(10)
loss = (x * w).sum()
loss.backward()
print(w.grad)
""",
            grad_none("w"),
            line=8,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(10, requires_grad=True)
w = torch.randn(10)
loss = (x * w).sum()
loss.backward()
print(x.grad)
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for read in facts.grad_reads:
            tensor = read.target
            if not tensor.known or tensor.requires_grad is not NO or tensor.is_leaf is not YES:
                continue
            if tensor.storage is None or tensor.through_data:
                continue
            backward = next(
                (
                    b
                    for b in facts.backwards
                    if not b.implicit and b.span < read.span and b.target.depends_on(tensor.storage) is YES
                ),
                None,
            )
            if backward is None:
                continue
            message = (
                f"`{read.target_text}.grad` is always None: `{read.target_text}` does not require grad, so "
                f"`{facts.source.text_of(backward.span)}` (line {backward.span.line}) computes no gradient for it"
            )
            related = [Related(backward.span, "backward that skips it")]
            if tensor.origin:
                related.append(Related(tensor.origin.span, "created here without requires_grad=True"))
            fix = add_requires_grad(tensor.factory, facts) if tensor.factory else None
            yield self.finding(message, read.span, related, [fix] if fix else [])


@register
class GradOfNonLeaf(Rule):
    code = "GW111"
    name = "grad-of-non-leaf"
    severity = Severity.WARNING
    summary = "Reading `.grad` of a tensor computed from others (not a leaf): it is None."
    explanation = """
backward() fills `.grad` only for leaves. A tensor made with `requires_grad=True`
and then converted (`.double()`, `.to(torch.float64)`, `.type(torch.DoubleTensor)`,
`.cuda()` of a tensor made on the CPU) or scaled
(`torch.randn(3, requires_grad=True) * 0.01`) is a new, computed tensor: its
`.grad` stays None, the leaf it came from gets the gradient, and torch warns:

    UserWarning: The .grad attribute of a Tensor that is not a leaf Tensor is being accessed.
"""
    fix_summary = "Create the tensor with the dtype and device it needs (`torch.randn(3, dtype=torch.float64, requires_grad=True)`), or call `.retain_grad()` on it."
    examples = (
        Example(
            """
import torch

x = torch.randn(4, requires_grad=True).double()
loss = (x * x).sum()
loss.backward()
print(x.grad)
""",
            warns(NON_LEAF_GRAD),
            line=7,
        ),
        Example(
            """
import torch

w = torch.randn(4, requires_grad=True) * 0.01
loss = (w * 3).sum()
loss.backward()
step = w.grad
""",
            warns(NON_LEAF_GRAD),
            line=7,
        ),
        Example(
            """
import torch

# the legacy spelling of a dtype (and, for torch.cuda.FloatTensor, of a GPU): a copy
dtype = torch.cuda.FloatTensor if torch.cuda.is_available() else torch.DoubleTensor
w = torch.randn(4, requires_grad=True).type(dtype)
loss = (w * w).sum()
loss.backward()
print(w.grad)
""",
            warns(NON_LEAF_GRAD),
            line=9,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(4, dtype=torch.float64, requires_grad=True)
loss = (x * x).sum()
loss.backward()
print(x.grad)
""",
        """
import torch

x = torch.randn(4, requires_grad=True).double()
x.retain_grad()
loss = (x * x).sum()
loss.backward()
print(x.grad)
""",
        """
import torch

device = "cpu"
x = torch.randn(4, requires_grad=True).to(device)
loss = (x * x).sum()
loss.backward()
print(x.grad)
""",
        """
import torch

# converting to the type it has returns the tensor itself, still a leaf
x = torch.randn(4, requires_grad=True).type(torch.FloatTensor)
loss = (x * x).sum()
loss.backward()
print(x.grad)
""",
        """
import torch

# made float64: converting to float64 returns the tensor itself, still a leaf
x = torch.randn(4, dtype=torch.double, requires_grad=True).to(torch.float64)
y = torch.randn(4, dtype=torch.float64, requires_grad=True).double()
loss = (x * y).sum()
loss.backward()
print(x.grad, y.grad)
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for read in facts.grad_reads:
            tensor = read.target
            if not tensor.known or tensor.is_leaf is not NO or tensor.requires_grad is not YES or tensor.retains_grad:
                continue
            message = (
                f"`{read.target_text}.grad` is None: `{read.target_text}` is computed from other tensors, not a leaf, "
                f"so backward() does not fill its .grad (UserWarning: The .grad attribute of a Tensor that is not a leaf "
                f"Tensor is being accessed)"
            )
            related = [Related(tensor.origin.span, "computed here")] if tensor.origin else []
            yield self.finding(message, read.span, related)
