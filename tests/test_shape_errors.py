"""GW401-GW403 beyond their examples: the messages quote torch, and code that works (or
expects the error) gets no shape finding."""

from __future__ import annotations

import textwrap

import pytest

from gradwatch.checker import check_source


def shape_findings(code: str) -> list:
    return [f for f in check_source(textwrap.dedent(code)).findings if f.code.startswith("GW4")]


def torch_error(code: str) -> str:
    torch = pytest.importorskip("torch")
    try:
        exec(compile(textwrap.dedent(code), "<case>", "exec"), {"torch": torch, "__name__": "__main__"})
    except RuntimeError as error:
        return str(error)
    raise AssertionError("torch did not raise")


# (code, the rule): torch's whole message must appear in the finding.
RAISING = [
    ("import torch\ny = torch.randn(5) @ torch.randn(6)\n", "GW401"),
    ("import torch\ny = torch.randn(2, 4, 5) @ torch.randn(6)\n", "GW401"),
    ("import torch\ny = torch.randn(5) @ torch.randn(6, 3)\n", "GW401"),
    ("import torch\ny = torch.randn(2, 4, 5) @ torch.randn(6, 3)\n", "GW401"),
    ("import torch\ny = torch.randn(4, 5) @ torch.randn(2, 3, 6, 3)\n", "GW401"),
    ("import torch\ny = torch.bmm(torch.randn(2, 4, 5), torch.randn(3, 5, 2))\n", "GW401"),
    ("import torch\ny = torch.mm(torch.randn(4, 5), torch.randn(6, 3))\n", "GW401"),
    ("import torch\ny = torch.addmm(torch.randn(3), torch.randn(4, 5), torch.randn(6, 3))\n", "GW401"),
    ("import torch\nimport torch.nn.functional as F\ny = F.linear(torch.randn(2, 4, 5), torch.randn(3, 6))\n", "GW401"),
    ("import torch\nfrom torch import nn\ny = nn.Linear(6, 3)(torch.randn(2, 4, 5))\n", "GW401"),
    ("import torch\ny = torch.randn(3, 4) + torch.randn(5, 6)\n", "GW402"),
    ("import torch\ny = torch.randn(5) * torch.randn(3, 4)\n", "GW402"),
    ("import torch\ny = torch.zeros(2, 3).add_(torch.randn(4, 3))\n", "GW402"),
    ("import torch\ny = torch.randn(4, 5).view(-1, 3)\n", "GW403"),
    ("import torch\ny = torch.randn(4, 5).reshape(21)\n", "GW403"),
]


@pytest.mark.parametrize("code,rule", RAISING)
def test_the_finding_quotes_what_torch_raises(code: str, rule: str) -> None:
    message = torch_error(code)
    findings = shape_findings(code)
    assert [f.code for f in findings] == [rule]
    assert f"(RuntimeError: {message})" in findings[0].message


def test_a_partly_known_shape_quotes_the_start_of_the_message() -> None:
    code = """
    import torch

    x = torch.randn(4, 5)
    for _ in range(3):
        y = x @ torch.randn(6, 3)
        x = torch.cat([x, x])
    """
    torch_error(code)
    [finding] = shape_findings(code)
    assert finding.code == "GW401" and "the inner dimensions differ: 5 and 6" in finding.message
    assert "(RuntimeError: mat1 and mat2 shapes cannot be multiplied ...)" in finding.message


def test_the_lines_that_made_the_shapes_are_related() -> None:
    [finding] = shape_findings("import torch\n\nx = torch.randn(4, 5)\nw = torch.randn(6, 3)\ny = x @ w\n")
    assert [(r.span.line, r.message) for r in finding.related] == [
        (3, "`torch.randn(4, 5)` has shape (4, 5)"),
        (4, "`torch.randn(6, 3)` has shape (6, 3)"),
    ]


