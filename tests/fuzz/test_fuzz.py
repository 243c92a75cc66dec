"""A short fixed-seed fuzz campaign, and tests that its oracles catch what they look for.

The campaign mutates the repository's own Python files, injects every rule's
examples into them in hostile contexts, generates programs with hypothesmith,
and puts one batch through the CLI under 8 hash seeds and two --jobs values.
The long run is `python benchmarks/fuzz.py` (see its --help).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest

from fuzz_campaign import Campaign, Plan, clean_output_folder, failure_list
from fuzz_inputs import hazard_snippets, in_hostile_context, repository_seeds
from fuzz_editor import apply_lsp_edits
from fuzz_oracles import KINDS, Examination, _check_cached_recheck, judge_fix
from fuzz_syntax import Lines, parses
from gradwatch.findings import Finding, Fix, Severity, Span, TextEdit

INPUTS = 150

# Kinds the current code still fails (each an expected failure until its fix lands).
BEING_FIXED: set[str] = set()


# Outside pytest's temporary folders, which later runs delete: the reproducers outlive the run.
OUT = Path(tempfile.gettempdir()) / "gradwatch-fuzz-ci"


@pytest.fixture(scope="module")
def summary():
    clean_output_folder(OUT)
    plan = Plan(
        seed=12,
        inputs=INPUTS,
        fix_trials=80,
        jobs=2,
        generated_share=0.2,
        generated_batch=10,
        huge_share=0.005,
        huge_bytes=1024 * 1024,
        cli_every=INPUTS,
        cli_batch=40,
        cli_variants=[(seed, 1 + seed % 2) for seed in range(1, 8)] + [(0, 2)],
        out=OUT,
        progress=False,
        start_method="spawn",  # never fork pytest, which may run threads by now
    )
    return Campaign(plan).run()


def test_the_campaign_covers_every_input_family(summary):
    assert sum(summary.inputs.values()) >= INPUTS
    assert summary.inputs["mutation"] > 0 and summary.inputs["injection"] > 0
    for generator in ("torch", "grammar", "node"):
        assert summary.inputs[f"generated:{generator}"] > 0, generator
    assert summary.fix_trials >= 80
    assert summary.cli_batches == 1 and summary.cli_files == 40


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(kind, marks=pytest.mark.xfail(strict=False, reason="issue 12: being fixed"))
        if kind in BEING_FIXED
        else kind
        for kind in KINDS
    ],
)
def test_no_failures(summary, kind):
    assert summary.count(kind) == 0, failure_list(summary)


# ---------------------------------------------------------------- the oracles themselves

HAZARD = "import torch\nx = torch.randn(3, requires_grad=True)\ny = x.sigmoid()\n{}\ny.sum().backward()\n"


def finding_fixed_by(text: str, line: int, *edits: TextEdit, safe: bool = True) -> tuple[Finding, Fix]:
    fix = Fix("test fix", tuple(edits), safe=safe)
    return Finding("GW201", Severity.ERROR, "modified in place", Span(line, 0, line, 9), fixes=(fix,)), fix


def kinds_of(failures) -> set[str]:
    return {failure.kind for failure in failures}


def test_a_fix_that_breaks_parsing_is_caught():
    text = HAZARD.format("y.add_(x)")
    finding, fix = finding_fixed_by(text, 4, TextEdit(Span(4, 0, 4, 9), "y = y.add(x"))
    assert "fix_breaks_parsing" in kinds_of(judge_fix(text, finding, fix))


def test_a_safe_fix_that_changes_the_code_around_it_is_caught():
    # Inside a call, `y = y + x` still parses: as a keyword argument.
    text = HAZARD.format("print(\n    y.add_(x)\n)")
    finding, fix = finding_fixed_by(text, 5, TextEdit(Span(5, 4, 5, 13), "y = y + x"))
    assert "safe_fix_changes_behaviour" in kinds_of(judge_fix(text, finding, fix))


def test_a_safe_fix_that_rewrites_only_its_statement_passes():
    text = HAZARD.format("y.add_(x)")
    finding, fix = finding_fixed_by(text, 4, TextEdit(Span(4, 0, 4, 9), "y = y + x"))
    clone, clone_fix = finding_fixed_by(text, 4, TextEdit(Span(4, 0, 4, 0), "y = y.clone()\n"))
    assert not kinds_of(judge_fix(text, finding, fix)) & set(KINDS) - {"fix_leaves_finding"}
    assert not kinds_of(judge_fix(text, clone, clone_fix)) & set(KINDS) - {"fix_leaves_finding"}


def test_an_inserted_block_header_is_a_change_of_behaviour():
    text = HAZARD.format("y.add_(x)")
    finding, fix = finding_fixed_by(text, 4, TextEdit(Span(4, 0, 4, 0), "if x is None:\n    "))
    assert "safe_fix_changes_behaviour" in kinds_of(judge_fix(text, finding, fix))


@pytest.mark.parametrize(
    "span",
    [Span(40, 0, 40, 1), Span(4, 3, 4, 99), Span(4, 5, 4, 2), Span(0, 0, 1, 0)],
    ids=["line past the end", "column past the line", "end before start", "line zero"],
)
def test_an_edit_outside_the_text_is_caught(span):
    text = HAZARD.format("y.add_(x)")
    finding, fix = finding_fixed_by(text, 4, TextEdit(span, "z"))
    assert kinds_of(judge_fix(text, finding, fix)) == {"edit_out_of_range"}


CALLER_AND_CALLEE = """\
import torch


