"""Calls of the file's own functions are summarised: a helper that detaches or modifies its
argument in place makes the caller's finding, citing the helper's line; torch agrees."""

from __future__ import annotations

import pytest

from gradwatch.analysis.scope_cache import ScopeCache
from gradwatch.checker import check_source
from test_oracle import run

SOURCE = """\
import torch


def features(x):
    return x.detach()


def normalize_(x):
    x.sub_(x.mean())


def scale(x):
    return x * 2


def detached_step():
    x = torch.randn(4, requires_grad=True)
    loss = features(x * 2).sum()
    loss.backward()


def normalized_step():
    x = torch.randn(4, requires_grad=True)
    h = x.sigmoid()
    normalize_(h)
    h.sum().backward()


def fine_step():
    x = torch.randn(4, requires_grad=True)
    loss = scale(x).sum()
    loss.backward()
"""


def test_helpers_of_the_same_file_are_followed() -> None:
    findings = check_source(SOURCE).findings
    # The in-place op inside the helper is reported where it happens, with the call that led there.
    assert [(f.span.line, f.code) for f in findings] == [(9, "GW201"), (19, "GW101")]
    normalized, detached = findings
    assert [r.span.line for r in detached.related] == [5]
    assert [r.span.line for r in normalized.related] == [24, 25, 26]
    assert "called here: `normalize_(h)`" in normalized.related[1].message


@pytest.mark.parametrize(
    "step, error",
    [("detached_step", "does not require grad"), ("normalized_step", "modified by an inplace operation"), ("fine_step", None)],
)
def test_torch_agrees(step, error) -> None:
    pytest.importorskip("torch")
    _, raised, _ = run(SOURCE + f"\n{step}()\n")
    if error is None:
        assert raised is None
    else:
        assert raised is not None and error in str(raised)


def test_editing_the_helper_updates_the_caller() -> None:
    cache = ScopeCache()
    assert [f.code for f in check_source(SOURCE, cache=cache).findings] == ["GW201", "GW101"]
    repaired = SOURCE.replace("    return x.detach()", "    return x * 1")
    assert [f.code for f in check_source(repaired, cache=cache).findings] == ["GW201"]
