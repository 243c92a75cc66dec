"""Engine values -> LSP values: positions, diagnostics, edits.

The engine counts columns in characters; the editor counts in the position
encoding agreed at `initialize` (UTF-16 unless the client offers another).
Every conversion needs the text of the line it points into.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from lsprotocol import types

from gradwatch.findings import Finding, Severity, Span
from gradwatch.source import column_from_utf16, utf16_column

SOURCE = "gradwatch"
# The rule reference; each rule's section is its code in lower case.
DOCS_BASE_URL = "https://gradwatch.readthedocs.io/en/latest/rules/"
# Rules whose finding marks code that does nothing (the editor fades it out).
# None of the current rules do; a rule about dead code would be listed here.
UNNECESSARY_CODES: frozenset[str] = frozenset()

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFORMATION: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}


def rule_docs_url(code: str) -> str:
    return f"{DOCS_BASE_URL}#{code.lower()}"


class LineCoder:
    """Converts character columns of known lines to and from the client's units."""

    def __init__(self, lines: Sequence[str], encoding: str = types.PositionEncodingKind.Utf16) -> None:
        # `lines` without line endings; index 0 is line 1.
        self.lines = lines
        self.encoding = encoding

    def line_text(self, line: int) -> str:
        """Line `line` (1-based); "" past either end."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return ""

    def to_client(self, line: int, column: int) -> types.Position:
        """A (1-based line, character column) as an LSP position, clamped into the text."""
        if not self.lines:
            return types.Position(line=0, character=0)
        if line > len(self.lines):
            last = len(self.lines)
            return types.Position(line=last - 1, character=self._units(self.lines[-1], len(self.lines[-1])))
        line = max(line, 1)
        text = self.lines[line - 1]
        return types.Position(line=line - 1, character=self._units(text, min(max(column, 0), len(text))))

    def from_client(self, position: types.Position) -> tuple[int, int] | None:
        """An LSP position as (1-based line, character column); None if past the end."""
        if position.line < 0 or position.line >= max(len(self.lines), 1):
            return None
        text = self.line_text(position.line + 1)
        return position.line + 1, self._column(text, position.character)

    def range(self, span: Span) -> types.Range:
        return types.Range(start=self.to_client(span.line, span.column), end=self.to_client(span.end_line, span.end_column))

    def _units(self, text: str, column: int) -> int:
        if self.encoding == types.PositionEncodingKind.Utf32:
            return column
        if self.encoding == types.PositionEncodingKind.Utf8:
            return len(text[:column].encode("utf-8"))
        return utf16_column(text, column)

    def _column(self, text: str, units: int) -> int:
        if self.encoding == types.PositionEncodingKind.Utf32:
            return min(units, len(text))
        if self.encoding == types.PositionEncodingKind.Utf8:
            return len(text.encode("utf-8")[:units].decode("utf-8", errors="ignore"))
        return column_from_utf16(text, units)


def split_lines(text: str) -> list[str]:
    """Lines as LSP counts them (\\n, \\r\\n and \\r end a line), without their endings."""
    # str.splitlines also splits on \x0b, \x1c, \u2028 ...; LSP does not.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def diagnostic(
    finding: Finding,
    range: types.Range,
    related: list[types.DiagnosticRelatedInformation],
) -> types.Diagnostic:
    """`range` is the finding's span in the document it is published for (a notebook cell may
    be one of several documents analysed together); `related` the causal chain, located likewise."""
    return types.Diagnostic(
        range=range,
        message=finding.message,
        severity=_SEVERITY.get(finding.severity, types.DiagnosticSeverity.Warning),
        code=finding.code,
        code_description=types.CodeDescription(href=rule_docs_url(finding.code)),
        source=SOURCE,
        related_information=related or None,
        tags=[types.DiagnosticTag.Unnecessary] if finding.code in UNNECESSARY_CODES else None,
    )


def minimal_edit(old: str, new: str, coder: LineCoder) -> types.TextEdit | None:
    """One edit turning `old` into `new`, covering only the lines that differ.

    Replacing the whole document would move the cursor and reset folds; whole
    lines keep the comparison cheap on long files.
    """
    if old == new:
        return None
    old_lines = _LINE.findall(old)
    new_lines = _LINE.findall(new)
    prefix = 0
    while prefix < min(len(old_lines), len(new_lines)) and old_lines[prefix] == new_lines[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(old_lines), len(new_lines)) - prefix
        and old_lines[-1 - suffix] == new_lines[-1 - suffix]
    ):
        suffix += 1
    start = coder.to_client(prefix + 1, 0)
    end = coder.to_client(len(old_lines) - suffix + 1, 0)
    return types.TextEdit(
        range=types.Range(start=start, end=end),
        new_text="".join(new_lines[prefix : len(new_lines) - suffix]),
    )


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def location_in_file(path: str, span: Span, encoding: str) -> types.Location | None:
    """A span in another file on disk (a function defined in another module), or None if it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return types.Location(uri=Path(path).as_uri(), range=LineCoder(split_lines(text), encoding).range(span))
