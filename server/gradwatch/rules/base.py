"""The shape every rule has: a stable code, documentation, examples checked on torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Iterator

from gradwatch.findings import Finding, Severity

if TYPE_CHECKING:
    from gradwatch.analysis.events import Facts


@dataclass(unsafe_hash=True)
class Outcome:
    """What torch does when an example runs; the oracle tests check it.

    kind is one of:
      "raises"     - a RuntimeError whose message contains `detail`
      "grad_none"  - runs; afterwards the tensor named `detail` has .grad None
      "grad_zero"  - runs; afterwards the tensor named `detail` has an all-zero .grad
      "warns"      - runs; a warning whose message contains `detail` is issued
      "runs"       - runs without an exception
    """

    kind: str
    detail: str = ""


def raises(message: str) -> Outcome:
    return Outcome("raises", message)


def grad_none(name: str) -> Outcome:
    return Outcome("grad_none", name)


def grad_zero(name: str) -> Outcome:
    return Outcome("grad_zero", name)


def warns(message: str) -> Outcome:
    return Outcome("warns", message)


RUNS = Outcome("runs")


@dataclass(unsafe_hash=True)
class Example:
    """A complete program: the rule must fire on it (at `line`, if given) and torch must do `outcome`."""

    code: str
    outcome: Outcome
    line: int | None = None


class Rule:
    """One hazard. Subclasses set the class attributes and implement `check`.

    `explanation` is Markdown: what happens and why, in torch's own words.
    `fix_summary` says what the fix does. `examples` must fire; `near_misses`
    are programs that look alike but are fine: the rule stays quiet and torch
    runs them cleanly.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]
    explanation: ClassVar[str]
    fix_summary: ClassVar[str] = ""
    examples: ClassVar[tuple[Example, ...]] = ()
    near_misses: ClassVar[tuple[str, ...]] = ()

    def check(self, facts: Facts) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, message: str, span, related=(), fixes=(), severity: Severity | None = None) -> Finding:
        """A finding of this rule; `severity` lowers the rule's own when the facts prove less."""
        return Finding(
            code=self.code,
            severity=severity or self.severity,
            message=message,
            span=span,
            related=tuple(related),
            fixes=tuple(fixes),
            rule_name=self.name,
        )

    @classmethod
    def documentation(cls) -> str:
        """The rule's reference page in Markdown (used by `gradwatch explain` and hover)."""
        parts = [
            f"# {cls.code} {cls.name}",
            "",
            f"Default severity: {cls.severity.value}",
            "",
            "## What it detects",
            "",
            cls.summary,
            "",
            "## Why",
            "",
            cls.explanation.strip(),
        ]
        if cls.examples:
            parts += ["", "## Example", "", "```python", cls.examples[0].code.strip(), "```"]
        if cls.fix_summary:
            parts += ["", "## Fix", "", cls.fix_summary.strip()]
        if cls.near_misses:
            parts += ["", "## Fine as it is", "", "```python", cls.near_misses[0].strip(), "```"]
        return "\n".join(parts) + "\n"
