"""GW401-GW403: shape errors torch will raise, where the analysis proves the shapes.

The shapes come from analysis/shapes.py and module_shapes.py (literal factory sizes,
module configurations, and the ops between); analysis/shape_errors.py records an op whose
operands' sizes make torch raise. A rule fires only when the sizes that disagree are
known ints: an unknown size is never a mismatch. Code that expects the error (inside a
`try` with a handler, `with pytest.raises(...)`, `self.assertRaises(...)`, an xfail test)
or that branches on shapes within the function (`if x.shape[-1] == 6:`, a path the
analysis may not tell apart) is left alone.
"""

from __future__ import annotations

import ast
from typing import Iterator

from gradwatch.analysis.events import Facts, ShapeError
from gradwatch.findings import Finding, Related, Severity
from gradwatch.rules import register
from gradwatch.rules.base import Example, Rule, raises

# What torch raises (measured on torch 2.13).
MAT_MUL = "mat1 and mat2 shapes cannot be multiplied (4x5 and 6x3)"
BATCH_MUL = "Expected size for first two dimensions of batch2 tensor to be: [2, 5] but got: [2, 6]."
VECTOR_MUL = "size mismatch, got input (4), mat (4x5), vec (6)"
BROADCAST = "The size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 1"
RESHAPE = "shape '[3, 7]' is invalid for input of size 20"

# Attributes and calls that read a tensor's shape: a test of one may keep a path from running.
_SHAPE_READS = {"shape", "size", "dim", "ndim", "ndimension", "numel", "nelement"}
_EXPECTING = ("raises", "assertRaises", "assertRaisesRegex", "assertRaisesRegexp", "expectedFailure", "xfail")


class _ShapeRule(Rule):
    kind = ""

    def check(self, facts: Facts) -> Iterator[Finding]:
        events = [e for e in facts.shape_errors if e.kind == self.kind]
        if not events:
            return
        quiet = _QuietRegions(facts.tree)
        layers_changed = any(e.layer for e in events) and _changes_modules(facts.tree)
        for event in events:
            if any(quiet.covers(span) for span in (*event.chain, event.span)) or (event.layer and layers_changed):
                continue
            yield self.finding(_message(facts, event), event.span, _related(event))


def _message(facts: Facts, event: ShapeError) -> str:
    error = event.error if event.exact else f"{event.error} ..."
    where = facts.source.text_of(event.span)
    same = event.op == f"`{where}`"
    if "\n" in where or len(where) > 80:
        where = where.splitlines()[0][:60].rstrip() + " ..."
    subject = f"`{where}`" if same else f"`{where}` ({event.op})"
    return f"{subject} will raise: {event.detail} (RuntimeError: {error})"


def _related(event: ShapeError) -> list[Related]:
    related = []
    for shape, origin in zip(event.shapes, event.origins):
        if origin is None or origin.path is not None or origin.span == event.span:
            continue
        sizes = ", ".join("?" if size is None else str(size) for size in shape)
        related.append(Related(origin.span, f"{origin.text} has shape ({sizes}{',' if len(shape) == 1 else ''})"))
    return related


class _QuietRegions:
    """Where a shape error is expected or its path may not run: `try` bodies with a handler,
    `with pytest.raises(...)` / `self.assertRaises(...)` bodies, xfail tests, and the
    scopes (functions, or the module body) that test a shape in a condition; and the
    functions of the file called only there (`with pytest.raises(...): make_bad_input()`)."""

    def __init__(self, tree: ast.AST | None):
        self.regions: list[tuple[int, int]] = []
        if tree is None:
            return
        functions, calls = [], []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))) and node.handlers:
                self._add(node.body)
            elif isinstance(node, (ast.With, ast.AsyncWith)) and any(_expects(i.context_expr) for i in node.items):
                self._add(node.body)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append(node)
                if any(_expects(d) for d in node.decorator_list) or _tests_shapes(node):
                    self._add([node])
            elif isinstance(node, ast.Call):
                calls.append(node)
        if _tests_shapes(tree, module_level=True):
            self.regions.append((0, 10**9))
        for function in functions:
            sites = [c for c in calls if _called_name(c) == function.name]
            if sites and all(self.covers(c) for c in sites):
                self._add([function])

    def _add(self, nodes: list) -> None:
        if nodes:
            self.regions.append((nodes[0].lineno, max(getattr(n, "end_lineno", n.lineno) for n in nodes)))

    def covers(self, span) -> bool:
        """Whether `span` (a Span, or a node) lies in one of the regions."""
        line = getattr(span, "line", None) or span.lineno
        return any(first <= line <= last for first, last in self.regions)


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _changes_modules(tree: ast.AST | None) -> bool:
    """Whether the file may change a module after building it in ways the analysis does not
    follow: `setattr(...)`, `add_module`/`register_module`/`insert`, `seq[i] = Block(...)`,
    `del seq[i]`, an assignment to a `weight`, `bias` or `in_features` (`fc.weight.data = ...`).
    A module's configuration then no longer proves what it takes."""
    if tree is None:
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "setattr":
                return True
            if isinstance(func, ast.Attribute) and func.attr in ("add_module", "register_module", "insert"):
                return True
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            if any(isinstance(t, ast.Subscript) for t in node.targets):
                return True
        for target in targets:
            for part in ast.walk(target):
                # (`self.weight = nn.Parameter(...)` in a module's own class is no torch layer's)
                own = isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name) and part.value.id == "self"
                if isinstance(part, ast.Attribute) and part.attr in _LAYER_SIZES and not own:
                    return True
            if isinstance(target, ast.Subscript) and isinstance(getattr(node, "value", None), ast.Call):
                func = node.value.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name[:1].isupper():
                    return True
    return False


