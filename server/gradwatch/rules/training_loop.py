"""GW301-GW302: training-loop habits that silently change what is trained or how much memory it takes."""

from __future__ import annotations

import ast
import functools
from typing import Iterator

from gradwatch.analysis.events import Facts
from gradwatch.analysis.values import NO
from gradwatch.findings import Finding, Fix, Related, Severity, TextEdit
from gradwatch.rules import register
from gradwatch.rules.base import RUNS, Example, Rule


def _loop_nodes(loop: ast.AST):
    """Every node of the loop's body and else, not descending into nested definitions."""
    stack = [*getattr(loop, "body", ()), *getattr(loop, "orelse", ())]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


@functools.lru_cache(maxsize=1024)
def _nodes_of_loop(loop: ast.AST) -> tuple:
    """_loop_nodes of a loop, walked once: the editor replays a loop's events at each
    check, and the rules ask about the same loops again (a node is its own key)."""
    return tuple(_loop_nodes(loop))


def _clears_gradients(node: ast.AST) -> bool:
    """`x.zero_grad()`, `p.grad = None`, `p.grad.zero_()`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "zero_grad":
            return True
        if node.func.attr in ("zero_", "detach_") and isinstance(node.func.value, ast.Attribute):
            return node.func.value.attr == "grad"
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in targets)
    return False


def _functions_clearing_gradients(tree: ast.Module | None) -> set[str]:
    """Names of the file's functions and methods that clear gradients, directly or
    through another of them (`def reset_grad(): d_opt.zero_grad(); g_opt.zero_grad()`)."""
    if tree is None:
        return set()
    bodies = {
        node.name: list(_loop_nodes(node))
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    clearing = {name for name, nodes in bodies.items() if any(_clears_gradients(n) for n in nodes)}
    grew = True
    while grew:
        callers = {name for name, nodes in bodies.items() if any(_calls_one_of(n, clearing) for n in nodes)}
        grew = not callers <= clearing
        clearing |= callers
    return clearing


def _calls_one_of(node: ast.AST, names: set[str]) -> bool:
    """A call of a function (`reset_grad()`) or method (`self.reset_grad()`) named in `names`;
    a method is matched by name alone, so any class's method of that name counts."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return name in names


def _backpropagates_in(loop: ast.AST) -> bool:
    """The loop calls `backward`, `autograd.backward` or `autograd.grad` (each iteration is a step)."""
    return any(_calls(node, "backward") or _calls(node, "grad") for node in _nodes_of_loop(loop))


_STORING_METHODS = frozenset({"append", "extend", "insert", "add", "update", "setdefault"})


def _leaves_after(tree: ast.Module | None, loop: ast.AST, name: str) -> bool:
    """After `loop`, in the function (or module) around it, `name` is returned or yielded,
    stored in an attribute or an item (`batch.x = total`, `out[k] = total`), or appended:
    it goes on into more computation, which may backpropagate it."""
    scope = _innermost_function(tree, loop) or tree
    if scope is None:
        return False
    return any(getattr(node, "lineno", 0) > loop.end_lineno and _passes_on(node, name) for node in ast.walk(scope))


def _passes_on(node: ast.AST, name: str) -> bool:
    """`node` returns or yields `name`, stores it in an attribute or an item, or appends it."""
    if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)):
        return _mentions(node.value, name)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return _mentions(node.value, name) and any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in _STORING_METHODS and any(_mentions(a, name) for a in node.args)
    return False


def _innermost_function(tree: ast.Module | None, inner: ast.AST) -> ast.AST | None:
    found = None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= inner.lineno <= node.end_lineno:
            if found is None or node.lineno > found.lineno:
                found = node
    return found