QUIET = {
    "pytest.raises": """
        import pytest
        import torch

        def test_mismatch():
            with pytest.raises(RuntimeError):
                torch.randn(4, 5) @ torch.randn(6, 3)
        """,
    "assertRaises": """
        import unittest
        import torch

        class T(unittest.TestCase):
            def test_mismatch(self):
                with self.assertRaisesRegex(RuntimeError, "cannot be multiplied"):
                    torch.randn(4, 5) @ torch.randn(6, 3)
        """,
    "xfail": """
        import pytest
        import torch

        @pytest.mark.xfail(raises=RuntimeError)
        def test_mismatch():
            torch.randn(4, 5).view(3, 7)
        """,
    "a called function inside try": """
        import torch

        def bad():
            return torch.randn(3, 4) + torch.randn(5)

        try:
            bad()
        except Exception:
            pass
        """,
    "a size not known": """
        import torch

        def project(x, n):
            return x @ torch.randn(n, 3)

        y = project(torch.randn(4, 5), 5)
        """,
    "setattr": """
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(6, 3)

            def forward(self, x):
                return self.fc(x)

        net = Net()
        setattr(net, "fc", nn.Linear(5, 3))
        out = net(torch.randn(4, 5))
        """,
    "add_module": """
        import torch
        from torch import nn

        net = nn.Sequential(nn.Linear(6, 3))
        net.add_module("0", nn.Linear(5, 3))
        out = net(torch.randn(4, 5))
        """,
    "insert": """
        import torch
        from torch import nn

        net = nn.Sequential(nn.Linear(6, 3))
        net.insert(0, nn.Linear(5, 6))
        out = net(torch.randn(4, 5))
        """,
    "weight.data": """
        import torch
        from torch import nn

        layer = nn.Linear(6, 3)
        layer.weight.data = torch.randn(3, 5)
        out = layer(torch.randn(4, 5))
        """,
    "numpy axis": """
        import torch

        a = torch.randn(2, 3)
        b = torch.randn(2, 4)
        both = torch.cat([a, b], axis=1)
        total = both + torch.randn(7)
        mean = a.mean(axis=1, keepdims=True) * torch.randn(2, 3)
        """,
    "an earlier loop iteration": """
        import torch

        x = torch.randn(4, 5)
        for step in range(3):
            if step > 0:
                y = x.view(4, 6)
            x = torch.randn(4, 6)
        """,
}


@pytest.mark.parametrize("name", list(QUIET))
def test_no_shape_finding(name: str) -> None:
    assert shape_findings(QUIET[name]) == []


@pytest.mark.parametrize(
    "name", ["a size not known", "setattr", "add_module", "insert", "weight.data", "numpy axis", "an earlier loop iteration"]
)
def test_the_quiet_cases_run_on_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    exec(compile(textwrap.dedent(QUIET[name]), "<case>", "exec"), {"torch": torch, "__name__": "__main__"})


def test_a_scope_without_autograd_is_checked_for_shapes_only() -> None:
    # No backward, no requires_grad: the scope runs for its shape errors alone, and
    # the in-place hint (GW203) it would otherwise get stays off, as before.
    code = """
    import torch

    def f():
        x = torch.randn(4, 5)
        x.add_(1)
        return x @ torch.randn(6, 3)
    """
    findings = check_source(textwrap.dedent(code)).findings
    assert [f.code for f in findings] == ["GW401"]


def test_a_size_from_a_jaxtyping_annotation_is_cited_as_the_annotation():
    text = (
        "import torch\nfrom jaxtyping import Float\nfrom torch import Tensor\n\n"
        "def head(x: Float[Tensor, \"batch 3\"]):\n"
        "    return x @ torch.randn(4, 2)\n"
    )
    [finding] = check_source(text).findings
    assert finding.code == "GW401"
    assert [(r.span.line, r.message) for r in finding.related][0] == (5, "the annotation of `x` has shape (batch, 3)")
