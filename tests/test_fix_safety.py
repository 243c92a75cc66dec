"""Fixes that are always correct: every fix is verified before anyone sees it, and a
safe fix never changes what the program computes (issue 12, defects 1-6).

The inputs of each defect are the issue's own; where torch can tell, programs
run before and after the fix.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from gradwatch.checker import check_source
from gradwatch.findings import Finding, Fix, Severity, Span, TextEdit
from gradwatch.fixes import FixVerifier, apply_edits, fix_until_stable, verified_fixes, with_verified_fixes
from gradwatch.source import SourceText

PRELUDE = "import torch\nx = torch.randn(3, requires_grad=True)\n"


def check(text: str) -> list[Finding]:
    return check_source(text, "example.py").findings


def offered(text: str) -> list[tuple[Finding, Fix]]:
    """Every (finding, fix) a user could be shown: the fixes that verify."""
    verifier = FixVerifier(text, check)
    return [(finding, fix) for finding in verifier.findings for fix in verifier.verified(finding)]


def fixed_by_cli(text: str, unsafe: bool = False) -> str:
    return fix_until_stable(text, check, unsafe=unsafe).text


def run(text: str) -> dict:
    namespace: dict = {"__name__": "__fixed__"}
    exec(compile(text, "<example>", "exec"), namespace)
    return namespace


# ---------------------------------------------------------------- defect 1: rewrites decided on the syntax tree


@pytest.mark.parametrize(
    "statement",
    [
        "print(\n    y.add_(x)\n)\n",  # inside a call: `print(y = y + x)` parses, as a keyword argument
        "z = [\n    y.add_(x)\n]\n",  # inside a list
        "z = x + \\\n    y.add_(x)\n",  # after a backslash continuation
    ],
    ids=["call", "list", "backslash"],
)
@pytest.mark.parametrize("producer", ["x * 2", "x.sigmoid()"], ids=["GW203", "GW201"])
def test_an_in_place_call_inside_an_expression_is_never_rewritten_as_an_assignment(statement, producer):
    text = PRELUDE + f"y = {producer}\n" + statement + "y.sum().backward()\n"
    for _, fix in offered(text):
        assert not fix.title.startswith("Rewrite"), fix
        assert "y = y + x" not in apply_edits(text, fix.edits)
    assert "y = y + x" not in fixed_by_cli(text, unsafe=True)


def test_print_of_an_in_place_call_is_left_alone_by_fix():
    # The issue: `--fix` (safe only) wrote `print(\n    y = y + x\n)` and printed "All checks passed!".
    text = PRELUDE + "y = x * 2\nprint(\n    y.add_(x)\n)\ny.sum().backward()\n"
    assert fixed_by_cli(text) == text


def test_a_parenthesised_method_is_rewritten_from_the_tree():
    text = PRELUDE + "y = x * 2\n(y.clamp_)(0, 1)\ny.sum().backward()\n"
    fixed = fixed_by_cli(text)
    assert "y = y.clamp(0, 1)\n" in fixed
    run(fixed)


def test_a_parenthesised_statement_is_replaced_whole():
    text = PRELUDE + "y = x * 2\n(y.add_(x))\ny.sum().backward()\n"
    assert "\ny = y + x\n" in fixed_by_cli(text)


def test_an_in_place_method_without_an_out_of_place_twin_is_not_rewritten():
    # `Tensor.copy` does not exist: `y = y.copy(x)` would raise AttributeError.
    text = PRELUDE + "y = x * 2\ny.copy_(x)\ny.sum().backward()\n"
    assert all("y.copy(" not in apply_edits(text, fix.edits) for _, fix in offered(text))


def test_clone_first_goes_before_the_statement_not_inside_the_call():
    text = PRELUDE + "y = x.sigmoid()\nprint(\n    y.add_(1)\n)\ny.sum().backward()\n"
    clones = [(finding, fix) for finding, fix in offered(text) if fix.title.startswith("Clone")]
    assert clones
    for finding, fix in clones:
        fixed = apply_edits(text, fix.edits)
        assert "y = x.sigmoid()\ny = y.clone()\nprint(\n    y.add_(1)\n)\n" in fixed
        assert finding.code not in [f.code for f in check(fixed)]
        run(fixed)


def test_clone_first_is_not_inserted_after_a_backslash_continuation():
    text = PRELUDE + "if True:\n    y = x.sigmoid(); \\\n  y[0] = 1.0\n    y.sum().backward()\n"
    assert not [fix for _, fix in offered(text) if fix.title.startswith("Clone")]


# ---------------------------------------------------------------- safe means: the same computation


# Deterministic values: the program runs twice, before and after the fix.
SAFETY_PRELUDE = "import torch\nx = torch.arange(1.0, 4.0, requires_grad=True)\n"
SAFETY_CASES = {
    # name: (program, is the out-of-place rewrite allowed to be safe?)
    "only-name": ("y = x * 2\ny.add_(x)\nresult = y\n", True),
    "in-a-list": ("y = x * 2\nkept = [y]\ny.add_(x)\nresult = kept[0]\n", False),
    "appended": ("y = x * 2\nkept = []\nkept.append(y)\ny.add_(x)\nresult = kept[0]\n", False),
    "a-view": ("y = x * 2\nv = y[0:2]\ny.add_(x)\nresult = v\n", False),
    "an-alias": ("y = x * 2\nz = y\ny.add_(x)\nresult = z\n", False),
    "a-parameter": ("def bump(t):\n    t.add_(x)\n\ny = x * 2\nbump(y)\nresult = y\n", False),
    "returned-by-a-closure": ("y = x * 2\ndef get():\n    return y\n\nkept = get()\ny.add_(x)\nresult = kept\n", False),
    "a-dict-key": ("y = x * 2\nseen = {}\nseen[y] = 1\ny.add_(x)\nresult = next(iter(seen))\n", False),
}


@pytest.mark.parametrize("name", list(SAFETY_CASES))
def test_a_safe_rewrite_computes_what_the_in_place_op_computed(name):
    program, may_be_safe = SAFETY_CASES[name]
    text = SAFETY_PRELUDE + program + "result.sum().backward()\n"
    rewrites = [fix for _, fix in offered(text) if fix.title.startswith("Rewrite")]
    assert rewrites, "the rewrite is offered (safe or not)"
    for fix in rewrites:
        fixed = apply_edits(text, fix.edits)
        same = bool((run(text)["result"] == run(fixed)["result"]).all())
        assert fix.safe == may_be_safe
        if fix.safe:
            assert same, f"a safe fix changed the result:\n{fixed}"
        if not may_be_safe:
            assert not same, "the case must show a difference, or it tests nothing"


def test_turning_inplace_off_is_unsafe_when_the_input_has_a_name_of_its_own():
    # `gate` is no longer modified after `inplace=False`; cloning first keeps the program's values.
    text = (
        "import torch\nimport torch.nn as nn\n\nx = torch.randn(4, requires_grad=True)\n"
        "gate = torch.tanh(x)\nact = nn.ReLU(inplace=True)\nout = act(gate)\nout.sum().backward()\n"
    )
    fixes = {fix.title: fix for _, fix in offered(text)}
    assert not fixes["Set `inplace=False`"].safe
    assert fixes["Clone `gate` before modifying it"].safe
    fixed = fixed_by_cli(text)
    assert "gate = gate.clone()\nout = act(gate)" in fixed
    after = run(fixed)
    # The original raises at backward; before it, `gate` held the ReLU's output, as it still does.
    assert bool((after["gate"] == after["out"]).all())


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("(y.detach)()", "z = y\n"),
        ("(y + 1).detach()", "z = (y + 1)\n"),
        ("y.detach()", "z = y\n"),
    ],
)
def test_removing_detach_leaves_the_receiver(expression, expected):
    text = PRELUDE + f"y = x * 2\nz = {expression}\nz.sum().backward()\n"
    (fix,) = [fix for finding, fix in offered(text) if finding.code == "GW101"]
    fixed = apply_edits(text, fix.edits)
    assert expected in fixed
    run(fixed)


def test_inplace_off_is_safe_for_a_functional_call_but_not_for_a_shared_module():
    text = textwrap.dedent(
        """\
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
                self.act = nn.ReLU(inplace=True)

            def forward(self, x):
                h = torch.sigmoid(self.fc(x))
                h = self.act(h)
                g = torch.sigmoid(self.fc(x))
                g = F.relu(g, inplace=True)
                return h + g
        """
    )
    safety = {finding.span.line: fix.safe for finding, fix in offered(text) if fix.title == "Set `inplace=False`"}
    # `self.act` may run at other calls too; `F.relu(g, ...)` writes only `g`, which it rebinds.
    assert safety == {13: False, 15: True}


# ---------------------------------------------------------------- defect 2: added arguments


def test_retain_graph_goes_into_the_backward_call_not_the_first_parenthesis():
    text = PRELUDE + "y = x.exp()\ny.sum().backward()\ny.sum().backward()\n"
    (fix,) = [fix for finding, fix in offered(text) if finding.code == "GW106"]
    fixed = apply_edits(text, fix.edits)
    assert "y.sum().backward(retain_graph=True)\ny.sum().backward()\n" in fixed
    run(fixed)


@pytest.mark.parametrize(
    "code, program",
    [
        (
            "GW103",
            "w = torch.randn(10,  # c\n)\nloss = (x * w.sum()).sum()\ngrads = torch.autograd.grad(loss, [x, w])\n",
        ),
        ("GW104", "w = torch.randn(3,  # c\n)\n(x * w).sum().backward()\nprint(w.grad)\n"),
        (
            "GW107",
            "y = torch.randn(3, requires_grad=True)\nout = x.exp().sum()\n"
            "grads = torch.autograd.grad(out, [x, y]  # c\n)\n",
        ),
        ("GW109", "counts = torch.tensor([1, 2, 3], requires_grad=True,  # c\n)\n"),
        ("GW106", "loss = (x.exp() * 2).sum()\nloss.backward(\n    inputs=[x],  # c\n)\nloss.backward()\n"),
    ],
)
def test_an_argument_added_before_a_trailing_comment_gets_one_comma(code, program):
    text = PRELUDE + program
    fixes = [fix for finding, fix in offered(text) if finding.code == code]
    assert fixes, f"{code} offers its fix"
    for fix in fixes:
        fixed = apply_edits(text, fix.edits)
        ast.parse(fixed)
        assert ", ," not in fixed and "(," not in fixed.replace(" ", "")
        assert code not in [f.code for f in check(fixed)]
        run(fixed)


@pytest.mark.parametrize(
    "call, expected",
    [
        ("y.backward(  # c\n)", "y.backward(  # c\ngradient=torch.ones_like(y))"),
        ("(y.backward)()", "(y.backward)(gradient=torch.ones_like(y))"),
    ],
)
def test_gw112_gradient_argument_goes_inside_the_call(call, expected):
    text = PRELUDE + f"y = x * 2\n{call}\n"
    (fix,) = [fix for finding, fix in offered(text) if fix.title.startswith("Pass `gradient")]
    fixed = apply_edits(text, fix.edits)
    assert expected in fixed
    run(fixed)


# ---------------------------------------------------------------- defect 3: column after a backslash


def test_dot_of_an_attribute_after_a_backslash_continuation():
    text = "n = s.\\\nnumpy()\n"
    attribute = ast.parse(text).body[0].value.func
    assert SourceText(text).dot_of(attribute) == Span(1, 5, 1, 5)


def test_detach_goes_before_the_dot_on_the_line_above():
    text = PRELUDE + "s = x * 2\nn = s.\\\nnumpy()\n"
    (fix,) = [fix for finding, fix in offered(text) if finding.code == "GW108"]
    assert all(edit.span.column >= 0 for edit in fix.edits)
    fixed = apply_edits(text, fix.edits)
    assert "n = s.detach().\\\nnumpy()\n" in fixed
    run(fixed)


# ---------------------------------------------------------------- defect 4: verification


def fake(*fixes: Fix, code: str = "GW999", span: Span = Span(1, 0, 1, 5)) -> Finding:
    return Finding(code, Severity.WARNING, "stand-in", span, fixes=fixes)


def test_a_fix_that_adds_an_error_is_not_offered():
    # `requires_grad=True` on `torch.arange(3)` trades GW103 for GW109: torch still raises.
    text = "import torch\nx = torch.arange(3)\nw = torch.randn(3, requires_grad=True)\nloss = (x * w).sum()\n"
    text += "grads = torch.autograd.grad(loss, [w, x])\n"
    (finding,) = [f for f in check(text) if f.code == "GW103"]
    assert finding.fixes, "the rule proposes a fix"
    assert verified_fixes(text, finding, check) == ()


@pytest.mark.parametrize(
    "edit, reason",
    [
        (TextEdit(Span(2, -1, 2, -1), ".detach()"), "outside the text"),
        (TextEdit(Span(2, 4, 3, 3), "0\nb"), "beyond the statement"),
        (TextEdit(Span(4, 0, 4, 0), "c = 3\n"), "beyond the statement"),  # a comment line: no statement there
        (TextEdit(Span(2, 4, 2, 5), "(1"), "does not parse"),
        (TextEdit(Span(2, 4, 2, 5), "1"), "changes nothing"),
    ],
)
def test_a_fix_that_fails_a_test_is_not_offered(edit, reason):
    text = "import torch\na = 1\nb = 2\n# end\n"
    finding = fake(Fix("stand-in", (edit,)), span=Span(2, 0, 2, 5))
    verifier = FixVerifier(text, lambda _: [finding])
    assert reason in verifier.problem(finding, finding.fixes[0])
    assert with_verified_fixes(verifier, [finding])[0].fixes == ()


def test_a_fix_that_leaves_its_finding_is_not_offered():
    text = "a = 1\n"
    finding = fake(Fix("rename", (TextEdit(Span(1, 0, 1, 1), "b"),)), span=Span(1, 0, 1, 5))
    assert verified_fixes(text, finding, lambda _: [finding]) == ()


def test_one_fix_that_breaks_the_code_does_not_cancel_the_others():
    # `f(a, b=1)` and `f(a, b, c)` each parse; together (`f(a, b=1, c)`) they do not. Only
    # the second waits; the fix on the next line is applied in the same round.
    text = "f(a, b)\ng = 1\n"

    def stand_in(current: str) -> list[Finding]:
        found = []
        if current.startswith("f(a, b)"):
            keyword = Fix("keyword", (TextEdit(Span(1, 5, 1, 6), "b=1"),))
            append = Fix("append", (TextEdit(Span(1, 6, 1, 6), ", c"),))
            found.append(fake(keyword, code="GW901", span=Span(1, 5, 1, 6)))
            found.append(fake(append, code="GW902", span=Span(1, 0, 1, 1)))
        if "g = 1" in current:
            found.append(fake(Fix("g", (TextEdit(Span(2, 4, 2, 5), "2"),)), code="GW903", span=Span(2, 0, 2, 5)))
        return found

    verifier = FixVerifier(text, stand_in)
    chosen = [(finding, finding.fixes[0]) for finding in verifier.findings]
    assert all(verifier.problem(finding, fix) is None for finding, fix in chosen)
    new_text, applied = verifier.combine(chosen)
    assert new_text == "f(a, b=1)\ng = 2\n"
    assert [fix.title for _, fix in applied] == ["keyword", "g"]
    assert fix_until_stable(text, stand_in).text == new_text


def test_fixes_in_a_file_with_a_syntax_error_elsewhere_are_judged_on_their_own_statement():
    broken = "\ndef half_typed(:\n    pass\n"
    text = PRELUDE + "if True:\n    y = x * 2\n    y.add_(x)\n    y.sum().backward()\n" + broken
    (fix,) = [fix for finding, fix in offered(text) if finding.code == "GW203"]
    assert "    y = y + x\n" in apply_edits(text, fix.edits)
    (finding,) = [f for f in check(text) if f.code == "GW203"]
    breaking = Fix("break it", (TextEdit(finding.span, "y = (y"),))
    assert "does not parse" in FixVerifier(text, check).problem(finding, breaking)


# ---------------------------------------------------------------- defect 5: line endings


def test_a_line_a_fix_inserts_takes_the_files_crlf():
    text = PRELUDE.replace("\n", "\r\n") + "y = x.sigmoid()\r\ny[0] = 1.0\r\ny.sum().backward()\r\n"
    fixed = fixed_by_cli(text)
    assert "y = y.clone()\r\ny[0] = 1.0\r\n" in fixed
    assert "\n" not in fixed.replace("\r\n", "")


# ---------------------------------------------------------------- defect 6: no progress, no rounds


SEQUENTIAL_MODULE = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn


    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.ReLU(True))

        def forward(self, x):
            x = self.seq(x)
            return x
    """
)


