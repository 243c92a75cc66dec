"""The language server's per-document cache must never change what is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradwatch.analysis.scope_cache import ScopeCache
from gradwatch.checker import check_source

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "examples" / "train.py", *sorted((ROOT / "tests" / "corpus").glob("*.py"))]


def edits(text: str):
    """Versions of `text` as a user might type them: a line changed, a line inserted, a hazard removed."""
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    yield "".join(lines[:middle] + ["    pass\n" if lines[middle].startswith(" ") else "pass\n"] + lines[middle:])
    yield text.replace("add_(", "add(", 1)
    yield text.replace(".detach()", "", 1)
    yield text


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_cached_results_equal_fresh_results(path: Path) -> None:
    cache = ScopeCache()
    text = path.read_text()
    check_source(text, cache=cache)
    for version in edits(text):
        cached = check_source(version, cache=cache)
        fresh = check_source(version)
        assert cached.findings == fresh.findings
        assert sorted(cached.names, key=repr) == sorted(fresh.names, key=repr)


def test_an_edit_elsewhere_keeps_a_function_finding() -> None:
    text = (
        "import torch\n\n"
        "def broken():\n"
        "    x = torch.randn(3, requires_grad=True)\n"
        "    y = x.sigmoid()\n"
        "    y.add_(1)\n"
        "    y.sum().backward()\n\n"
        "def other():\n"
        "    return 1\n"
    )
    cache = ScopeCache()
    assert [f.code for f in check_source(text, cache=cache).findings] == ["GW201"]
    edited = text.replace("return 1", "return 2")
    assert [f.code for f in check_source(edited, cache=cache).findings] == ["GW201"]
    fixed = edited.replace("y.add_(1)", "y = y + 1")
    assert check_source(fixed, cache=cache).findings == []


CALLER_AND_CALLEE = """\
import torch


def gate(x):
    return torch.sigmoid(x)


def unrelated():
    return 1


def step():
    x = torch.randn(3, requires_grad=True)
    g = gate(x)
    g.mul_(2)
    g.sum().backward()
"""


def test_a_function_that_follows_calls_is_reused_until_a_callee_changes() -> None:
    cache = ScopeCache()
    check_source(CALLER_AND_CALLEE, cache=cache)
    # An edit in a function `step` does not call: `step`'s analysis is replayed.
    edited = CALLER_AND_CALLEE.replace("return 1", "return 2")
    replayed = check_source(edited, cache=cache).findings
    assert [(f.code, f.span.line) for f in replayed] == [("GW201", 15)]
    assert replayed == check_source(edited).findings
    # An edit in the callee changes what `step` does: it is analysed again.
    repaired = edited.replace("torch.sigmoid(x)", "x * 2")
    after = check_source(repaired, cache=cache).findings
    assert after == check_source(repaired).findings
    assert "GW201" not in [f.code for f in after]
