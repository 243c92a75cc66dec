"""Applying fixes to text: the part the CLI's --fix and the editor's quick fixes share."""

from __future__ import annotations

import ast
import re

import pytest

from gradwatch.checker import check_source
from gradwatch.findings import Finding, Fix, Severity, Span, TextEdit
from gradwatch.fixes import (
    MAX_FIX_ROUNDS,
    OverlappingEdits,
    apply_edits,
    apply_fixes,
    choose_fix,
    fix_until_stable,
)


def edit(line, column, end_line, end_column, new_text):
    return TextEdit(Span(line, column, end_line, end_column), new_text)


def finding_with(*fixes: Fix, line: int = 1) -> Finding:
    return Finding("GW999", Severity.WARNING, "test finding", Span(line, 0, line, 1), fixes=fixes)


# ---------------------------------------------------------------- apply_edits


def test_replaces_text_on_one_line():
    assert apply_edits("y.add_(x)\n", [edit(1, 0, 1, 9, "y = y + x")]) == "y = y + x\n"


def test_replaces_a_span_across_lines():
    text = "a = f(\n    1,\n    2,\n)\nb = 3\n"
    assert apply_edits(text, [edit(1, 4, 4, 1, "g()")]) == "a = g()\nb = 3\n"


def test_columns_count_characters_not_bytes_or_utf16_units():
    # "é" is 2 bytes in UTF-8, "🔥" is 4 bytes and 2 UTF-16 units: both are one character.
    text = 's = "é🔥"; y.add_(x)\n'
    start = text.index("y.add_")
    assert apply_edits(text, [edit(1, start, 1, start + 9, "y = y + x")]) == 's = "é🔥"; y = y + x\n'


def test_an_empty_span_inserts():
    text = "loss.backward()\n"
    assert apply_edits(text, [edit(1, 0, 1, 0, "# checked\n")]) == "# checked\nloss.backward()\n"
    assert apply_edits(text, [edit(1, 14, 1, 14, "retain_graph=True")]) == "loss.backward(retain_graph=True)\n"


def test_edit_order_does_not_matter():
    text = "a = 1\nb = 2\nc = 3\n"
    edits = [edit(3, 4, 3, 5, "30"), edit(1, 4, 1, 5, "10")]
    assert apply_edits(text, edits) == apply_edits(text, list(reversed(edits))) == "a = 10\nb = 2\nc = 30\n"


def test_touching_edits_are_not_overlapping():
    assert apply_edits("abcdef", [edit(1, 0, 1, 3, "X"), edit(1, 3, 1, 6, "Y")]) == "XY"


def test_overlapping_edits_of_one_fix_are_rejected():
    with pytest.raises(OverlappingEdits):
        apply_edits("abcdef\n", [edit(1, 0, 1, 4, "X"), edit(1, 2, 1, 6, "Y")])


def test_crlf_line_endings_are_kept():
    text = "import torch\r\ny.add_(x)\r\nz = 1\r\n"
    result = apply_edits(text, [edit(2, 0, 2, 9, "y = y + x")])
    assert result == "import torch\r\ny = y + x\r\nz = 1\r\n"


def test_a_column_past_the_line_end_stops_before_the_line_ending():
    # An end column beyond the text must not eat the "\r" of "\r\n".
    result = apply_edits("ab\r\ncd\r\n", [edit(1, 1, 1, 99, "X")])
    assert result == "aX\r\ncd\r\n"


def test_lines_split_like_python_so_form_feed_is_not_a_line_break():
    # str.splitlines() would treat \x0c as a line break; Python's tokenizer does not.
    text = "a = 1  \x0c# page\nb = 2\n"
    assert apply_edits(text, [edit(2, 4, 2, 5, "3")]) == "a = 1  \x0c# page\nb = 3\n"


# ---------------------------------------------------------------- choose_fix / apply_fixes


