"""Apply fixes to source text, and verify each one before anyone sees it.

Editor-free: the CLI (`--fix`, `--diff`, the fixable counts) and the language
server (quick fixes, fix-all) share it.

Positions follow `gradwatch.findings`: 1-based lines, 0-based columns counted
in characters. Lines are split the way Python's tokenizer splits them (`\\n`,
`\\r\\n`, `\\r`), so that a column never lands inside a line ending and line
endings outside the edited ranges are kept byte for byte; a line break a fix
inserts takes the ending of the line it goes into.

A fix is offered only if `FixVerifier` accepts it: its edits are in range and
each stays within one statement, the result parses, and re-checking the result
no longer reports the finding, nor an error the text did not have.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

from gradwatch.findings import Finding, Fix, Severity, Span, TextEdit
from gradwatch.parsing import ParsedChunks, parse, parses
from gradwatch.rules.statements import child_statements
from gradwatch.source import SourceText

MAX_FIX_ROUNDS = 10

_LINE_END = re.compile(r"\r\n|\r|\n")

Check = Callable[[str], list[Finding]]
# (start index, end index, new text) of one edit, against the original text.
Resolved = tuple[int, int, str]


class OverlappingEdits(ValueError):
    """Two edits of one fix touch the same text; applying both would be ambiguous."""


class _Offsets:
    """Maps (line, character column) to an index into the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        # (start index, length without the line ending, the line ending) of every line.
        self.lines: list[tuple[int, int, str]] = []
        start = 0
        for match in _LINE_END.finditer(text):
            self.lines.append((start, match.start() - start, match.group()))
            start = match.end()
        self.lines.append((start, len(text) - start, ""))

    def index(self, line: int, column: int) -> int:
        if line < 1:
            return 0
        if line > len(self.lines):
            return len(self.text)
        start, length, _ = self.lines[line - 1]
        # A column past the end of the line means "end of line", never "inside the line ending".
        return start + max(0, min(column, length))

    def range(self, span: Span) -> tuple[int, int]:
        start = self.index(span.line, span.column)
        end = self.index(span.end_line, span.end_column)
        return start, max(start, end)

    def in_range(self, span: Span) -> bool:
        def valid(line: int, column: int) -> bool:
            return 1 <= line <= len(self.lines) and 0 <= column <= self.lines[line - 1][1]

        return valid(span.line, span.column) and valid(span.end_line, span.end_column) and (
            (span.line, span.column) <= (span.end_line, span.end_column)
        )

    def ending(self, line: int) -> str:
        """The line ending of `line`, or of the nearest line above that has one ("\\n" if none)."""
        for number in range(min(line, len(self.lines)), 0, -1):
            if self.lines[number - 1][2]:
                return self.lines[number - 1][2]
        return "\n"


def _conflict(a: tuple[int, int], b: tuple[int, int]) -> bool:
    # Non-empty ranges that share text overlap; an insertion strictly inside a
    # replaced range conflicts with it; two insertions at the same place
    # conflict because their order would be arbitrary. Touching ranges are fine.
    if a[0] < b[1] and b[0] < a[1]:
        return True
    return a[0] == a[1] == b[0] == b[1]


def _resolved(offsets: _Offsets, edits: Sequence[TextEdit]) -> list[Resolved]:
    ranges = []
    for edit in edits:
        ending = offsets.ending(edit.span.line)
        new_text = _LINE_END.sub(ending, edit.new_text) if ending != "\n" else edit.new_text
        ranges.append((*offsets.range(edit.span), new_text))
    ordered = sorted(range(len(ranges)), key=lambda i: (ranges[i][0], ranges[i][1], i))
    result = [ranges[i] for i in ordered]
    for previous, current in zip(result, result[1:]):
        if previous[1] > current[0]:
            raise OverlappingEdits(f"edits overlap at offsets {previous[:2]} and {current[:2]}")
    return result


def _splice(text: str, edits: Sequence[Resolved]) -> str:
    pieces: list[str] = []
    position = 0
    for start, end, new_text in edits:
        pieces.append(text[position:start])
        pieces.append(new_text)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


