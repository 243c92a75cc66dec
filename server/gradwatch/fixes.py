"""Apply fixes to source text. Editor-free: the CLI and the language server share it.

Positions follow `gradwatch.findings`: 1-based lines, 0-based columns counted
in characters. Lines are split the way Python's tokenizer splits them (`\\n`,
`\\r\\n`, `\\r`), so that a column never lands inside a line ending and line
endings outside the edited ranges are kept byte for byte.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

from gradwatch.findings import Finding, Fix, Span, TextEdit

MAX_FIX_ROUNDS = 10

_LINE_END = re.compile(r"\r\n|\r|\n")


class OverlappingEdits(ValueError):
    """Two edits of one fix touch the same text; applying both would be ambiguous."""


class _Offsets:
    """Maps (line, character column) to an index into the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        # (start index, length without the line ending) of every line.
        self.lines: list[tuple[int, int]] = []
        start = 0
        for match in _LINE_END.finditer(text):
            self.lines.append((start, match.start() - start))
            start = match.end()
        self.lines.append((start, len(text) - start))

    def index(self, line: int, column: int) -> int:
        if line < 1:
            return 0
        if line > len(self.lines):
            return len(self.text)
        start, length = self.lines[line - 1]
        # A column past the end of the line means "end of line", never "inside the line ending".
        return start + max(0, min(column, length))

    def range(self, span: Span) -> tuple[int, int]:
        start = self.index(span.line, span.column)
        end = self.index(span.end_line, span.end_column)
        return start, max(start, end)


def _conflict(a: tuple[int, int], b: tuple[int, int]) -> bool:
    # Non-empty ranges that share text overlap; an insertion strictly inside a
    # replaced range conflicts with it; two insertions at the same place
    # conflict because their order would be arbitrary. Touching ranges are fine.
    if a[0] < b[1] and b[0] < a[1]:
        return True
    return a[0] == a[1] == b[0] == b[1]


def _resolved(offsets: _Offsets, edits: Sequence[TextEdit]) -> list[tuple[int, int, str]]:
    ranges = [(*offsets.range(edit.span), edit.new_text) for edit in edits]
    ordered = sorted(range(len(ranges)), key=lambda i: (ranges[i][0], ranges[i][1], i))
    result = [ranges[i] for i in ordered]
    for previous, current in zip(result, result[1:]):
        if previous[1] > current[0]:
            raise OverlappingEdits(f"edits overlap at offsets {previous[:2]} and {current[:2]}")
    return result


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    pieces: list[str] = []
    position = 0
    for start, end, new_text in edits:
        pieces.append(text[position:start])
        pieces.append(new_text)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def apply_edits(text: str, edits: Sequence[TextEdit]) -> str:
    """`text` with every edit applied; raises OverlappingEdits if two of them overlap.

    Edits are positioned against the original text, so their order does not
    matter (insertions at one place keep the order given).
    """
    return _splice(text, _resolved(_Offsets(text), edits))


def choose_fix(finding: Finding, unsafe: bool = False) -> Fix | None:
    """The fix `--fix` would apply: the first safe one, or the first of any kind if `unsafe`."""
    for fix in finding.fixes:
        if fix.safe or unsafe:
            return fix
    return None


def apply_fixes(text: str, findings: Sequence[Finding], unsafe: bool = False) -> tuple[str, int]:
    """Apply each finding's chosen fix; return the new text and how many fixes were applied.

    A fix whose edits overlap a fix already chosen (or each other) is skipped:
    a re-check after applying will offer it again if it still applies.
    """
    offsets = _Offsets(text)
    taken: list[tuple[int, int, str]] = []
    applied = 0
    for finding in findings:
        fix = choose_fix(finding, unsafe)
        if fix is None or not fix.edits:
            continue
        try:
            ranges = _resolved(offsets, fix.edits)
        except OverlappingEdits:
            continue
        if any(_conflict(new[:2], old[:2]) for new in ranges for old in taken):
            continue
        taken.extend(ranges)
        applied += 1
    if not applied:
        return text, 0
    taken.sort(key=lambda edit: (edit[0], edit[1]))
    return _splice(text, taken), applied


@dataclass(frozen=True)
class FixOutcome:
    text: str
    fixed: int
    # Findings left in `text` after the last round.
    findings: list[Finding]


def fix_until_stable(
    text: str,
    check: Callable[[str], list[Finding]],
    unsafe: bool = False,
    max_rounds: int = MAX_FIX_ROUNDS,
) -> FixOutcome:
    """Fix, re-check and repeat until nothing more applies (at most `max_rounds` rounds).

    One fix can make another finding appear or go away, hence the rounds. A
    round whose result no longer parses, although the text before it did, is
    thrown away: a fix must never break the file.
    """
    findings = check(text)
    fixed = 0
    parses = _parses(text)
    for _ in range(max_rounds):
        new_text, count = apply_fixes(text, findings, unsafe)
        if count == 0 or new_text == text:
            break
        if parses and not _parses(new_text):
            break
        text, fixed = new_text, fixed + count
        findings = check(text)
    return FixOutcome(text=text, fixed=fixed, findings=findings)


def _parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences: not our business here
            ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True