def test_choose_fix_prefers_the_first_safe_fix():
    unsafe = Fix("unsafe", (edit(1, 0, 1, 1, "u"),), safe=False)
    safe = Fix("safe", (edit(1, 0, 1, 1, "s"),), safe=True)
    assert choose_fix(finding_with(unsafe, safe)) is safe
    assert choose_fix(finding_with(unsafe, safe), unsafe=True) is unsafe
    assert choose_fix(finding_with(unsafe)) is None
    assert choose_fix(finding_with()) is None


def test_apply_fixes_applies_one_fix_per_finding_and_counts_them():
    text = "a = 1\nb = 2\n"
    findings = [
        finding_with(Fix("one", (edit(1, 4, 1, 5, "10"),))),
        finding_with(Fix("two", (edit(2, 4, 2, 5, "20"),)), line=2),
        finding_with(),  # no fix: ignored
    ]
    assert apply_fixes(text, findings) == ("a = 10\nb = 20\n", 2)


def test_unsafe_fixes_only_when_asked():
    text = "a = 1\n"
    findings = [finding_with(Fix("risky", (edit(1, 4, 1, 5, "2"),), safe=False))]
    assert apply_fixes(text, findings) == (text, 0)
    assert apply_fixes(text, findings, unsafe=True) == ("a = 2\n", 1)


def test_a_fix_overlapping_an_earlier_one_is_skipped():
    text = "y.add_(x)\n"
    first = finding_with(Fix("rewrite", (edit(1, 0, 1, 9, "y = y + x"),)))
    second = finding_with(Fix("rename", (edit(1, 0, 1, 1, "z"),)))
    assert apply_fixes(text, [first, second]) == ("y = y + x\n", 1)


def test_two_insertions_at_the_same_place_conflict():
    text = "a\n"
    first = finding_with(Fix("one", (edit(1, 0, 1, 0, "1"),)))
    second = finding_with(Fix("two", (edit(1, 0, 1, 0, "2"),)))
    assert apply_fixes(text, [first, second]) == ("1a\n", 1)


def test_fixes_kept_together_are_those_a_pairwise_comparison_keeps():
    # The search among the kept ranges (once a comparison with each, quadratic for
    # thousands of findings) must keep exactly the fixes that conflict with none before them.
    import random

    from gradwatch.fixes import _compatible, _conflict, _Offsets, _resolved

    text = "abcdefghijklmnopqrstuvwxyz\n"
    offsets = _Offsets(text)
    chance = random.Random(7)
    for _ in range(300):
        fixes = []
        for _ in range(chance.randint(1, 12)):
            edits = []
            for _ in range(chance.randint(1, 2)):
                start = chance.randint(0, 26)
                end = min(26, start + chance.choice([0, 0, 1, 2, 4]))
                edits.append(edit(1, start, 1, end, "X"))
            fixes.append(Fix("f", tuple(edits)))
        expected: list[int] = []
        taken_ranges: list[tuple[int, int]] = []
        for index, fix in enumerate(fixes):
            try:
                ranges = [r[:2] for r in _resolved(offsets, fix.edits)]
            except OverlappingEdits:
                continue
            if not any(_conflict(new, old) for new in ranges for old in taken_ranges):
                expected.append(index)
                taken_ranges += ranges
        assert [index for index, _ in _compatible(offsets, fixes)] == expected


def test_a_finding_is_reported_again_when_a_range_of_its_rule_touches_it_as_a_scan_would_say():
    import random

    from gradwatch.fixes import _Ranges

    chance = random.Random(11)
    for _ in range(300):
        ranges = [(start, start + chance.randint(0, 9)) for start in (chance.randint(0, 40) for _ in range(6))]
        index = _Ranges(ranges)
        for start in range(0, 50, 3):
            end = start + chance.randint(0, 4)
            assert index.touches(start, end) == any(low <= end and start <= high for low, high in ranges)