def test_a_clone_that_changes_nothing_is_not_applied_ten_times():
    # The write happens inside the Sequential: cloning its input first leaves the finding.
    def sequential_finding(text: str) -> list[Finding]:
        line = text.splitlines().index("        x = self.seq(x)") + 1
        clone = Fix("Clone `x` before modifying it", (TextEdit(Span(line, 8, line, 8), "x = x.clone()\n        "),))
        return [Finding("GW201", Severity.ERROR, "stand-in", Span(line, 12, line, 23), fixes=(clone,))]

    outcome = fix_until_stable(SEQUENTIAL_MODULE, sequential_finding)
    assert (outcome.fixed, outcome.text) == (0, SEQUENTIAL_MODULE)


# ---------------------------------------------------------------- the command line


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'sample'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    from gradwatch.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


UNVERIFIABLE_GW103 = (
    "import torch\nx = torch.arange(3)\nw = torch.randn(3, requires_grad=True)\nloss = (x * w).sum()\n"
    "grads = torch.autograd.grad(loss, [w, x])\n"
)


def test_cli_fix_leaves_an_in_place_call_inside_print_alone(project, capsys):
    source = PRELUDE + "y = x.sigmoid()\nprint(\n    y.add_(x)\n)\ny.sum().backward()\n"
    path = project / "printed.py"
    path.write_text(source)
    code, out, err = cli(capsys, "check", "--fix", "--unsafe-fixes", "--select", "GW201")
    fixed = path.read_text()
    ast.parse(fixed)
    assert "y = y + x" not in fixed
    assert "GW201" not in [f.code for f in check(fixed)]
    assert (code, out, err) == (0, "All checks passed!\n", "Fixed 1 finding in 1 file.\n")


