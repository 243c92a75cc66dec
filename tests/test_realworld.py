"""The real-world corpus: every case's header is well formed, and torch does what it says.

A positive raises the error its header names (or its asserts showing the lost
gradient hold); a negative runs cleanly. A label that torch does not confirm is
wrong. What gradwatch finds in the corpus is measured by benchmarks/realworld.py.
"""

from __future__ import annotations

from collections import Counter

import pytest

from realworld_corpus import ROOT, confirms, load_cases, run_case

CASES = load_cases()
MIN_POSITIVES = 80
MIN_NEGATIVES = 60


def test_the_corpus_is_large_enough() -> None:
    positives = sum(case.positive for case in CASES)
    assert positives >= MIN_POSITIVES
    assert len(CASES) - positives >= MIN_NEGATIVES


def test_each_positive_comes_from_its_own_report() -> None:
    sources = Counter(case.source for case in CASES if case.positive)
    assert [source for source, count in sources.items() if count > 1] == []
    assert all(case.source.startswith("https://") for case in CASES)


def test_frozen_list_names_existing_cases() -> None:
    names = {case.name for case in CASES}
    frozen = (ROOT / "frozen.txt").read_text().split()
    assert frozen and set(frozen) <= names


@pytest.mark.parametrize("case", [c for c in CASES if c.positive], ids=lambda c: c.name)
def test_cause_lines_are_code(case) -> None:
    lines = case.path.read_text().splitlines()
    for cause in case.causes:
        assert 1 <= cause <= len(lines), f"cause line {cause} is outside the file"
        text = lines[cause - 1].strip()
        assert text and not text.startswith("#"), f"cause line {cause} is blank or a comment"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_torch_confirms_the_header(case) -> None:
    pytest.importorskip("torch")
    outcome = run_case(case.path)
    expected = case.expect.kind if case.expect.kind != "raises" else f"{case.expect.error_type}: {case.expect.text}"
    assert confirms(case.expect, outcome), f"header says {expected!r}; torch: {outcome.describe()}"
