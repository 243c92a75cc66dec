"""What the analysis reports: findings, the spans they cite, and fixes as data.

Positions are 1-based lines and 0-based columns counted in characters (code
points), the same unit Python strings use. The CLI adds 1 to columns for
display; the language server converts them to UTF-16 for the editor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"
    HINT = "hint"


@dataclass(frozen=True, order=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int

    def contains(self, line: int, column: int) -> bool:
        if (line, column) < (self.line, self.column):
            return False
        return (line, column) <= (self.end_line, self.end_column)


@dataclass(unsafe_hash=True)
class TextEdit:
    """Replace the text inside `span` by `new_text` (an empty span inserts)."""

    span: Span
    new_text: str


@dataclass(unsafe_hash=True)
class Fix:
    title: str
    edits: tuple[TextEdit, ...]
    # A safe fix keeps what the program computes and only removes the hazard;
    # an unsafe one changes behaviour on purpose (e.g. lets a gradient flow).
    safe: bool = True


@dataclass(unsafe_hash=True)
class Related:
    """A line in the causal chain of a finding, e.g. the `.detach()` that cut the graph."""

    span: Span
    message: str
    # Set when the line is in another file than the finding (a function defined elsewhere).
    path: str | None = None


@dataclass(unsafe_hash=True)
class Finding:
    code: str
    severity: Severity
    message: str
    span: Span
    related: tuple[Related, ...] = ()
    fixes: tuple[Fix, ...] = ()
    # Set by the checker when the finding is about a syntax error and not a rule.
    rule_name: str = ""

    @property
    def fix(self) -> Fix | None:
        return self.fixes[0] if self.fixes else None

    def sort_key(self) -> tuple:
        return (self.span.line, self.span.column, self.code)


@dataclass(unsafe_hash=True)
class NameState:
    """The autograd state the engine inferred for a name at one place (for hover)."""

    span: Span
    name: str
    description: str
    # The proved shape (sizes: ints, shapes.Symbol, None where one is not known; None when the rank is not known),
    # and whether the name is bound here (an assignment or loop target) rather than read: inlay hints.
    shape: tuple | None = None
    bound: bool = False


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    names: list[NameState] = field(default_factory=list)
    # Following imports into the project's other files might find more (see cross_module).
    calls_other_files: bool = False