def gate(x):
    return torch.sigmoid(x)


def step():
    x = torch.randn(3, requires_grad=True)
    g = gate(x)
    g.mul_(2)
    g.sum().backward()
"""


def test_a_recheck_that_replays_a_stale_scope_is_caught(monkeypatch):
    from gradwatch.analysis.cached_scopes import CachedScopes
    from gradwatch.checker import check_source

    result = check_source(CALLER_AND_CALLEE)
    assert [f.code for f in result.findings] == ["GW201"]
    examination = Examination()
    _check_cached_recheck(CALLER_AND_CALLEE, result, examination, pick=4)  # `gate`'s return line
    assert examination.failures == []
    # A cache that replays `step` although the `gate` it followed changed since:
    monkeypatch.setattr(CachedScopes, "_replayable", lambda self, entry: True)
    _check_cached_recheck(CALLER_AND_CALLEE, result, examination, pick=4)
    assert kinds_of(examination.failures) == {"cached_differs"}


def test_an_edit_across_two_statements_is_caught():
    text = HAZARD.format("y.add_(x)")
    finding, fix = finding_fixed_by(text, 4, TextEdit(Span(3, 4, 4, 9), "x.sigmoid(); y = y + x"))
    assert "edit_out_of_range" in kinds_of(judge_fix(text, finding, fix))


def test_spans_are_judged_with_python_line_endings():
    lines = Lines("a = 1\r\nb = 2\rc\x0cd\n")
    assert lines.problem(Span(3, 0, 3, 3)) is None  # \x0c does not end a line
    assert lines.problem(Span(4, 0, 4, 0)) is None  # the empty line after the last \n
    assert lines.problem(Span(1, 6, 1, 6)) is not None  # inside the \r\n


def test_lsp_edits_count_utf16_units():
    from lsprotocol import types

    def at(line: int, character: int) -> types.Position:
        return types.Position(line=line, character=character)

    text = 's = "🔥"; y.add_(x)\r\nz = 1\n'
    edit = types.TextEdit(range=types.Range(start=at(0, 10), end=at(0, 19)), new_text="y = y + x")
    assert apply_lsp_edits(text, [edit]) == 's = "🔥"; y = y + x\r\nz = 1\n'


# ---------------------------------------------------------------- the inputs


def test_hostile_contexts_keep_every_hazard_example_valid_python():
    for code, snippet in hazard_snippets():
        for seed in range(20):
            variant = in_hostile_context(random.Random(seed), snippet)
            assert parses(variant), f"{code} seed {seed}:\n{variant}"


def test_inputs_are_the_same_for_the_same_seed():
    from fuzz_campaign import InputMaker

    first, second = InputMaker(Plan(seed=5, inputs=10)), InputMaker(Plan(seed=5, inputs=10))
    assert [first.mutated(n) for n in range(20)] == [second.mutated(n) for n in range(20)]
    assert [first.injected(n) for n in range(20)] == [second.injected(n) for n in range(20)]


def test_seed_material_includes_the_real_world_corpus_and_rule_examples():
    names = [seed.name for seed in repository_seeds()]
    assert any(name.startswith("tests/realworld/") for name in names)
    assert any(name.startswith("server/gradwatch/") for name in names)
    assert any(name.startswith("rule:") for name in names)
