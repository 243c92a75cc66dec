"""No input crashes or stalls the engine, and the same input always gives the same output.

Each case is an input that once crashed, stalled or shifted findings (issue 12):
lone carriage returns, code nested hundreds of levels deep, an unterminated
triple-quoted string in a long file. A pathological input may cost findings,
never the run.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradwatch.checker import check_source
from gradwatch.cli import PARALLEL_MIN_FILES
from gradwatch.deep_nesting import ELIDED_NAME, MAX_NESTING
from gradwatch.parsing import parse
from gradwatch.syntax_recovery import MAX_PARSED_CHARACTERS, PARSE_BUDGET, recovery_budget
from gradwatch.rules import all_rules

SERVER = Path(__file__).resolve().parents[1] / "server"
REALWORLD = Path(__file__).resolve().parent / "realworld"

# A file whose block after a lone "\r" does not parse: recovery blanks that block.
LONE_CR = (
    "import torch\r"
    "def broken(:\n"
    "    pass\n"
    "w = torch.randn(3, requires_grad=True)\n"
    "scores = w * 2\n"
    "scores.numpy()\n"
)
# Once an IndexError: the shifted position of `x += 1` pointed at the line `z`.
LONE_CR_AUGMENTED = "import torch\rdef broken(:\n    pass\nx = torch.randn(3)\nz\nx += 1\n"
HAZARD = (
    "import torch\n"
    "x = torch.randn(3, requires_grad=True)\n"
    "y = x.sigmoid()\n"
    "y.add_(1)\n"
    "y.sum().backward()\n"
)
HAZARD_LINE = 4  # where GW201 reports `y.add_(1)`
SUM_3100 = "total = " + " + ".join(["x"] * 3100) + "\n"
PARSER_OUT_OF_STACK = "y" + "(" * 200 + ")3"
# 700 functions with multi-line docstrings, about 4,900 lines: a stray `"""` in one
# of them makes every later docstring's quotes pair up the wrong way.
DOCUMENTED = "".join(
    f'def f{i}(x):\n    """Double.\n\n    More text here.\n    """\n    return x * 2\n\n' for i in range(700)
)
STRAY_QUOTES = DOCUMENTED.replace('def f350(x):\n    """Double.', 'def f350(x):\n    """"""Double.')


def deeply_nested(depth: int) -> dict[str, str]:
    """Expressions nested `depth` levels deep, each a shape the analysis recurses into."""
    return {
        "product": "y = " + " * ".join(["x"] * depth),
        "negation": "y = " + "-" * depth + "x",
        "method-chain": "y = x" + ".sum()" * depth,
        "subscripts": "y = x" + "[0]" * depth,
        "conditional": "y = " + "x if x else " * depth + "x",
    }


def codes(findings) -> list[str]:
    return [finding.code for finding in findings]


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(SERVER), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gradwatch", *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )


# ---------------------------------------------------------------- line endings


def test_findings_after_a_lone_cr_stay_on_their_line():
    (finding,) = [f for f in check_source(LONE_CR).findings if f.code == "GW108"]
    assert finding.span.line == 6  # `scores.numpy()`, as Python numbers the lines
    (edit,) = finding.fix.edits
    assert (edit.span.line, edit.span.column, edit.new_text) == (6, 6, ".detach()")


def test_a_lone_cr_before_an_augmented_assignment_does_not_crash():
    assert codes(check_source(LONE_CR_AUGMENTED).findings) == ["GW001"]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_every_line_ending_gives_the_same_findings(ending):
    text = HAZARD + "def broken(:\n    pass\n" + "z = torch.tensor([1.0], requires_grad=True)\nz.numpy()\n"
    expected = [(f.code, f.span) for f in check_source(text).findings]
    assert [code for code, _ in expected] == ["GW201", "GW001", "GW108"]
    assert [(f.code, f.span) for f in check_source(text.replace("\n", ending)).findings] == expected


def test_parse_recovery_keeps_the_line_count_python_sees():
    result = parse(LONE_CR)
    assert [node.lineno for node in result.tree.body] == [1, 4, 5, 6]


def test_a_broken_line_costs_only_itself_when_another_error_follows_it():
    # `pass` stands in for the first broken line although the text still fails further down:
    # the error there is the next step, not a reason to blank the function around the first.
    text = (
        "import torch\n\n\n"
        "def train():\n"
        "    w = torch.randn(3, requires_grad=True)\n"
        "    y = w * 2 $\n"
        "    y = torch.sigmoid(w)\n"
        "    y.mul_(2)\n"
        "    y.sum().backward()\n\n\n"
        "def later(x=1:\n"
        "    return x\n"
    )
    result = parse(text)
    train = result.tree.body[1]
    assert [type(statement).__name__ for statement in train.body] == ["Assign", "Pass", "Assign", "Expr", "Expr"]
    assert result.syntax_error[1].endswith("skipped the line that contains it")
    assert [(f.code, f.span.line) for f in check_source(text).findings] == [("GW001", 6), ("GW201", 8)]


def test_fix_after_a_lone_cr_edits_the_right_line(tmp_path):
    path = tmp_path / "script.py"
    path.write_bytes(LONE_CR.encode())
    run_cli("check", "--fix", "--unsafe-fixes", "--no-cross-module", "script.py", cwd=tmp_path)
    assert path.read_bytes().decode() == LONE_CR.replace("scores.numpy()", "scores.detach().numpy()")


# ---------------------------------------------------------------- deep nesting


@pytest.mark.parametrize("shape", sorted(deeply_nested(1)))
def test_an_expression_nested_500_deep_costs_only_its_own_findings(shape):
    text = HAZARD + deeply_nested(500)[shape] + "\n"
    assert [(f.code, f.span.line) for f in check_source(text).findings] == [("GW201", HAZARD_LINE)]


def test_nesting_beyond_the_bound_becomes_an_unknown_value_at_the_same_place():
    tree = parse(deeply_nested(MAX_NESTING + 50)["product"]).tree
    depths = []
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        depths.append(depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    assert max(depths) <= MAX_NESTING + 2  # the bound, plus a stand-in's context node
    stand_in = next(n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id.startswith("__gradwatch"))
    assert stand_in.lineno == 1 and stand_in.col_offset == 4


def test_a_3100_term_sum_is_a_syntax_error_of_its_line_only():
    findings = check_source(HAZARD + SUM_3100).findings
    assert [(f.code, f.span.line) for f in findings] == [("GW201", HAZARD_LINE), ("GW001", 6)]
    assert "too deeply nested" in findings[1].message


def test_a_parser_stack_overflow_is_a_syntax_error_of_its_line_only():
    findings = check_source(HAZARD + PARSER_OUT_OF_STACK).findings
    assert [(f.code, f.span.line) for f in findings] == [("GW201", HAZARD_LINE), ("GW001", 6)]


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_an_analysis_out_of_stack_reports_a_note_and_keeps_the_syntax_error():
    # The nesting bound keeps the analysis well inside Python's default recursion
    # limit; a much lower limit stands for an input that still gets through.
    text = HAZARD + deeply_nested(90)["product"] + "\ndef broken(:\n"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 60)
    try:
        findings = check_source(text).findings
    finally:
        sys.setrecursionlimit(limit)
    assert [(f.code, f.severity.value, f.span.line) for f in findings] == [
        ("GW002", "information", 1),
        ("GW001", "error", 7),
    ]


def test_an_internal_error_in_the_analysis_is_logged_and_reported_as_a_note(monkeypatch, caplog):
    from gradwatch import checker

    def broken(*args, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'receiver'")

    monkeypatch.setattr(checker, "analyse", broken)
    findings = check_source(HAZARD + "\ndef broken(:\n").findings
    assert [(f.code, f.severity.value) for f in findings] == [("GW002", "information"), ("GW001", "error")]
    assert "internal error AttributeError" in findings[0].message
    assert any(record.getMessage().startswith("internal error") for record in caplog.records)


def test_a_text_over_the_size_limit_gets_a_note_and_is_not_parsed(monkeypatch):
    from gradwatch import checker

    def parse_refused(text):
        raise AssertionError("parsed")

    monkeypatch.setattr(checker, "parse", parse_refused)
    padding = "# " + "x" * 77 + "\n"
    text = HAZARD + padding * (checker.MAX_FILE_BYTES // len(padding))
    findings = check_source(text).findings
    assert [(f.code, f.message) for f in findings] == [
        ("GW002", "gradwatch does not analyse files larger than 512 KiB")
    ]


def test_a_file_needing_too_many_analysis_steps_is_skipped_the_same_with_or_without_the_cache(monkeypatch):
    from gradwatch.analysis import budget
    from gradwatch.analysis.scope_cache import ScopeCache

    text = "import torch\n\ndef f(x):\n" + "".join("    " + line + "\n" for line in HAZARD.splitlines()[1:])
    text += "".join(f"v{i} = torch.ones(2)\n" for i in range(20))

    def codes(steps: int, cache=None) -> list[str]:
        monkeypatch.setattr(budget, "MAX_ANALYSIS_STEPS", steps)
        return [f.code for f in check_source(text, cache=cache).findings]

    budgets = range(15, 35)
    fresh = [codes(steps) for steps in budgets]
    assert fresh[0] == ["GW002"] and fresh[-1] == ["GW201"]
    warm = ScopeCache()
    codes(1000, warm)  # f's analysis is cached; replaying it must count its steps
    assert [codes(steps, warm) for steps in budgets] == fresh


def _chain(length: int) -> str:
    """`w` (no grad) combined with a value computed from `length` other tensors, then backward."""
    lines = ["import torch", "w = torch.randn(10)", "x = torch.randn(10, requires_grad=True)", "y = x * 1"]
    lines += [f"y = y + torch.ones(10)  # {i}" for i in range(length)]
    lines += ["loss = (y * w).sum()", "loss.backward()", "print(w.grad)"]
    return "\n".join(lines) + "\n"


def test_a_value_computed_from_too_many_tensors_stops_tracking_them_and_proves_nothing_from_them(monkeypatch):
    from gradwatch.analysis import values

    # `x = x + 1` repeated 8,000 times once took 2.3 s: each result copied a larger set.
    monkeypatch.setattr(values, "MAX_TRACKED_DEPENDENCIES", 16)
    assert values.union_deps([frozenset(range(9)), frozenset(range(8, 16))]) == frozenset(range(16))
    assert values.union_deps([frozenset(range(9)), frozenset(range(8, 17))]) is None
    assert values.union_deps([frozenset([1]), None]) is None
    # GW104 needs to know that `loss` was computed from `w`: it fires while that is tracked, not after.
    assert codes(check_source(_chain(3)).findings) == ["GW104"]
    assert codes(check_source(_chain(12)).findings) == []


def test_a_backward_of_untracked_dependencies_may_reach_an_accumulator_so_gw302_stays_quiet(monkeypatch):
    from gradwatch.analysis import values

    monkeypatch.setattr(values, "MAX_TRACKED_DEPENDENCIES", 16)
    loop = "import torch\nw = torch.ones(3, requires_grad=True)\ntotal = 0\nfor step in range(3):\n"
    loop += "    total += (w * step).sum()\n    x = w * 1\n"
    # `x` is not computed from `total`: GW302 fires while that is provable, not after.
    found = {}
    for length in (3, 12):
        text = loop + "".join("    x = x + torch.ones(1)\n" for _ in range(length)) + "    x.sum().backward()\n"
        found[length] = codes(check_source(text).findings)
    assert found == {3: ["GW302"], 12: []}


def test_the_cli_reports_the_other_files_and_exits_1_whatever_one_file_holds(tmp_path):
    contents = {
        "hazard.py": HAZARD,
        "nested.py": deeply_nested(500)["product"] + "\n",
        "long_sum.py": SUM_3100,
        "parser_stack.py": PARSER_OUT_OF_STACK,
        "stray_quotes.py": STRAY_QUOTES,
        "lone_cr.py": LONE_CR,
    }
    for name, text in contents.items():
        (tmp_path / name).write_bytes(text.encode())
    result = run_cli("check", "--no-cross-module", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    assert "hazard.py:4:1: GW201" in result.stdout and "lone_cr.py:6:1: GW108" in result.stdout


# ---------------------------------------------------------------- recovery cost


@pytest.fixture
def parsed_characters(monkeypatch):
    """How many characters of code recovery hands to ast.parse (blank padding excluded)."""
    counted = [0]
    original = ast.parse

    def counting(source, *args, **kwargs):
        counted[0] += len(source.lstrip("\n"))
        return original(source, *args, **kwargs)

    monkeypatch.setattr(ast, "parse", counting)
    return counted


def test_stray_triple_quotes_in_a_long_file_cost_a_few_parses_and_one_function(parsed_characters):
    result = parse(STRAY_QUOTES)
    assert parsed_characters[0] <= 5 * len(STRAY_QUOTES)
    # Only f350 is left out; every later docstring pairs up again.
    assert [node.name for node in result.tree.body] == [f"f{i}" for i in range(700) if i != 350]
    span, message = result.syntax_error
    assert span.line == DOCUMENTED.count("\n", 0, DOCUMENTED.index("def f350")) + 1
    assert "unterminated triple-quoted string" in message


def test_an_unterminated_string_with_nothing_below_to_pair_with_costs_two_parses(parsed_characters):
    text = DOCUMENTED + 'def g():\n    s = """\n    return 1\n'
    result = parse(text)
    assert parsed_characters[0] <= 2 * len(text)
    assert len(result.tree.body) == 700 and result.syntax_error[0].line == DOCUMENTED.count("\n") + 2


def test_a_half_typed_line_costs_only_itself_so_its_function_keeps_its_finding():
    text = (
        "import torch\n"
        "def train(model, batch):\n"
        "    x = torch.randn(3, requires_grad=True)\n"
        "    y = x.sigmoid()\n"
        "    y.add_(1)\n"
        "    total = model(batch)(\n"  # being typed
        "    y.sum().backward()\n"
    )
    result = check_source(text)
    assert [(f.code, f.span.line) for f in result.findings] == [("GW201", 5), ("GW001", 6)]


@pytest.mark.parametrize(
    "typed, bound",
    [
        ("from torch import nn, F(", ["nn", "F"]),
        ("import torch.nn as", ["torch"]),
        ("import torch, numpy as np,", ["torch", "np"]),
    ],
)
def test_an_import_being_typed_keeps_the_names_before_the_error(typed, bound):
    result = parse("import os\n" + typed + "\nx = 1\n")
    imported = result.tree.body[1]
    assert isinstance(imported, (ast.Import, ast.ImportFrom))
    assert [alias.asname or alias.name.split(".")[0] for alias in imported.names] == bound
    assert result.syntax_error[0].line == 2
    assert result.syntax_error[1].endswith("gradwatch skipped the rest of that import")


def test_a_finding_that_uses_an_import_survives_a_typo_in_that_import():
    text = HAZARD.replace("import torch\n", "import torch, math(\n", 1)
    assert [(f.code, f.span.line) for f in check_source(text).findings] == [("GW001", 1), ("GW201", HAZARD_LINE)]


# A function whose hazard (GW201 at line 6) sits in a block under a header, after a
# call written over two lines: each case below breaks one line of it as typing would.
GUARDED_HAZARD = (
    "import torch\n"
    "def train(ready, log):\n"
    "    x = torch.randn(3, requires_grad=True)\n"
    "    if ready:\n"
    "        y = x.sigmoid()\n"
    "        y.add_(1)\n"
    "        log.write('backward',\n"
    "                  flush=True)\n"
    "        y.sum().backward()\n"
)


@pytest.mark.parametrize(
    "line, typed, skipped",
    [
        (4, "    if ready:(", "the rest of that line"),  # a bracket typed after the colon
        (4, "    if ready and (:", "the condition on that line"),  # a condition being edited
        (2, "def train(ready, log):[", "the rest of that line"),
        (8, "                  flush=True)(", "the rest of that line"),  # a line that continues a call
        # A bracket just typed after a whole statement: the line as it was a keystroke ago.
        (5, "        y = x.sigmoid()(", "the rest of that line"),
    ],
)
def test_a_broken_line_in_a_block_keeps_the_block_and_its_finding(line, typed, skipped):
    lines = GUARDED_HAZARD.splitlines(keepends=True)
    lines[line - 1] = typed + "\n"
    result = check_source("".join(lines))
    assert sorted((f.code, f.span.line) for f in result.findings) == [("GW001", line), ("GW201", 6)]
    assert next(f for f in result.findings if f.code == "GW001").message.endswith(f"gradwatch skipped {skipped}")


def test_a_while_whose_condition_is_being_edited_still_runs_its_body_both_ways():
    tree = parse("while n >:\n    n = n - 1\nm = n\n").tree
    loop = tree.body[0]
    assert isinstance(loop, ast.While) and loop.test.id == ELIDED_NAME
    assert ast.unparse(loop.body[0]) == "n = n - 1" and ast.unparse(tree.body[1]) == "m = n"


def test_a_broken_block_header_still_costs_its_block():
    text = "def f(x(:\n    return x\ndef g(x):\n    return x\n"
    result = parse(text)
    assert [node.name for node in result.tree.body] == ["g"]
    assert result.syntax_error[0].line == 1


def test_recovery_from_a_file_of_errors_stays_within_its_budget(parsed_characters):
    text = "def f(:\n    x\n" * 2000
    result = parse(text)
    assert parsed_characters[0] <= (PARSE_BUDGET + 2) * len(text)
    assert result.syntax_error is not None


def test_recovery_in_a_large_file_parses_a_bounded_number_of_characters(parsed_characters):
    # 12 parses of a 300 KB file would cost about 2 s; the cap keeps recovery near half a second.
    text = "def f(x):\n    return x\n\n" * 12_000 + "def f(:\n    x\n" * 20
    assert PARSE_BUDGET * len(text) > MAX_PARSED_CHARACTERS
    result = parse(text)
    assert parsed_characters[0] <= recovery_budget(len(text)) + 2 * len(text)
    assert result.syntax_error is not None and result.syntax_error[0].line == 36_001


# ---------------------------------------------------------------- determinism

HASH_SEEDS = ["0", "1", "2", "3", "42", "1000", "31337", "4294967295"]
# Runs the CLI in-process for each --jobs and file order, as text and as JSON (which
# holds everything else: fixes, related lines; SARIF is built from the same data);
# prints the outputs as JSON.
_ALL_RUNS = """
import contextlib, io, json, os, sys
from gradwatch.cli import main
files = sorted(name for name in os.listdir(".") if name.endswith(".py"))
outputs = {}
for jobs in ("1", "2"):
    for order, paths in (("sorted", files), ("reversed", files[::-1])):
        for form in ("text", "json"):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = main(["check", "--format", form, "--jobs", jobs, *paths])
            outputs[f"{form} --jobs {jobs} {order}"] = f"exit {code}\\n{out.getvalue()}"
print(json.dumps(outputs))
"""


@pytest.fixture(scope="module")
def hazard_folder(tmp_path_factory) -> Path:
    """Every rule's first example, plus the inputs above, as one folder of files."""
    folder = tmp_path_factory.mktemp("hazards")
    (folder / "pyproject.toml").write_text("[project]\nname = 'hazards'\n")
    for rule in all_rules():
        (folder / f"{rule.code.lower()}.py").write_text(rule.examples[0].code)
    extra = {
        "lone_cr.py": LONE_CR,
        "nested.py": HAZARD + deeply_nested(500)["conditional"] + "\n",
        "long_sum.py": SUM_3100,
        "stray_quotes.py": HAZARD + DOCUMENTED[:2000] + 'def g():\n    """\n' + DOCUMENTED[:2000],
        "two_saved_ops.py": HAZARD.replace("y = x.sigmoid()", "a = x.sigmoid()\nb = a * x\ny = a")
        + "b.sum().backward()\n",
    }
    for name, text in extra.items():
        (folder / name).write_bytes(text.encode())
    # Two findings with the same code and place that differ in the calls they cite.
    gan = REALWORLD / "positive" / "014_gan_tutorial_leakyrelu_dropout_inplace.py"
    (folder / "gan.py").write_text(gan.read_text(encoding="utf-8"))
    assert len(list(folder.glob("*.py"))) >= PARALLEL_MIN_FILES  # so --jobs 2 runs a process pool
    return folder


@pytest.fixture(scope="module")
def reference_outputs(hazard_folder) -> dict[str, str]:
    """Each format's output from a run with this process's own hash seed."""
    result = run_cli_script(hazard_folder, seed=None)
    return {form: result[f"{form} --jobs 1 sorted"] for form in ("text", "json")}


def run_cli_script(folder: Path, seed: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(SERVER), "NO_COLOR": "1"}
    env.pop("PYTHONHASHSEED", None)
    if seed is not None:
        env["PYTHONHASHSEED"] = seed
    result = subprocess.run(
        [sys.executable, "-c", _ALL_RUNS], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("seed", HASH_SEEDS)
def test_output_is_byte_identical_whatever_the_hash_seed_jobs_and_file_order(seed, hazard_folder, reference_outputs):
    outputs = run_cli_script(hazard_folder, seed)
    assert reference_outputs["text"].startswith("exit 1\n")
    for run, output in outputs.items():
        assert output == reference_outputs[run.split()[0]], run


def test_a_lone_surrogate_before_a_finding_gives_its_utf16_column() -> None:
    # An editor may send a lone surrogate; it is one UTF-16 code unit, not a crash.
    from gradwatch.source import utf16_column

    line = "s = '\udc80'; x.add_(1)"
    assert utf16_column(line, line.index("x")) == line.index("x")


def test_a_lone_surrogate_gets_the_same_syntax_error_whatever_the_editor_parsed_again() -> None:
    from gradwatch.analysis.scope_cache import ScopeCache
    from gradwatch.checker import check_source

    text = "import torch\nx = torch.ones(2)\ns = '\udc80'\n"
    fresh = check_source(text).findings
    assert [(f.code, f.span.line) for f in fresh] == [("GW001", 3)]
    assert "position" not in fresh[0].message
    cache = ScopeCache()
    check_source(text.replace("x = torch.ones(2)\n", ""), cache=cache)  # the chunks before the last edit
    assert check_source(text, cache=cache).findings == fresh