class _Mover:
    """Where a text index is after `edits` (sorted, not overlapping): inside a replaced range,
    at the start of its replacement; at an insertion point, after the inserted text."""

    def __init__(self, edits: Sequence[Resolved]) -> None:
        self.edits = edits
        self.starts = [start for start, _, _ in edits]
        # shifts[i]: how far the text after edit i-1 moved.
        self.shifts = [0]
        for start, end, new_text in edits:
            self.shifts.append(self.shifts[-1] + len(new_text) - (end - start))

    def __call__(self, index: int) -> int:
        # Edits starting at `index` that replace text begin there: those do not move it yet.
        at = bisect.bisect_right(self.starts, index)
        while at > 0 and self.edits[at - 1][0] == index < self.edits[at - 1][1]:
            at -= 1
        if at > 0:
            start, end, _ = self.edits[at - 1]
            if start < index < end:
                return start + self.shifts[at - 1]
        return index + self.shifts[at]


def apply_edits(text: str, edits: Sequence[TextEdit]) -> str:
    """`text` with every edit applied; raises OverlappingEdits if two of them overlap.

    Edits are positioned against the original text, so their order does not
    matter (insertions at one place keep the order given).
    """
    return _splice(text, _resolved(_Offsets(text), edits))


def with_line_endings(text: str, fix: Fix) -> Fix:
    """`fix` with the line breaks of its new text written as the lines it edits end (CRLF stays CRLF)."""
    offsets = _Offsets(text)
    edits = []
    for edit in fix.edits:
        ending = offsets.ending(edit.span.line)
        edits.append(replace(edit, new_text=_LINE_END.sub(ending, edit.new_text)) if ending != "\n" else edit)
    return replace(fix, edits=tuple(edits))


def choose_fix(finding: Finding, unsafe: bool = False) -> Fix | None:
    """The fix `--fix` would apply: the first safe one, or the first of any kind if `unsafe`."""
    for fix in finding.fixes:
        if fix.safe or unsafe:
            return fix
    return None


def apply_fixes(text: str, findings: Sequence[Finding], unsafe: bool = False) -> tuple[str, int]:
    """Apply each finding's chosen fix, unverified; return the new text and how many were applied.

    A fix whose edits overlap a fix already chosen (or each other) is skipped:
    a re-check after applying will offer it again if it still applies.
    """
    chosen = [fix for fix in (choose_fix(finding, unsafe) for finding in findings) if fix is not None]
    taken = _compatible(_Offsets(text), chosen)
    if not taken:
        return text, 0
    return _splice(text, sorted(edit for _, edits in taken for edit in edits)), len(taken)


def _compatible(offsets: _Offsets, fixes: Sequence[Fix]) -> list[tuple[int, list[Resolved]]]:
    """(index, resolved edits) of the fixes, in order, that overlap none taken before them (nor themselves)."""
    taken: list[tuple[int, list[Resolved]]] = []
    # The ranges taken so far, sorted: they do not overlap, so their ends are sorted too.
    occupied: list[tuple[int, int]] = []
    for index, fix in enumerate(fixes):
        if not fix.edits:
            continue
        try:
            ranges = _resolved(offsets, fix.edits)
        except OverlappingEdits:
            continue
        if any(_conflicts_with_any(new[:2], occupied) for new in ranges):
            continue
        taken.append((index, ranges))
        for new in ranges:
            bisect.insort(occupied, new[:2])
    return taken


def _conflicts_with_any(new: tuple[int, int], occupied: list[tuple[int, int]]) -> bool:
    """Does `new` conflict with one of the sorted, non-conflicting ranges `occupied`?"""
    position = bisect.bisect_right(occupied, (new[1], new[1]))
    while position > 0 and occupied[position - 1][1] >= new[0]:
        position -= 1
        if _conflict(new, occupied[position]):
            return True
    return False


class _Ranges:
    """Ranges, to ask which of them touch a given one in logarithmic time."""

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(ranges)
        self._starts = [start for start, _ in ordered]
        self._furthest_end: list[int] = []  # the largest end among the ranges up to each one
        for _, end in ordered:
            self._furthest_end.append(max(end, self._furthest_end[-1] if self._furthest_end else end))

    def touches(self, start: int, end: int) -> bool:
        """Is there a range (low, high) with low <= end and start <= high?"""
        count = bisect.bisect_right(self._starts, end)
        return count > 0 and self._furthest_end[count - 1] >= start


# ---------------------------------------------------------------- verification