_LAYER_SIZES = {"weight", "bias", "in_features"}


def _expects(node: ast.AST) -> bool:
    """`pytest.raises(...)`, `self.assertRaises(...)`, `@unittest.expectedFailure`, `@pytest.mark.xfail`."""
    if isinstance(node, ast.Call):
        node = node.func
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name in _EXPECTING


def _tests_shapes(scope: ast.AST, module_level: bool = False) -> bool:
    """Whether a condition in `scope` (not in its nested functions, for the module body)
    reads a shape: `if x.shape[-1] == 6`, `while x.dim() > 2`, `[t for t in ts if t.ndim == 2]`.
    (An `assert` on a shape makes no second path: the code after it runs with that shape.)"""
    pending = list(ast.iter_child_nodes(scope))
    while pending:
        node = pending.pop()
        if module_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        tests = []
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            tests.append(node.test)
        elif isinstance(node, ast.comprehension):
            tests.extend(node.ifs)
        elif isinstance(node, ast.match_case) and node.guard is not None:
            tests.append(node.guard)
        for test in tests:
            if any(_reads_shape(part) for part in ast.walk(test)):
                return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def _reads_shape(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute) and node.attr in _SHAPE_READS:
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"


@register
class ProductShapeMismatch(_ShapeRule):
    code = "GW401"
    name = "matmul-shape-mismatch"
    severity = Severity.ERROR
    kind = "product"
    summary = "A matrix product (`@`, `matmul`, `mm`, `bmm`, `mv`, `addmm`, `F.linear`, `nn.Linear`) whose inner dimensions provably differ."
    explanation = f"""
The columns of the first factor must match the rows of the second: for `a @ b`,
`a.shape[-1] == b.shape[-2]` (or `b.shape[0]` for a vector); for `nn.Linear(in_features,
out_features)` and `F.linear(x, weight)`, the input's last size must be `in_features`.
When the shapes gradwatch proves (literal factory sizes such as `torch.randn(4, 5)`, module
configurations such as `nn.Linear(6, 3)`, and the ops in between) disagree there, torch raises:

    RuntimeError: {MAT_MUL}

A batch of matrices on the right (`bmm`, `matmul` of 3-d tensors) says

    RuntimeError: {BATCH_MUL}

and a matrix times a vector (`mv`, `matrix @ vector`)

    RuntimeError: {VECTOR_MUL}

It fires only when both inner sizes are known ints; torch's message is quoted with its
sizes when every size in it is known. An unknown size (a variable batch size, a
configuration read from a file) is never claimed to mismatch.
"""
    fix_summary = "Make the inner dimensions agree: transpose a factor, or size the layer for its input (`nn.Linear(5, 3)`)."
    examples = (
        Example(
            """
import torch

x = torch.randn(4, 5)
w = torch.randn(6, 3)
y = x @ w
""",
            raises(MAT_MUL),
            line=6,
        ),
        Example(
            """
import torch
from torch import nn

layer = nn.Linear(6, 3)
features = torch.randn(4, 5)
out = layer(features)
""",
            raises(MAT_MUL),
            line=7,
        ),
        Example(
            """
import torch

queries = torch.randn(2, 4, 5)
keys = torch.randn(2, 6, 3)
scores = torch.bmm(queries, keys)
""",
            raises(BATCH_MUL),
            line=6,
        ),
        Example(
            """
import torch

weights = torch.randn(4, 5)
inputs = torch.randn(6)
y = torch.mv(weights, inputs)
""",
            raises(VECTOR_MUL),
            line=6,
        ),
        Example(
            """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(10, 6), nn.ReLU(), nn.Linear(5, 3))
out = model(torch.randn(4, 10))
""",
            raises("mat1 and mat2 shapes cannot be multiplied (4x6 and 5x3)"),
            line=6,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(4, 5)
w = torch.randn(6, 5)
y = x @ w.T
""",
        """
import torch
from torch import nn

layer = nn.Linear(5, 3)
features = torch.randn(4, 5)
out = layer(features)
""",
        """
import torch
from torch import nn


def project(x, size):
    layer = nn.Linear(size, 3)
    return layer(x)


out = project(torch.randn(4, 5), 5)
""",
        """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(10, 6), nn.ReLU(), nn.Linear(6, 3))
model[0] = nn.Linear(5, 6)
out = model(torch.randn(4, 5))
""",
        """
import torch
from torch import nn

layer = nn.Linear(6, 3)
layer.weight = nn.Parameter(torch.randn(3, 5))
out = layer(torch.randn(4, 5))
""",
        """
import torch

x = torch.randn(4, 5)
w = torch.randn(6, 3)
if x.shape[-1] == w.shape[0]:
    y = x @ w
""",
        """
import torch

try:
    y = torch.randn(4, 5) @ torch.randn(6, 3)
except RuntimeError:
    y = None
""",
        """
import torch

x = torch.randn(4, 5)
for step in range(3):
    if step > 0:
        y = x @ torch.randn(6, 2)
    x = torch.randn(4, 6)
""",
    )


@register
class BroadcastMismatch(_ShapeRule):
    code = "GW402"
    name = "broadcast-mismatch"
    severity = Severity.ERROR
    kind = "broadcast"
    summary = "An elementwise op (`+`, `*`, `==`, `torch.add`, `add_`, `+=`, ...) of two tensors whose shapes provably cannot broadcast."
    explanation = f"""
Elementwise ops broadcast their operands: aligned from the last dimension, each pair of
sizes must be equal, or one of them 1 (a missing leading dimension counts as 1). Two
sizes that are both known, different and neither 1 make torch raise:

    RuntimeError: {BROADCAST}

(the dimension is counted in the broadcast result, from the first; torch names the
first failing pair it meets from the last dimension). It fires only when the two sizes
are known ints; the message is quoted with its sizes when every size of both operands is
known. In-place forms (`a.add_(b)`, `a += b`) raise the same.
"""
    fix_summary = "Give the operands compatible shapes: add the missing dimension (`b[:, None]`, `b.unsqueeze(0)`) or transpose one of them."
    examples = (
        Example(
            """
import torch

scores = torch.randn(3, 4)
bias = torch.randn(5)
shifted = scores + bias
""",
            raises(BROADCAST),
            line=6,
        ),
        Example(
            """
import torch

total = torch.zeros(3, 4)
step = torch.ones(3, 5)
total += step
""",
            raises("The size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 1"),
            line=6,
        ),
        Example(
            """
import torch

a = torch.randn(8, 3)
b = torch.randn(4, 3)
same = torch.eq(a, b)
""",
            raises("The size of tensor a (8) must match the size of tensor b (4) at non-singleton dimension 0"),
            line=6,
        ),
    )
    near_misses = (
        """
import torch

scores = torch.randn(3, 4)
bias = torch.randn(4)
shifted = scores + bias
""",
        """
import torch

scores = torch.randn(3, 4)
column = torch.randn(3, 1)
shifted = scores * column
""",
        """
import torch

scores = torch.randn(3, 4)
bias = torch.randn(3)
shifted = scores + bias[:, None]
""",
        """
import torch

scores = torch.zeros(3)
scores.data = torch.randn(5)
shifted = scores + torch.randn(5)
""",
        """
import torch


def shift(scores, bias):
    return scores + bias


out = shift(torch.randn(3, 4), torch.randn(4))
""",
    )


@register
class ReshapeElementCount(_ShapeRule):
    code = "GW403"
    name = "reshape-element-count"
    severity = Severity.ERROR
    kind = "reshape"
    summary = "`view`/`reshape` to literal sizes whose element count provably differs from the tensor's."
    explanation = f"""
`view` and `reshape` keep every element: the sizes asked for must multiply to the
tensor's element count (with one `-1`, the others must divide it). When every size of the
tensor is known and the literal sizes do not fit, torch raises:

    RuntimeError: {RESHAPE}

It fires only when every size of the tensor is a known int and every size asked for is a
literal (or a known int).
"""
    fix_summary = "Ask for sizes whose product is the element count, or let torch infer one of them with `-1`."
    examples = (
        Example(
            """
import torch

x = torch.randn(4, 5)
y = x.view(3, 7)
""",
            raises(RESHAPE),
            line=5,
        ),
        Example(
            """
import torch

x = torch.randn(4, 5)
y = torch.reshape(x, (-1, 7))
""",
            raises("shape '[-1, 7]' is invalid for input of size 20"),
            line=5,
        ),
    )
    near_misses = (
        """
import torch

x = torch.randn(4, 5)
y = x.view(2, 10)
""",
        """
import torch

x = torch.randn(4, 5)
y = x.reshape(-1, 10)
""",
        """
import torch

x = torch.randn(4, 5)
y = x.view(-1)
""",
    )

