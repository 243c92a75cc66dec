"""Symbolic sizes (a size known by name: `batch`) and the shapes users write.

The grid of tests/test_shape_functions.py runs again with every operand a
parameter annotated with jaxtyping (read from the syntax: jaxtyping need not be
installed), each size n written as the symbol `s<n>` (`f_4_5: Float[Tensor,
"s4 s5"]`): gradwatch must prove no shape that torch, with the sizes the
symbols stand for, does not give. Sizes of 1 are symbols too, the case a rule
that took a symbol for a size other than 1 would get wrong.

Then examples: hover text, annotations, `assert`s on shapes, GW112 on symbolic
shapes, and calls that bind real arguments (checked on torch where a shape is claimed).
"""

from __future__ import annotations

import re
import textwrap

import pytest
import test_shape_functions as grid

from gradwatch.checker import check_source

torch = pytest.importorskip("torch")

_MARKERS = {"f": "Float", "m": "Bool", "i": "Int"}


def _annotation(name: str) -> str:
    """`fp_4_5` -> `Float[Tensor, "_ s5"]` (a partly known operand: its first size unknown)."""
    kind, _, sizes = name.partition("_")
    dims = [f"s{size}" for size in sizes.split("_") if size]
    if kind.endswith("p"):
        dims[0] = "_"
    return f'{_MARKERS[kind[0]]}[Tensor, "{" ".join(dims)}"]'


def _proved_symbolic(lines: list[str]) -> dict:
    """Line number -> the shape proved in a function whose parameters are the operands, a
    symbol `s<n>` read as n; and the number of lines whose shape holds a symbol."""
    result, with_symbols = {}, 0
    parameters = ", ".join(f"{name}: {_annotation(name)}" for name in grid._operands)
    for start in range(0, len(lines), grid.LINES_PER_FILE):
        chunk = lines[start : start + grid.LINES_PER_FILE]
        text = (
            grid.PRELUDE
            + "from torch import Tensor\nfrom jaxtyping import Bool, Float, Int\n"
            + f"def run({parameters}):\n"
            + "".join(f"    y{start + k} = {line}\n" for k, line in enumerate(chunk))
            + "    torch.ones(1, requires_grad=True).sum().backward()\n"
        )
        for line, sizes in grid.hover_sizes(text).items():
            with_symbols += any(s.startswith("s") for s in sizes)
            result[line] = tuple(None if s == "?" else int(s[1:]) if s.startswith("s") else int(s) for s in sizes)
    return result, with_symbols


def test_every_shape_proved_from_symbols_is_the_one_torch_gives():
    cases = list(dict.fromkeys(case for family in grid.FAMILIES for case in family()))
    lines = [expression for _, expression in cases]
    (proved, with_symbols), actual = _proved_symbolic(lines), grid.torch_shapes(lines)
    wrong = [
        (op, expression, proved[k], actual[k])
        for k, (op, expression) in enumerate(cases)
        if k in proved and k in actual and not grid.agrees(proved[k], actual[k])
    ]
    print(f"\n{len(cases)} cases; proved: {len(proved)}, with a symbol: {with_symbols}")
    assert not wrong, "\n".join(f"{op}: {e} proved {p}, torch {a}" for op, e, p, a in wrong[:40])
    assert with_symbols > 5000  # the symbols flow through the ops


# ---------------------------------------------------------------- examples

HEADER = """\
import torch
import torch.nn as nn
from torch import Tensor
from jaxtyping import Float, Int
"""


def _hovers(code: str) -> dict:
    """Name -> the shape text of its last hover ("" when no shape is shown)."""
    found = {}
    for name in check_source(HEADER + textwrap.dedent(code)).names:
        match = re.search(r"Tensor of shape (\([^)]*\))", name.description)
        found[name.name] = match.group(1) if match else ""
    return found


def _codes(code: str) -> list:
    return [(f.code, f.span.line - HEADER.count("\n")) for f in check_source(HEADER + textwrap.dedent(code)).findings]


def test_annotated_parameters_have_their_shapes_and_symbols_flow():
    shown = _hovers(
        """
        def step(x: Float[Tensor, "batch 3"], mask: Float[Tensor, "batch 1"], idx: Int[Tensor, "batch"]):
            w = torch.randn(3, 5, requires_grad=True)
            h = x * mask
            out = nn.Linear(3, 4)(h)
            logits = h @ w
            both = torch.cat([h, x], dim=1)
            rows = logits.sum(dim=1)
            flat = out.view(-1, 4)
            picked = idx + 1
            rows.sum().backward()
        """
    )
    assert shown["x"] == "(batch, 3)" and shown["picked"] == "(batch,)"
    assert shown["h"] == "(batch, 3)"  # batch with batch, 3 with 1
    assert shown["out"] == "(batch, 4)" and shown["logits"] == "(batch, 5)"
    assert shown["both"] == "(batch, 6)" and shown["rows"] == "(batch,)" and shown["flat"] == "(batch, 4)"


@pytest.mark.parametrize(
    ("annotation", "shape"),
    [
        ('Float[Tensor, "b c h w"]', "(b, c, h, w)"),
        ('Float[torch.Tensor, "2 n"]', "(2, n)"),
        ('Float[Tensor, "_ 3"]', "(?, 3)"),
        ('Float[Tensor, "#b 3"]', "(?, 3)"),  # may be 1 where b is not
        ('Float[Tensor, ""]', "()"),
        ('"Float[Tensor, \'n 2\']"', "(n, 2)"),
        ('Float[Tensor, "*batch 3"]', ""),  # any number of dims: no shape
        ('Float[Tensor, "... 3"]', ""),
    ],
)
def test_annotation_forms(annotation, shape):
    shown = _hovers(
        f"""
        def f(x: {annotation}):
            y = x * 2
            y.sum().backward()
        """
    )
    assert shown["y"] == shape


