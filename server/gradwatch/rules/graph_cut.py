"""GW1xx: the gradient path is cut, so backward raises or a gradient never arrives."""

from __future__ import annotations

from typing import Iterator

from gradwatch.analysis.events import Facts
from gradwatch.analysis.values import NO, YES
from gradwatch.findings import Finding, Related, Severity
from gradwatch.rules import register
from gradwatch.rules.base import Example, Rule, grad_none, grad_zero, raises
from gradwatch.rules.rewrites import remove_detach, use_rsample

NON_LEAF_GRAD = "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed"
NO_GRAD_FN = "element 0 of tensors does not require grad and does not have a grad_fn"


@register
class BackwardWithoutGraph(Rule):
    code = "GW101"
    name = "backward-without-graph"
    severity = Severity.ERROR
    summary = "`backward()` or `torch.autograd.grad` on a value that provably has no autograd graph."
    explanation = f"""
torch can only backpropagate from a tensor that requires grad. When everything a
loss is computed from is constant, or the path from the parameters was cut (by
`.detach()`, `torch.no_grad()`, `torch.inference_mode()`, `.item()`, re-wrapping
with `torch.tensor(...)`, a non-differentiable op such as `argmax`, a comparison
or an integer cast, or a draw from a distribution with `sample()`, which runs
under no_grad where `rsample()` would keep the path), the loss has no `grad_fn`
and torch raises:

    RuntimeError: {NO_GRAD_FN}

The finding cites the line that cut the graph.
"""
    fix_summary = (
        "Remove the `.detach()` that cut the graph (offered when a `.detach()` is the cause), draw with `rsample()` "
        "instead of `sample()` (offered where the distribution has one), or compute the loss with gradients enabled."
    )
    examples = (
        Example(
            """
import torch
import torch.nn.functional as F

x = torch.randn(10, requires_grad=True)
y = F.relu(x)
z = y.detach()
loss = z.sum()
loss.backward()
""",
            raises(NO_GRAD_FN),
            line=9,
        ),
        Example(
            """
import torch

w = torch.randn(3, requires_grad=True)
with torch.no_grad():
    pred = w * 2
loss = pred.sum()
loss.backward()
""",
            raises(NO_GRAD_FN),
            line=8,
        ),
        Example(
            """
import torch

w = torch.randn(4, requires_grad=True)
scores = w * 3
label = scores.argmax()
loss = label.float()
loss.backward()
""",
            raises(NO_GRAD_FN),
            line=8,
        ),
        Example(
            """
import torch

w = torch.randn(4, requires_grad=True)
total = (w ** 2).sum().item()
loss = torch.tensor(total)
loss.backward()
""",
            raises(NO_GRAD_FN),
            line=7,
        ),
        Example(
            """
import torch
import torch.nn as nn

model = nn.Linear(4, 2)
for p in model.parameters():
    p.requires_grad = False
loss = model(torch.randn(3, 4)).sum()
loss.backward()
""",
            raises(NO_GRAD_FN),
            line=9,
        ),
        Example(
            """
import torch
from torch.distributions import Normal

mu = torch.zeros(3, requires_grad=True)
z = Normal(mu, 1.0).sample()
loss = (z ** 2).sum()
loss.backward()
""",
            raises(NO_GRAD_FN),
            line=8,
        ),
    )
    near_misses = (
        """
import torch
import torch.nn.functional as F

x = torch.randn(10, requires_grad=True)
y = F.relu(x)
loss = y.sum()
loss.backward()
""",
        """
import torch
import torch.nn.functional as F

q = torch.randn(1, 2, 4, 8, requires_grad=True)
k = torch.randn(1, 2, 4, 8)
out = F.scaled_dot_product_attention(query=q, key=k, value=k)
(dq,) = torch.autograd.grad(outputs=out, inputs=[q], grad_outputs=torch.ones_like(out))
w = torch.randn(3, requires_grad=True)
F.mse_loss(input=w, target=torch.zeros(3)).backward()
""",
        """
import torch

x = torch.randn(10, requires_grad=True)
w = torch.randn(10, requires_grad=False)
y = x * w
loss = y.sum()
loss.backward()
""",
        """
import torch

w = torch.randn(3, requires_grad=True)
with torch.no_grad():
    scale = w.mean()
loss = (w * scale).sum()
loss.backward()
""",
        """
import torch
from torch.distributions import Normal

mu = torch.zeros(3, requires_grad=True)
z = Normal(mu, 1.0).rsample()
loss = (z ** 2).sum()
loss.backward()
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.backwards:
            target = event.target
            if event.implicit or not target.known or target.requires_grad is not NO:
                continue
            call = facts.source.text_of(event.span)
            yield self._finding(call, event.target_text, target, event.span, facts)
        for event in facts.grad_calls:
            if event.outputs and all(t.known and t.requires_grad is NO for t in event.outputs):
                names = ", ".join(facts.source.segment(a) for a in event.node.args[:1]) or "the outputs"
                yield self._finding("torch.autograd.grad(...)", names, event.outputs[0], event.span, facts)

    def _finding(self, call, target_text, target, span, facts) -> Finding:
        if target.cuts:
            cut = target.cuts[-1]
            because = f"{cut.text} ({cut.where()})"
        else:
            because = "nothing it is computed from requires grad"
        message = f"`{call}` will raise: `{target_text}` has no grad_fn because {because} (RuntimeError: {NO_GRAD_FN})"
        related = [Related(cut.span, cut.text, cut.path) for cut in target.cuts]
        detached = [cut for cut in target.cuts if cut.kind == "detach" and cut.path is None]
        fix = remove_detach(detached[-1].span, facts) if detached else None
        if fix is None and target.cuts:
            fix = use_rsample(target.cuts[-1])
        return self.finding(message, span, related, [fix] if fix else [])


# Cuts after which torch still runs the backward (through the loss's other paths) and
# only leaves the cut-off tensors' .grad None. Not inference mode: torch refuses to
# save an inference tensor for backward, so that cut may raise instead.
SILENT_CUT_KINDS = frozenset({"detach", "data", "no_grad", "sample"})


@register
class DetachCutsTrainedTensor(Rule):
    code = "GW102"
    name = "detach-cuts-trained-tensor"
    severity = Severity.WARNING
    summary = (
        "`.detach()`, `.data`, `torch.no_grad()` or a distribution's `sample()` cuts tensors you train off from "
        "every backward in the file, so they silently get no gradient."
    )
    explanation = """
`.detach()` and `.data` return a tensor without history, and ops run under
`with torch.no_grad()` record none. When the only route from a tensor you meant
to train (created with `requires_grad=True`, an `nn.Parameter`, or parameters
given to an optimizer) to any backpropagated loss goes through such a cut, the
loss still has a graph through other paths, so `backward()` succeeds, but those
tensors' `.grad` stays None and the optimizer never moves them. torch raises
nothing; training just quietly does not learn them.

Cutting on purpose (a GAN's discriminator step, a target network, a
straight-through estimator, a frozen encoder) is fine when the same tensors get
their gradient from another backward, or are not given to an optimizer: this
rule stays quiet then.
"""
    fix_summary = (
        "Remove the `.detach()`, or draw with `rsample()` where the distribution has one (unsafe fixes: they change "
        "which tensors train); other cuts have no automatic fix."
    )
    examples = (
        Example(
            """
import torch

w = torch.randn(3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
x = torch.randn(3)
hidden = (x * w).detach()
loss = (hidden * b).sum()
loss.backward()
""",
            grad_none("w"),
            line=7,
        ),
        Example(
            """
import torch

w = torch.randn(3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
x = torch.randn(3)
with torch.no_grad():
    hidden = x * w
loss = (hidden * b).sum()
loss.backward()
""",
            grad_none("w"),
            line=7,
        ),
        Example(
            """
import torch

w = torch.randn(3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
x = torch.randn(3)
loss = (x * w.data + b).sum()
loss.backward()
""",
            grad_none("w"),
            line=7,
        ),
        Example(
            """
import torch
from torch.distributions import Normal

encode = torch.randn(8, 2, requires_grad=True)
decode = torch.randn(2, 8, requires_grad=True)
x = torch.randn(16, 8)
z = Normal(x @ encode, 1.0).sample()
loss = ((z @ decode - x) ** 2).mean()
loss.backward()
""",
            grad_none("encode"),
            line=8,
        ),
    )
    near_misses = (
        """
import torch

w = torch.randn(3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
x = torch.randn(3)
hidden = x * w
loss_b = (hidden.detach() * b).sum()
loss_b.backward()
loss_w = (hidden * b).sum()
loss_w.backward()
""",
        """
import torch
import torch.nn as nn

encoder = nn.Linear(4, 4)
head = nn.Linear(4, 1)
optimizer = torch.optim.SGD(head.parameters(), lr=0.1)
with torch.no_grad():
    features = encoder(torch.randn(2, 4))
loss = head(features).sum()
loss.backward()
optimizer.step()
""",
        """
import torch

w = torch.randn(3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
x = torch.randn(3)
with torch.inference_mode():
    hidden = x * w
loss = (hidden + b).sum()
loss.backward()
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        backpropagated = set()
        for event in facts.backwards:
            if not event.implicit:
                backpropagated |= event.target.sources
        for event in facts.grad_calls:
            for output in event.outputs:
                backpropagated |= output.sources
        optimized = set().union(*(p.sources for p in facts.optimizer_params)) if facts.optimizer_params else set()
        idle = set().union(*(p.sources for p in facts.optimizer_params if not p.sources & backpropagated))
        for event in facts.backwards:
            if event.implicit or event.target.requires_grad is not YES:
                continue
            for cut in event.target.cuts:
                if cut.kind not in SILENT_CUT_KINDS or cut.path is not None:
                    continue
                trained = _meant_to_train(cut, optimized if cut.kind in ("detach", "sample") else idle)
                if trained and not trained & backpropagated:
                    yield self._finding(cut, trained, event, facts)

    def _finding(self, cut, trained, event, facts) -> Finding:
        names = ", ".join(sorted(s.name for s in trained))
        message = (
            f"{_cut_words(cut, facts)} cuts {names} off from every backward in this file: "
            f"`{facts.source.text_of(event.span)}` (line {event.span.line}) succeeds, "
            f"but their .grad stays None"
        )
        related = [Related(s.span, "created here, to be trained") for s in trained]
        related.append(Related(event.span, "backpropagated here"))
        fix = remove_detach(cut.span, facts) if cut.kind == "detach" else use_rsample(cut)
        if cut.mode is None:
            return self.finding(message, cut.span, related, [fix] if fix else [])
        # The no_grad block is what cuts, and what a fix changes: the finding sits there.
        related.insert(0, Related(cut.span, "run without recording a graph"))
        return self.finding(message, cut.mode.span, related)


def _meant_to_train(cut, optimized: set) -> set:
    """Whom the cut keeps from a training they were meant for: tensors made to require
    grad in this file, or given to an optimizer. For `.detach()` any optimizer counts. A
    module run under `torch.no_grad()` (or read through `.data`) is also how code freezes
    it on purpose while an optimizer of all parameters trains the rest, so for those cuts
    the caller passes only the parameters of optimizers that no gradient reaches at all."""
    return {source for source in cut.sources if source.explicit or source in optimized}


def _cut_words(cut, facts) -> str:
    """The cut as the message names it: the `.detach()` or `.data` itself, or the op and
    the `with torch.no_grad()` it ran under (which the cut's own text cites)."""
    if cut.kind == "no_grad":
        return f"{cut.text}, which"
    return f"`{facts.source.text_of(cut.span)}`"


@register
class ZeroGradientOp(Rule):
    code = "GW105"
    name = "zero-gradient-op"
    severity = Severity.WARNING
    summary = "An op whose gradient is zero everywhere (`round`, `floor`, `ceil`, `sign`, ...) sits between trained tensors and a backpropagated loss."
    explanation = """
Ops such as `torch.round`, `floor`, `ceil`, `trunc` and `sign` are piecewise
constant: torch differentiates through them without complaint, but their
gradient is exactly zero everywhere, so nothing upstream learns through this
path. torch raises nothing; the gradients are silently all zero.

For quantization-aware training use a straight-through estimator,
`x + (x.round() - x).detach()`, which this rule recognises as fine.
"""
    examples = (
        Example(
            """
import torch

x = torch.randn(5, requires_grad=True)
levels = torch.round(x * 4)
loss = (levels ** 2).sum()
loss.backward()
""",
            grad_zero("x"),
            line=5,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(5, requires_grad=True)
levels = x + (torch.round(x * 4) - x).detach()
loss = (levels ** 2).sum()
loss.backward()
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.backwards:
            if event.implicit or event.target.requires_grad is not YES:
                continue
            for zero in event.target.zero_grads:
                message = (
                    f"{zero.text}: `{facts.source.text_of(event.span)}` (line {event.span.line}) "
                    f"sends an all-zero gradient through it"
                )
                yield self.finding(message, zero.span, [Related(event.span, "backpropagated here")])