class FixVerifier:
    """Judges fixes of findings in one text; each verdict is computed once.

    `check` re-analyses a text (the same settings as the findings came from);
    `findings` are what it reports for `text` (computed when first needed).
    A finding `check` does not report for `text` (say, one found only by
    following another file) cannot be re-checked; its fixes must still pass
    every other test.
    """

    def __init__(self, text: str, check: Check, findings: Sequence[Finding] | None = None) -> None:
        self.text = text
        self.check = check
        self._findings = list(findings) if findings is not None else None
        self._statements: list[tuple[int, int, list]] | None = None
        self._parses: bool | None = None
        self._verdicts: dict[tuple[Finding, Fix], str | None] = {}
        self._checked: dict[str, list[Finding]] = {}
        self._statics: dict[Fix, tuple[str | None, list[Resolved]]] = {}
        self._parsing_units: dict[tuple[int, int], bool] = {}
        self._places: set[tuple[str, Span]] | None = None

    @functools.cached_property
    def _offsets(self) -> _Offsets:
        return _Offsets(self.text)  # only a file with a fix needs it: most have none

    @property
    def findings(self) -> list[Finding]:
        if self._findings is None:
            self._findings = list(self.check(self.text))
        return self._findings

    @property
    def _reported_places(self) -> set[tuple[str, Span]]:
        if self._places is None:
            self._places = {(finding.code, finding.span) for finding in self.findings}
        return self._places

    def verified(self, finding: Finding) -> tuple[Fix, ...]:
        """The finding's fixes that pass on their own (each quick fix is applied alone), in order."""
        return tuple(fix for fix in finding.fixes if self.problem(finding, fix) is None)

    def first(self, finding: Finding, unsafe: bool = False) -> Fix | None:
        """The first fix that is safe (or any, if `unsafe`) and passes on its own."""
        for fix in finding.fixes:
            if (fix.safe or unsafe) and self.problem(finding, fix) is None:
                return fix
        return None

    def problem(self, finding: Finding, fix: Fix) -> str | None:
        """Why `fix`, applied alone, must not be offered for `finding`; None when it passes."""
        key = (finding, fix)
        if key not in self._verdicts:
            try:
                self._verdicts[key] = self._judge(finding, fix)
            except Exception as error:  # a crash while re-checking is a failed fix, not a failed run
                self._verdicts[key] = f"re-checking the fixed text failed: {type(error).__name__}: {error}"
        return self._verdicts[key]

    def select(
        self, findings: Iterable[Finding], unsafe: bool = False, allowed: Callable[[Fix], bool] | None = None
    ) -> list[tuple[Finding, Fix]]:
        """One fix per finding, as `--fix` and fix-all apply them together in one round.

        Each finding offers its first safe (or, if `unsafe`, any) fix that
        passes the tests that need no re-check. They are verified together,
        with one re-check of the text they make, not one per fix (a file can
        have hundreds): see `together`. A finding whose fix is left out offers
        its next fix, and the set is verified again. If nothing passes
        together, the first fix that passes on its own is the round's only one.
        """
        def wanted(fix: Fix) -> bool:
            return (fix.safe or unsafe) and (allowed is None or allowed(fix)) and self.passes_without_recheck(fix)

        candidates = {finding: fixes for finding in findings if (fixes := [f for f in finding.fixes if wanted(f)])}
        level = dict.fromkeys(candidates, 0)
        best: list[tuple[Finding, Fix]] = []
        while True:
            pairs = [(f, fixes[level[f]]) for f, fixes in candidates.items() if level[f] < len(fixes)]
            chosen = self.together(pairs)
            if len(chosen) >= len(best):
                best = chosen
            applied = set(chosen)
            left_out = [finding for finding, fix in pairs if (finding, fix) not in applied]
            for finding in left_out:
                level[finding] += 1
            if not any(level[finding] < len(candidates[finding]) for finding in left_out):
                break
        if best:
            return best
        for finding, fixes in candidates.items():
            for fix in fixes:
                if self.problem(finding, fix) is None:
                    return [(finding, fix)]
        return []

    def together(self, pairs: Sequence[tuple[Finding, Fix]], whole: bool = True) -> list[tuple[Finding, Fix]]:
        """The pairs (whose fixes pass without a re-check) that pass when applied together.

        With `whole`, the result was checked as one text. Otherwise each part
        of it was (halves, when a fix among them adds an error): enough to
        tell which fixes pass, in a few re-checks instead of one per fix.
        """
        pairs = list(pairs)
        while pairs:
            new_text, pairs = self.combine(pairs)
            edits = sorted(edit for _, fix in pairs for edit in _resolved(self._offsets, fix.edits))
            try:
                after = self.checked(new_text)
            except Exception:
                return []
            again = self._still_reported_all([f for f, _ in pairs if self._reported(f)], edits, after)
            stuck = [(f, fix) for f, fix in pairs if f in again]
            if stuck:
                pairs = [pair for pair in pairs if pair not in stuck]
                continue
            if not self._adds_errors([finding for finding, _ in pairs], after):
                return pairs
            if len(pairs) == 1:
                return []
            first, second = pairs[: len(pairs) // 2], pairs[len(pairs) // 2 :]
            if whole:
                return self.together(first) or self.together(second)
            return self.together(first, whole=False) + self.together(second, whole=False)
        return []

    def passes_without_recheck(self, fix: Fix) -> bool:
        """Does `fix` pass the tests that need no re-check (range, statement, parsing)?"""
        return self._static(fix)[0] is None

    def checked(self, text: str) -> list[Finding]:
        """`check(text)`, remembered for the last few texts (a round's text is checked once)."""
        if text == self.text:
            return self.findings
        if text not in self._checked:
            if len(self._checked) >= 4:
                self._checked.pop(next(iter(self._checked)))
            self._checked[text] = list(self.check(text))
        return self._checked[text]

    def _static(self, fix: Fix) -> tuple[str | None, list[Resolved]]:
        """The tests that need no re-check, and the fix's edits resolved against the text."""
        if fix not in self._statics:
            self._statics[fix] = self._static_tests(fix)
        return self._statics[fix]

    def _static_tests(self, fix: Fix) -> tuple[str | None, list[Resolved]]:
        if not fix.edits:
            return "it has no edits", []
        if not all(self._offsets.in_range(edit.span) for edit in fix.edits):
            return "an edit lies outside the text", []
        try:
            edits = _resolved(self._offsets, fix.edits)
        except OverlappingEdits:
            return "its edits overlap", []
        if not all(self._within_one_statement(start, end) for start, end, _ in edits):
            return "an edit reaches beyond the statement it belongs to", edits
        new_text = _splice(self.text, edits)
        if new_text == self.text:
            return "it changes nothing", edits
        if not self._still_parses(new_text, edits):
            return "the fixed text does not parse", edits
        return None, edits

    def _judge(self, finding: Finding, fix: Fix) -> str | None:
        problem, edits = self._static(fix)
        if problem is not None:
            return problem
        new_text = _splice(self.text, edits)
        if not self._still_parses(new_text, edits, whole=True):
            return "the fixed text does not parse"
        after = self.checked(new_text)
        if self._reported(finding) and self._still_reported(finding, edits, after):
            return "the finding is still reported after the fix"
        if self._adds_errors([finding], after):
            return "an error remains or appears in the fixed text"
        return None

    def combine(self, chosen: Sequence[tuple[Finding, Fix]]) -> tuple[str, list[tuple[Finding, Fix]]]:
        """Apply fixes together: the new text and the ones applied.

        A fix that overlaps one before it waits for the next round. If the
        fixes together do not parse, they are added one by one and only the
        one that breaks it is left out, never the others with it.
        """
        taken = _compatible(self._offsets, [fix for _, fix in chosen])
        edits = sorted(edit for _, ranges in taken for edit in ranges)
        if taken and not self._still_parses(_splice(self.text, edits), edits, whole=True):
            kept: list[tuple[int, list[Resolved]]] = []
            for index, ranges in taken:
                trial = sorted([*(edit for _, r in kept for edit in r), *ranges])
                if self._still_parses(_splice(self.text, trial), trial, whole=True):
                    kept.append((index, ranges))
            taken = kept
            edits = sorted(edit for _, ranges in taken for edit in ranges)
        return _splice(self.text, edits), [chosen[index] for index, _ in taken]

    def gone(self, applied: Sequence[tuple[Finding, Fix]], new_findings: Sequence[Finding]) -> int:
        """How many of the applied fixes' findings `new_findings` (of the text after all of them) no longer has."""
        edits = sorted(edit for _, fix in applied for edit in _resolved(self._offsets, fix.edits))
        again = self._still_reported_all([finding for finding, _ in applied], edits, new_findings)
        return sum(1 for finding, _ in applied if finding not in again)

    # -- the tests

    def _reported(self, finding: Finding) -> bool:
        return (finding.code, finding.span) in self._reported_places

    def _adds_errors(self, fixed: Iterable[Finding], after: Iterable[Finding]) -> bool:
        """Does the fixed text have as many errors of some rule as the text had, or more,
        once the fixed findings are taken away?

        `torch.arange(3, requires_grad=True)` removes a GW103 and raises anyway
        (GW109). An in-place write fixed while an earlier one clobbers the same
        saved tensor leaves a GW201 at the earlier line: the program still raises.
        """
        allowed = Counter(other.code for other in self.findings if other.severity is Severity.ERROR)
        for finding in fixed:
            if self._reported(finding) and finding.severity is Severity.ERROR:
                allowed[finding.code] -= 1
        now = Counter(other.code for other in after if other.severity is Severity.ERROR)
        return any(count > allowed[code] for code, count in now.items())

    def _still_reported(self, finding: Finding, edits: Sequence[Resolved], after: Iterable[Finding]) -> bool:
        """Does `after` (findings of the fixed text) report `finding` again where its text went?"""
        return bool(self._still_reported_all([finding], edits, after))

    def _still_reported_all(
        self, findings: Iterable[Finding], edits: Sequence[Resolved], after: Iterable[Finding]
    ) -> set[Finding]:
        """The `findings` that `after` reports again: same rule, over the text they covered."""
        fixed = _Offsets(_splice(self.text, edits))
        ranges_by_code: dict[str, list[tuple[int, int]]] = {}
        for other in after:
            ranges_by_code.setdefault(other.code, []).append(fixed.range(other.span))
        reported = {code: _Ranges(ranges) for code, ranges in ranges_by_code.items()}
        moved = _Mover(edits)
        again = set()
        for finding in findings:
            start, end = self._offsets.range(finding.span)
            if finding.code in reported and reported[finding.code].touches(moved(start), moved(end)):
                again.add(finding)
        return again

    def _still_parses(self, new_text: str, edits: Sequence[Resolved], whole: bool = False) -> bool:
        """Does the code around the edits still parse? With `whole`, in a text that parsed:
        does the whole fixed text parse?

        Around an edit is the innermost statement holding it whose lines parse
        on their own in the text as it is (a block's statement is tried inside
        `if True:`). Checking those lines keeps the cost of a fix independent of
        the file's size, and works in a file with a syntax error elsewhere: an
        edit inside code that does not parse cannot be judged, and fails.
        """
        if whole:
            if self._parses is None:
                self._parses = parses(self.text)
            if self._parses:
                return parses(new_text)
        units: list[tuple[int, int]] = []
        for start, end, _ in edits:
            unit = self._unit_around(start, end)
            if unit is None:
                return False
            units.append(unit)
        # A unit inside another is checked as part of the larger one.
        outer = [u for u in set(units) if not any(o != u and o[0] <= u[0] and u[1] <= o[1] for o in units)]
        for unit_start, unit_end in sorted(outer):
            inside = [(s - unit_start, e - unit_start, t) for s, e, t in edits if unit_start <= s and e <= unit_end]
            if not parses(_as_block(_splice(self.text[unit_start:unit_end], inside))):
                return False
        return True

    def _unit_around(self, start: int, end: int) -> tuple[int, int] | None:
        """The lines (start index, end index) of the innermost statement around start..end that parse alone."""
        holders = []
        statements = self._statement_index()
        while True:
            holder = _statement_at(statements, start)
            if holder is None or holder[1] < end:
                break
            holders.append(holder)
            statements = holder[2]
        for statement_start, statement_end, _ in reversed(holders):
            lines = self._whole_lines(statement_start, statement_end)
            if lines not in self._parsing_units:
                self._parsing_units[lines] = parses(_as_block(self.text[lines[0] : lines[1]]))
            if self._parsing_units[lines]:
                return lines
        return None

    def _whole_lines(self, start: int, end: int) -> tuple[int, int]:
        first = max(self.text.rfind("\n", 0, start), self.text.rfind("\r", 0, start)) + 1
        last = _LINE_END.search(self.text, end)
        return first, last.end() if last else len(self.text)

    def _within_one_statement(self, start: int, end: int) -> bool:
        """The innermost statement around `start` holds all of start..end, and no statement
        inside it is cut: an edit rewrites one statement or inserts right before one."""
        statements = self._statement_index()
        inner = None
        while True:
            holder = _statement_at(statements, start)
            if holder is None:
                break
            inner, statements = holder, holder[2]
        if inner is None or end > inner[1]:
            return False
        return not any(child[0] < end and start < child[1] for child in inner[2])

    def _statement_index(self) -> list[tuple[int, int, list]]:
        """Top-level statements as (start index, end index, the statements inside), recursively."""
        if self._statements is None:
            source = SourceText(self.text)
            tree = parse(self.text).tree

            def index(statement) -> tuple[int, int, list]:
                span = source.span(statement)
                decorators = getattr(statement, "decorator_list", None)
                if decorators:
                    first = source.span(decorators[0])
                    span = Span(first.line, first.column, span.end_line, span.end_column)
                start, end = self._offsets.range(span)
                return start, end, [index(child) for child in child_statements(statement)]

            self._statements = [index(statement) for statement in child_statements(tree)]
        return self._statements


def _statement_at(statements: list[tuple[int, int, list]], offset: int) -> tuple[int, int, list] | None:
    """The statement (of siblings in source order, which never overlap) whose range holds `offset`."""
    index = bisect.bisect_right(statements, offset, key=lambda statement: statement[0]) - 1
    return statements[index] if index >= 0 and offset <= statements[index][1] else None


def _as_block(lines: str) -> str:
    """Indented lines (a statement inside a block) as a text Python can parse on its own."""
    return f"if True:\n{lines}" if lines[:1] in (" ", "\t") else lines


class RecheckCache:
    """A scope cache (`check_source(cache=...)`) for re-checking fixed variants of one text.

    Each variant differs from the text in one place, so every function
    analysed once stays useful; unlike the editor's ScopeCache, which keeps
    only what the latest run used, nothing is dropped. Lives as long as one
    verifier's text.
    """

    def __init__(self) -> None:
        self._entries: dict = {}
        self.parsed_chunks = ParsedChunks()

    def get(self, key, usable=lambda entry: True):
        hit = self._entries.get(key)
        return hit if hit is not None and usable(hit) else None

    def put(self, key, value) -> None:
        self._entries[key] = value

    def finish_run(self) -> None:
        pass


def verified_fixes(
    text: str, finding: Finding, check: Check, findings: Sequence[Finding] | None = None
) -> tuple[Fix, ...]:
    """The fixes of `finding` (reported for `text`) that pass verification."""
    return FixVerifier(text, check, findings).verified(finding)


MAX_FIXES_TRIED_ALONE = 64


def with_verified_fixes(verifier: FixVerifier, findings: Iterable[Finding]) -> list[Finding]:
    """The findings with only the fixes that pass (what the fixable counts, JSON and SARIF show).

    The first fixes of all findings are verified together, then the second
    ones, and so on (`FixVerifier.together`); a fix left out of its group is
    tried on its own, up to MAX_FIXES_TRIED_ALONE per text (each is a re-check:
    thousands of findings in one file would take minutes), the rest withheld.
    """
    findings = list(findings)
    passed: set[tuple[Finding, Fix]] = set()
    budget = MAX_FIXES_TRIED_ALONE
    for level in range(max((len(finding.fixes) for finding in findings), default=0)):
        pairs = [(finding, finding.fixes[level]) for finding in findings if level < len(finding.fixes)]
        pairs = [(finding, fix) for finding, fix in pairs if verifier.passes_without_recheck(fix)]
        group = set(verifier.together(pairs, whole=False))
        alone = [pair for pair in pairs if pair not in group][:budget]
        budget -= len(alone)
        passed |= group | {pair for pair in alone if verifier.problem(*pair) is None}
    result = []
    for finding in findings:
        fixes = tuple(fix for fix in finding.fixes if (finding, fix) in passed)
        result.append(finding if fixes == finding.fixes else replace(finding, fixes=fixes))
    return result


@dataclass(frozen=True)
class FixOutcome:
    text: str
    fixed: int
    # Findings left in `text` after the last round.
    findings: list[Finding]


def fix_until_stable(
    text: str,
    check: Check,
    unsafe: bool = False,
    max_rounds: int = MAX_FIX_ROUNDS,
) -> FixOutcome:
    """Fix, re-check and repeat until nothing more applies (at most `max_rounds` rounds).

    Each round applies the fixes that verify together (one per finding, see
    `FixVerifier.select`; those that overlap wait for the next round). One fix
    can make another finding appear or go away, hence the rounds; a round that
    removes none of the findings it fixed, or that returns to an earlier text,
    ends the loop.
    """
    findings = check(text)
    fixed = 0
    seen = {text}
    for _ in range(max_rounds):
        verifier = FixVerifier(text, check, findings)
        applied = verifier.select(findings, unsafe)
        if not applied:
            break
        new_text, applied = verifier.combine(applied)
        if not applied or new_text in seen:
            break
        new_findings = verifier.checked(new_text)
        removed = verifier.gone(applied, new_findings)
        if removed == 0:
            break
        text, findings, fixed = new_text, new_findings, fixed + removed
        seen.add(text)
    return FixOutcome(text=text, fixed=fixed, findings=findings)
