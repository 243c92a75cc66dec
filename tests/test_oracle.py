"""Rule examples run on real torch: torch must do what each rule claims.

An example must raise the stated error, or leave the named gradient None or all
zero; a near miss must run cleanly; and applying the rule's fix must make the
hazard go away both for gradwatch and for torch.
"""

from __future__ import annotations

import ast
import warnings

import pytest

torch = pytest.importorskip("torch", reason="the oracle tests need torch==2.13.0 (pip install -e .[test])")

from gradwatch.checker import check_source  # noqa: E402
from gradwatch.fixes import apply_edits  # noqa: E402
from rule_examples import EXAMPLES, NEAR_MISSES  # noqa: E402


def run(code: str) -> tuple[dict, Exception | None, list[str]]:
    """Execute `code`; return its namespace, the exception it raised (if any), and warnings."""
    namespace: dict = {"__name__": "__main__"}
    # torch warns some things once per process (TORCH_WARN_ONCE): an earlier test would hide them.
    warn_always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                exec(compile(code, "<example>", "exec"), namespace)
            except Exception as error:  # the outcome under test
                return namespace, error, [str(w.message) for w in caught]
        return namespace, None, [str(w.message) for w in caught]
    finally:
        torch.set_warn_always(warn_always)


def assert_outcome(code: str, outcome) -> None:
    namespace, error, warned = run(code)
    if outcome.kind == "raises":
        assert isinstance(error, RuntimeError), f"expected RuntimeError, got {error!r}"
        assert outcome.detail in str(error)
        return
    assert error is None, f"torch raised {error!r}"
    if outcome.kind == "grad_none":
        assert namespace[outcome.detail].grad is None
    elif outcome.kind == "grad_zero":
        grad = namespace[outcome.detail].grad
        assert grad is not None and bool((grad == 0).all())
    elif outcome.kind == "warns":
        assert any(outcome.detail in w for w in warned), warned
    else:
        assert outcome.kind == "runs"


@pytest.mark.parametrize("rule,example", EXAMPLES)
def test_torch_confirms_example(rule, example) -> None:
    assert_outcome(example.code, example.outcome)


@pytest.mark.parametrize("rule,code", NEAR_MISSES)
def test_near_miss_runs_cleanly(rule, code) -> None:
    _, error, _ = run(code)
    assert error is None, f"near miss of {rule.code} raised {error!r}"


def _without_claims(code: str) -> str:
    return "\n".join(line for line in code.splitlines() if not line.startswith("assert "))


def _fixes(rule, example) -> list[tuple[str, str]]:
    """(title, fixed code) for every fix offered on the example's findings of the rule."""
    findings = [f for f in check_source(example.code).findings if f.code == rule.code]
    return [(fix.title, apply_edits(example.code, fix.edits)) for f in findings for fix in f.fixes]


@pytest.mark.parametrize(
    "rule,example,title,fixed",
    [
        pytest.param(*p.values, title, fixed, id=f"{p.id}-fix{number}")
        for p in EXAMPLES
        for number, (title, fixed) in enumerate(_fixes(*p.values))
    ],
)
def test_every_fix_removes_the_hazard(rule, example, title, fixed) -> None:
    ast.parse(fixed)
    remaining = [f for f in check_source(fixed).findings if f.code == rule.code]
    assert remaining == [], f"{rule.code} still fires after its fix {title!r}:\n{fixed}"
    # An example's top-level asserts state what torch does with the hazard; after
    # the fix they need not hold any more, so the fixed program runs without them.
    namespace, error, _ = run(_without_claims(fixed))
    assert error is None, f"code fixed by {title!r} still raises {error!r}:\n{fixed}"
    if example.outcome.kind == "grad_none":
        assert namespace[example.outcome.detail].grad is not None