def test_cli_does_not_count_or_apply_a_fix_that_fails_verification(project, capsys):
    path = project / "arange.py"
    path.write_text(UNVERIFIABLE_GW103)
    code, out, err = cli(capsys, "check", "--unsafe-fixes")
    assert out.splitlines()[-1] == "Found 1 finding (0 fixable with --fix)."
    code, out, err = cli(capsys, "check", "--fix", "--unsafe-fixes")
    assert path.read_text() == UNVERIFIABLE_GW103
    assert err == "Fixed 0 findings in 0 files.\n"
    assert code == 1


def test_fixes_tried_one_by_one_are_bounded_per_text():
    # Every fix leaves its finding: the group check says so, and each is then tried on
    # its own, a re-check each. Past the bound the rest are withheld unchecked (a file
    # of thousands of findings took minutes; a fuzz find).
    from gradwatch.fixes import MAX_FIXES_TRIED_ALONE

    count = MAX_FIXES_TRIED_ALONE + 40
    text = "".join(f"a{i} = 1\n" for i in range(count))
    findings = [
        fake(Fix("rename", (TextEdit(Span(i + 1, 0, i + 1, 1), "b"),)), span=Span(i + 1, 0, i + 1, 6)) for i in range(count)
    ]
    checked = []

    def stubborn(current: str) -> list[Finding]:
        checked.append(current)
        return findings

    verified = with_verified_fixes(FixVerifier(text, stubborn, findings), findings)
    assert all(finding.fixes == () for finding in verified)
    assert MAX_FIXES_TRIED_ALONE <= len(checked) <= MAX_FIXES_TRIED_ALONE + 2