def test_a_fix_whose_own_edits_overlap_is_skipped_not_fatal():
    broken = finding_with(Fix("broken", (edit(1, 0, 1, 3, "X"), edit(1, 1, 1, 2, "Y"))))
    good = finding_with(Fix("good", (edit(1, 5, 1, 6, "Z"),)))
    assert apply_fixes("abcdef\n", [broken, good]) == ("abcdeZ\n", 1)


def test_a_multi_edit_fix_is_applied_whole():
    text = "import torch\nx = f()\n"
    fix = Fix("wrap", (edit(2, 4, 2, 4, "torch.no_grad() and "), edit(1, 0, 1, 0, "# note\n")))
    assert apply_fixes(text, [finding_with(fix)]) == ("# note\nimport torch\nx = torch.no_grad() and f()\n", 1)


# ---------------------------------------------------------------- fix_until_stable

INCREMENT = re.compile(r"^(\w+) \+= 1$", re.MULTILINE)


def increments(text: str) -> list[Finding]:
    """A stand-in rule for the loop logic: each `n += 1` may be fixed into `n = n + 1`."""
    result = []
    for match in INCREMENT.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        span = Span(line, 0, line, len(match.group(0)))
        name = match.group(1)
        result.append(finding_with(Fix("spell out", (TextEdit(span, f"{name} = {name} + 1"),)), line=line))
    return result


def test_fix_until_stable_reports_what_is_left():
    outcome = fix_until_stable("a += 1\nb += 1\nc = 2\n", increments)
    assert outcome.text == "a = a + 1\nb = b + 1\nc = 2\n"
    assert outcome.fixed == 2
    assert outcome.findings == []


def first_increment(text: str) -> list[Finding]:
    """Like `increments`, but reports only the first one: each fix exposes the next."""
    return increments(text)[:1]


def test_fix_until_stable_iterates_when_a_fix_exposes_another():
    outcome = fix_until_stable("a += 1\nb += 1\nc += 1\n", first_increment)
    assert (outcome.text, outcome.fixed, outcome.findings) == ("a = a + 1\nb = b + 1\nc = c + 1\n", 3, [])


def test_fix_until_stable_stops_after_the_round_limit():
    names = [f"n{i}" for i in range(MAX_FIX_ROUNDS + 2)]
    outcome = fix_until_stable("".join(f"{name} += 1\n" for name in names), first_increment)
    assert outcome.fixed == MAX_FIX_ROUNDS
    assert outcome.text.count(" += 1") == 2
    assert len(outcome.findings) == 1


def test_a_fix_that_would_break_the_syntax_is_thrown_away():
    def breaking(text: str) -> list[Finding]:
        return [finding_with(Fix("break", (edit(1, 0, 1, 0, "def ("),)))]

    outcome = fix_until_stable("a = 1\n", breaking)
    assert outcome.text == "a = 1\n"
    assert outcome.fixed == 0


# ---------------------------------------------------------------- with the real engine

GW203_EXAMPLE = (
    "import torch\n"
    "x = torch.randn(3, requires_grad=True)\n"
    "y = x * 2\n"
    "y.add_(x)\n"
    "y.sum().backward()\n"
)


def test_gw203_fix_rewrites_the_in_place_op_and_the_recheck_is_clean():
    def check(text: str) -> list[Finding]:
        return check_source(text, "example.py").findings

    findings = check(GW203_EXAMPLE)
    assert any(f.code == "GW203" and f.fix is not None for f in findings)
    outcome = fix_until_stable(GW203_EXAMPLE, check)
    assert "y = y + x\n" in outcome.text
    assert "y.add_(x)" not in outcome.text
    ast.parse(outcome.text)
    assert not [f for f in outcome.findings if f.code == "GW203"]


def test_gw203_fix_keeps_crlf_line_endings():
    crlf = GW203_EXAMPLE.replace("\n", "\r\n")
    outcome = fix_until_stable(crlf, lambda text: check_source(text, "example.py").findings)
    assert "y = y + x\r\n" in outcome.text
    assert "\n" not in outcome.text.replace("\r\n", "")