def test_an_annotation_needs_jaxtyping():
    text = "import torch\nfrom torch import Tensor\nfrom mytypes import Float\n"
    text += "def f(x: Float[Tensor, 'b 3']):\n    y = x * 2\n    y.sum().backward()\n"
    assert not any("shape" in n.description for n in check_source(text).names if n.name == "y")


def test_asserts_refine_shapes():
    shown = _hovers(
        """
        def f(x: Float[Tensor, "n m"], y: Float[Tensor, "..."], z: Float[Tensor, "*b"], t: Float[Tensor, "*b"]):
            w = torch.randn(3, requires_grad=True)
            assert x.shape[1] == 3
            a = x * w
            assert y.shape == (B, 3) and x.shape[0] == y.shape[0]
            b = y * 1
            c = x * 1
            assert z.dim() == 2
            d = z * 1
            assert tuple(t.size()) == (2, 5)
            e = t * 1
            (a.sum() + b.sum() + c.sum()).backward()
        """
    )
    assert shown["a"] == "(n, 3)"
    assert shown["b"] == "(B, 3)" and shown["c"] == "(n, 3)"
    assert shown["d"] == "(?, ?)" and shown["e"] == "(2, 5)"


def test_a_proved_size_is_never_replaced_by_a_written_one():
    shown = _hovers(
        """
        def f(x: Float[Tensor, "n 4"]):
            assert x.shape == (n, 5)  # never passes: nothing follows from it
            a = x * 1
            n = 3
            assert x.shape[0] == n
            b = x * 1
            a.sum().backward()
        """
    )
    assert shown["a"] == "(n, 4)" and shown["b"] == "(3, 4)"


def test_a_name_bound_twice_gives_no_symbol():
    shown = _hovers(
        """
        def f(x, y):
            n = x.size(0)
            assert x.shape == (n, 3)
            n = n + 1
            a = torch.randn(3, requires_grad=True) * 2
            a.sum().backward()
        """
    )
    assert "a" in shown  # (x itself is no tensor gradwatch knows: no hover)


def test_gw112_needs_a_size_other_than_1_proved_by_an_int():
    code = """
        def f(x: Float[Tensor, "batch 3"], y: Float[Tensor, "batch 1"]):
            w = torch.randn(3, requires_grad=True)
            a = x * w
            a.sum(dim=0).backward(retain_graph=True)
            a.sum(dim=1).backward(retain_graph=True)
            (y * w.sum()).backward(retain_graph=True)
        """
    assert [c for c in _codes(code) if c[0] == "GW112"] == [("GW112", 5)]
    # torch agrees with any batch (a symbol may be 1): (3,) raises; (batch,), (batch, 1) with batch 1 do not
    w = torch.randn(3, requires_grad=True)
    x, y = torch.randn(1, 3), torch.randn(1, 1)
    (x * w).sum(dim=1).backward(retain_graph=True)
    (y * w.sum()).backward()
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (torch.randn(7, 3) * w).sum(dim=0).backward()


def test_gw112_after_an_assert():
    code = """
        def f(x):
            w = torch.randn(3, requires_grad=True)
            n = x.shape[0]
            assert x.shape == (n, 4)
            (x * w.sum()).backward()
        """
    assert [c for c in _codes(code) if c[0] == "GW112"] == [("GW112", 6)]


def test_a_call_fills_only_what_the_caller_does_not_prove():
    shown = _hovers(
        """
        def head(x: Float[Tensor, "batch 3"], y: Float[Tensor, "batch"]) -> Float[Tensor, "batch"]:
            return (x * y[:, None]).sum(dim=1)

        def train(y, z: Float[Tensor, "n 3"]):
            x = torch.randn(8, 5, requires_grad=True)
            known = head(x, y)
            part = head(x[:, :3], y)
            unknown = head(y, y)
            theirs = head(z, y)
            known.sum().backward()
        """
    )
    assert shown["theirs"] == "(n,)"  # the caller's symbol, for y too
    assert shown["known"] == "(8,)"  # the caller's (8, 5) wins over "batch 3"
    assert shown["part"] == "(8,)"  # (8, ?) filled to (8, 3); batch is 8 for y too
    assert shown["unknown"] == "(batch,)"


def test_symbolic_shapes_match_torch_for_any_size():
    code = """
        def f(x: Float[Tensor, "b 3 4"], y: Float[Tensor, "b 12"]):
            a = x.view(-1, 12) + y
            b = x.flatten(1) * y
            c = torch.stack([y, y], dim=1).transpose(0, 2)
            d = x.permute(2, 0, 1)[0]
            e = torch.bmm(x, x.transpose(1, 2))
            (a.sum() + b.sum() + c.sum() + d.sum() + e.sum()).backward()
        """
    shown = _hovers(code)
    for size in (1, 2, 5):
        x, y = torch.randn(size, 3, 4), torch.randn(size, 12)
        actual = {
            "a": x.view(-1, 12) + y,
            "b": x.flatten(1) * y,
            "c": torch.stack([y, y], dim=1).transpose(0, 2),
            "d": x.permute(2, 0, 1)[0],
            "e": torch.bmm(x, x.transpose(1, 2)),
        }
        for name, value in actual.items():
            expected = "(" + ", ".join(str(s) for s in value.shape) + ")"
            assert shown[name].replace("b", str(size)) == expected, (name, shown[name], size)
