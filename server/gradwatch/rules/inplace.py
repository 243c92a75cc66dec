"""GW2xx: in-place modifications that autograd rejects, or that deserve a second look."""

from __future__ import annotations

from typing import Iterator

from gradwatch.analysis.events import Facts
from gradwatch.analysis.values import NO, YES
from gradwatch.findings import Finding, Related, Severity
from gradwatch.rules import register
from gradwatch.rules.base import RUNS, Example, Rule, raises
from gradwatch.rules.rewrites import clone_first, out_of_place, turn_off_inplace, wrap_in_no_grad

MODIFIED_SAVED = "one of the variables needed for gradient computation has been modified by an inplace operation"
LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF_INPLACE = "a view of a leaf Variable that requires grad is being used in an in-place operation."


@register
class InPlaceOnSavedTensor(Rule):
    code = "GW201"
    name = "inplace-on-saved-tensor"
    severity = Severity.ERROR
    summary = "An in-place op modifies a tensor that an earlier op saved for backward, and a backward through that op follows."
    explanation = f"""
Many ops keep a tensor for their backward: `sigmoid`, `exp`, `tanh`, `relu` and
`softmax` keep their output; `a * w`, `a @ w`, `F.linear`, the norms and most
losses keep their inputs (which ones is measured from torch and shipped with
gradwatch). Modifying such a tensor in place (`add_`, `+=`, `x[i] = v`,
`inplace=True`) bumps its version counter, and the backward through the op
that saved it raises:

    RuntimeError: {MODIFIED_SAVED}: ... is at version 1; expected version 0 instead

Inside `forward` of an `nn.Module` the output is assumed to be backpropagated.
"""
    fix_summary = "Compute out of place: `y.add_(x)` becomes `y = y + x` (or clone the tensor before modifying it)."
    examples = (
        Example(
            """
import torch

x = torch.randn(3, requires_grad=True)
y = x.sigmoid()
y.add_(1)
y.sum().backward()
""",
            raises(MODIFIED_SAVED),
            line=6,
        ),
        Example(
            """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        identity = x
        out = F.relu(self.fc(x))
        out += identity
        return out


block = Block()
block(torch.randn(2, 4)).sum().backward()
""",
            raises(MODIFIED_SAVED),
            line=15,
        ),
        Example(
            """
import torch

a = torch.randn(3)
w = torch.randn(3, requires_grad=True)
y = a * w
a[0] = 0.0
y.sum().backward()
""",
            raises(MODIFIED_SAVED),
            line=7,
        ),
        Example(
            """
import torch
import torch.nn as nn

x = torch.randn(4, requires_grad=True)
gate = torch.sigmoid(x)
act = nn.ReLU(inplace=True)
out = act(gate)
out.sum().backward()
""",
            raises(MODIFIED_SAVED),
            line=8,
        ),
        Example(
            """
import torch
import torch.nn as nn

gate = nn.Sequential(
    nn.Linear(4, 4),
    nn.Sigmoid(),
    nn.ReLU(inplace=True),
)
gate(torch.randn(2, 4)).sum().backward()
""",
            raises(MODIFIED_SAVED),
            line=8,
        ),
        Example(
            """
import torch
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.qkv = nn.Linear(dim, dim * 3)
        self.attn_drop = nn.Dropout(0.1, inplace=True)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        attn = self.attn_drop(attn)
        return attn @ v


Attention(8)(torch.randn(2, 3, 8)).sum().backward()
""",
            raises(MODIFIED_SAVED),
            line=15,
        ),
        Example(
            """
import torch
import torch.nn as nn

actor = nn.Linear(4, 2)
critic = nn.Linear(2, 1)
critic_opt = torch.optim.SGD(critic.parameters(), lr=0.1)
v = critic(actor(torch.randn(3, 4)))
v_loss = (v - 1.0).pow(2).mean()
v_loss.backward(retain_graph=True)
critic_opt.step()
(-v.mean()).backward()
""",
            raises(MODIFIED_SAVED),
            line=11,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(3, requires_grad=True)
y = x.sigmoid()
y = y + 1
y.sum().backward()
""",
        """
import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x
        out = self.bn(self.conv(x))
        out += identity
        out = self.relu(out)
        return out


block = BasicBlock()
block(torch.randn(1, 2, 4, 4)).sum().backward()
""",
        """
import torch

x = torch.randn(3, requires_grad=True)
y = x.exp()
y.sum().backward()
y.add_(1)
""",
        """
import torch
import torch.nn as nn

critic = nn.Linear(2, 1)
critic_opt = torch.optim.SGD(critic.parameters(), lr=0.1)
v = critic(torch.randn(3, 2))
v.mean().backward(retain_graph=True)
critic_opt.step()
v.sum().backward()
""",
        """
import torch
import torch.nn as nn

discriminator = nn.Sequential(
    nn.Conv2d(3, 4, 3),
    nn.BatchNorm2d(4),
    nn.LeakyReLU(0.2, inplace=True),
    nn.Flatten(),
    nn.Linear(16, 8),
    nn.LeakyReLU(0.2, inplace=True),
    nn.Linear(8, 1),
    nn.Sigmoid(),
)
discriminator(torch.randn(2, 3, 4, 4)).mean().backward()
""",
        """
import torch
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.qkv = nn.Linear(dim, dim * 3)
        self.attn_drop = nn.Dropout(0.0, inplace=True)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        attn = self.attn_drop(attn)
        return attn @ v


Attention(8)(torch.randn(2, 3, 8)).sum().backward()
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in [*facts.backwards, *facts.grad_calls]:
            implicit = getattr(event, "implicit", False)
            for saved_op, inplace in event.clobbered:
                if implicit:
                    when = "backpropagating through this module's output will raise"
                else:
                    when = f"`{facts.source.text_of(event.span)}` (line {event.span.line}) will raise"
                if inplace.condition:
                    when += f" {inplace.condition}"
                if inplace.spelling == "step()":
                    # An optimizer step: the modified tensors are the parameters the op kept.
                    message = (
                        f"`{facts.source.text_of(inplace.span)}` updates in place the parameters that "
                        f"`{saved_op.op}` (line {saved_op.span.line}) saved for backward: {when} ({MODIFIED_SAVED})"
                    )
                else:
                    message = (
                        f"`{facts.source.text_of(inplace.span)}` modifies {inplace.subject_text()} in place, but "
                        f"`{saved_op.op}` (line {saved_op.span.line}) saved {saved_op.what} for backward: "
                        f"{when} ({MODIFIED_SAVED})"
                    )
                related = [
                    Related(saved_op.span, f"`{saved_op.op}` saved {saved_op.what} here"),
                    Related(event.span, "backward through it"),
                ]
                called_at = facts.source.span(inplace.node)
                if called_at != inplace.span:
                    related.insert(1, Related(called_at, f"`{facts.source.text_of(called_at)}` runs it"))
                related[1:1] = [
                    Related(site, f"called here: `{facts.source.text_of(site)}`") for site in inplace.chain
                ]
                if inplace.elsewhere is not None:
                    where = inplace.elsewhere
                    related.insert(0, Related(where.span, where.text, where.path))
                    message += f"; the modification happens at {where.where()}"
                fixes = [
                    fix
                    for fix in (
                        turn_off_inplace(inplace, facts),
                        out_of_place(inplace, facts),
                        clone_first(inplace, facts),
                    )
                    if fix
                ]
                severity = None if inplace.certain else Severity.WARNING
                yield self.finding(message, inplace.span, related, fixes, severity=severity)


@register
class InPlaceOnLeaf(Rule):
    code = "GW202"
    name = "inplace-on-leaf"
    severity = Severity.ERROR
    summary = "An in-place op on a leaf tensor that requires grad (or a view of one), outside `torch.no_grad()`."
    explanation = f"""
torch refuses to modify a leaf that requires grad in place while it records the
graph, since the change could not be differentiated:

    RuntimeError: {LEAF_INPLACE}

For a slice or view of such a leaf: `RuntimeError: {VIEW_OF_LEAF_INPLACE}`

Initialising or updating parameters by hand belongs under `with torch.no_grad():`.
"""
    fix_summary = "Do the modification under `with torch.no_grad():` (an unsafe fix: the change is then not tracked)."
    examples = (
        Example(
            """
import torch

w = torch.randn(3, requires_grad=True)
w.add_(1)
""",
            raises(LEAF_INPLACE),
            line=5,
        ),
        Example(
            """
import torch

w = torch.randn(3, requires_grad=True)
w[0] = 0.0
""",
            raises(VIEW_OF_LEAF_INPLACE),
            line=5,
        ),
    )
    near_misses = (
        """
import torch

w = torch.randn(3, requires_grad=True)
with torch.no_grad():
    w.add_(1)
""",
        """
import torch

w = torch.randn(3, requires_grad=True)
w.data.mul_(2)
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.inplace_ops:
            target = event.target
            if event.grad_enabled is not YES or event.through_data or not target.known:
                continue
            is_leaf = target.is_leaf is YES and target.requires_grad is YES
            if not (is_leaf or target.view_of_leaf):
                continue
            error = LEAF_INPLACE if is_leaf and event.spelling != "[...] =" else VIEW_OF_LEAF_INPLACE
            message = (
                f"`{facts.source.text_of(event.span)}` will raise: `{event.target_text}` is a leaf tensor that "
                f"requires grad ({error})"
            )
            related = [Related(target.origin.span, "created here with requires_grad=True")] if target.origin else []
            fix = wrap_in_no_grad(event, facts)
            yield self.finding(message, event.span, related, [fix] if fix else [])


@register
class InPlaceOnGraphTensor(Rule):
    code = "GW203"
    name = "inplace-on-graph-tensor"
    severity = Severity.HINT
    summary = "An in-place op on a tensor in the autograd graph that is legal today because nothing saved it."
    explanation = """
Modifying a non-leaf tensor in place is allowed when no op kept it for
backward: `y = x * 2; y.add_(x)` differentiates correctly, because multiplying
by a number saves nothing. It stays correct only as long as that holds: put a
`sigmoid` or a `*` with a tensor that requires grad in between and backward
raises "one of the variables needed for gradient computation has been modified
by an inplace operation". The out-of-place form costs one allocation and never
breaks.
"""
    fix_summary = "Rewrite out of place: `y.add_(x)` becomes `y = y + x`."
    examples = (
        Example(
            """
import torch

x = torch.randn(10, requires_grad=True)
y = x * 2
y.add_(x)
loss = y.sum()
loss.backward()
""",
            RUNS,
            line=6,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(10, requires_grad=True)
y = x * 2
y = y + x
loss = y.sum()
loss.backward()
""",
        """
import torch

x = torch.randn(10)
x.add_(1)
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.inplace_ops:
            target = event.target
            if event.clobbers or event.through_data or not target.known or target.storage is None:
                continue
            if target.requires_grad is not YES or target.is_leaf is not NO or event.grad_enabled is NO:
                continue
            fix = out_of_place(event, facts)
            if fix is None:
                continue
            message = (
                f"`{facts.source.text_of(event.span)}` modifies a tensor in the autograd graph in place; legal here "
                f"because no op saved `{event.target_text}` for backward, but fragile: an op that saves it would "
                f"make backward raise"
            )
            yield self.finding(message, event.span, (), [fix])


@register
class InPlaceThroughDataOnSavedTensor(Rule):
    code = "GW204"
    name = "data-inplace-on-saved-tensor"
    severity = Severity.WARNING
    summary = "An in-place change through `.data` to a tensor an op saved for backward: the gradient is silently wrong."
    explanation = """
`.data` gives the same memory without autograd tracking and without the version
counter, so torch cannot notice that a tensor saved for backward was changed:
instead of raising, the backward through the op that saved it computes with the
changed values and returns a wrong gradient, silently.
"""
    fix_summary = "Change a copy (`h = h * 2`), or make the change after the backward."
    examples = (
        Example(
            """
import torch

x = torch.ones(3, requires_grad=True)
h = x.exp()
h.data.mul_(2)
h.sum().backward()
# The right gradient is exp(1) = 2.718...; backward used the doubled saved output.
assert torch.allclose(x.grad, 2 * torch.exp(torch.ones(3)))
""",
            RUNS,
            line=6,
        ),
    )
    near_misses = (
        """
import torch

x = torch.ones(3, requires_grad=True)
h = x.exp()
h.sum().backward()
h.data.mul_(2)
assert torch.allclose(x.grad, torch.exp(torch.ones(3)))
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.inplace_ops:
            if not event.through_data or not event.clobbers:
                continue
            later = [
                b
                for b in [*facts.backwards, *facts.grad_calls]
                if b.span > event.span and _history(b) & set(event.clobbers)
            ]
            if not later:
                continue
            saved = event.clobbers[0]
            message = (
                f"`{facts.source.text_of(event.span)}` changes a tensor that `{saved.op}` (line {saved.span.line}) "
                f"saved for backward, through `.data`: torch cannot detect it, and "
                f"`{facts.source.text_of(later[0].span)}` (line {later[0].span.line}) computes a wrong gradient"
            )
            related = [Related(saved.span, f"`{saved.op}` saved {saved.what} here"), Related(later[0].span, "backward")]
            yield self.finding(message, event.span, related)


def _history(event) -> set:
    targets = [event.target] if hasattr(event, "target") else list(event.outputs)
    return set().union(*(t.certain_history for t in targets))