def _mentions(node: ast.AST | None, name: str) -> bool:
    return node is not None and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _calls(node: ast.AST, attribute: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attribute


@register
class MissingZeroGrad(Rule):
    code = "GW301"
    name = "missing-zero-grad"
    severity = Severity.WARNING
    summary = "A loop calls `backward()` and `optimizer.step()` but never clears the gradients."
    explanation = """
`backward()` adds to `.grad`; it does not overwrite it. A loop that backpropagates
and steps each iteration without `optimizer.zero_grad()` (or `model.zero_grad()`,
or setting `.grad = None`) steps with the sum of every gradient so far: the
effective learning rate grows with each iteration. torch raises nothing.

Accumulating on purpose (several backwards per step) is fine as long as the loop
that steps also clears: this rule looks at the innermost loop around the step.
"""
    fix_summary = "Call `optimizer.zero_grad()` in the loop, before `backward()`."
    examples = (
        Example(
            """
import torch

w = torch.ones(1, requires_grad=True)
optimizer = torch.optim.SGD([w], lr=0.0)
for step in range(3):
    loss = (2 * w).sum()
    loss.backward()
    optimizer.step()
# Each iteration's gradient is 2, but .grad has summed all three.
assert w.grad.item() == 6.0
""",
            RUNS,
            line=9,
        ),
    )
    near_misses = (
        """
import torch

w = torch.ones(1, requires_grad=True)
optimizer = torch.optim.SGD([w], lr=0.0)
for step in range(3):
    optimizer.zero_grad()
    loss = (2 * w).sum()
    loss.backward()
    optimizer.step()
assert w.grad.item() == 2.0
""",
        """
import torch

w = torch.ones(1, requires_grad=True)
optimizer = torch.optim.SGD([w], lr=0.1)
for step in range(4):
    loss = (2 * w).sum()
    loss.backward()
    if step % 2 == 1:
        optimizer.step()
        optimizer.zero_grad()
""",
        """
import torch

w = torch.ones(1, requires_grad=True)
d_optimizer = torch.optim.SGD([w], lr=0.0)


def reset_grad():
    d_optimizer.zero_grad()


def train_step():
    loss = (2 * w).sum()
    reset_grad()
    return loss


for step in range(3):
    loss = train_step()
    loss.backward()
    d_optimizer.step()
assert w.grad.item() == 2.0
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        clearing_functions = None
        for step in facts.optimizer_steps:
            if step.loop is None:
                continue
            nodes = _nodes_of_loop(step.loop)
            if not any(_calls(n, "backward") for n in nodes) or any(_clears_gradients(n) for n in nodes):
                continue
            if clearing_functions is None:
                clearing_functions = _functions_clearing_gradients(facts.tree)
            if any(_calls_one_of(n, clearing_functions) for n in nodes):
                continue
            optimizer = facts.source.segment(step.node.func.value)
            message = (
                f"`{facts.source.text_of(step.span)}` steps with gradients summed over every iteration: "
                f"nothing in this loop clears them (`{optimizer}.zero_grad()`), and backward() adds to .grad"
            )
            yield self.finding(message, step.span)


@register
class GraphKeptByAccumulator(Rule):
    code = "GW302"
    name = "graph-kept-by-accumulator"
    severity = Severity.WARNING
    summary = "`total += loss` in a loop keeps every iteration's autograd graph alive through `total`."
    explanation = """
Adding a tensor that requires grad to a running total makes the total part of the
graph: it holds on to every iteration's graph (activations and saved tensors), so
memory grows with each step until the loop ends or the process runs out. For
logging, add the number instead: `total += loss.item()`.

This rule stays quiet when the total is itself backpropagated later (summing
losses on purpose), and when the loop backpropagates nothing and the total leaves
it for more computation (returned, stored in an attribute or an item, or appended):
summing the outputs of several heads or embeddings in a `forward` is the model,
not a leak.
"""
    fix_summary = "Accumulate the number: `total += loss.item()` (an unsafe fix: `total` becomes a Python float)."
    examples = (
        Example(
            """
import torch

w = torch.ones(3, requires_grad=True)
total = 0
for step in range(3):
    loss = (w * 2).sum()
    loss.backward()
    total += loss
# total still holds the graphs of all three iterations.
assert total.requires_grad
""",
            RUNS,
            line=9,
        ),
        Example(
            """
import torch

w = torch.ones(3, requires_grad=True)


def train():
    total = 0
    for step in range(3):
        loss = (w * step).sum()
        loss.backward()
        total += loss
    return total / 3


# Each iteration's graph was backpropagated already; the mean still holds all three.
assert train().requires_grad
""",
            RUNS,
            line=12,
        ),
    )
    near_misses = (
        """
import torch

w = torch.ones(3, requires_grad=True)
total = 0
for step in range(3):
    loss = (w * 2).sum()
    loss.backward()
    total += loss.item()
""",
        """
import torch

w = torch.ones(3, requires_grad=True)
total = 0
for task in range(3):
    total += (w * task).sum()
total.backward()
""",
        """
import torch
import torch.nn as nn


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

    def forward(self, x):
        out = 0
        for head in self.heads:
            out += head(x)
        return out


Heads()(torch.randn(2, 4)).sum().backward()
""",
        """
import types

import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = nn.ModuleList([nn.Embedding(10, 4) for _ in range(3)])

    def forward(self, batch):
        encoded = 0
        for i in range(batch.x.shape[1]):
            encoded += self.embeddings[i](batch.x[:, i])
        batch.x = encoded
        return batch


batch = Encoder()(types.SimpleNamespace(x=torch.randint(0, 10, (5, 3))))
batch.x.sum().backward()
""",
    )

    def check(self, facts: Facts) -> Iterator[Finding]:
        for event in facts.accumulations:
            # A forward's result counts (`implicit`): the caller is assumed to backpropagate it.
            backpropagated = any(
                b.target_text == event.name or (event.storage is not None and b.target.depends_on(event.storage) is not NO)
                for b in facts.backwards
            )
            reset_in_loop = any(
                isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == event.name for t in n.targets)
                for n in _nodes_of_loop(event.loop)
            )
            if backpropagated or reset_in_loop:
                continue
            if not _backpropagates_in(event.loop) and _leaves_after(facts.tree, event.loop, event.name):
                continue
            value = event.node.value
            message = (
                f"`{facts.source.text_of(event.span)}` keeps the autograd graph of every iteration alive "
                f"through `{event.name}`: memory grows each step"
            )
            fixes = []
            if isinstance(value, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
                end = facts.source.span(value)
                at = type(end)(end.end_line, end.end_column, end.end_line, end.end_column)
                fixes.append(Fix("Add the number: `.item()`", (TextEdit(at, ".item()"),), safe=False))
            related = [Related(event.value.origin.span, "a value that carries a graph")] if event.value.origin else []
            yield self.finding(message, event.span, related, fixes)
