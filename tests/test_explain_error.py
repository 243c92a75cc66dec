"""`gradwatch explain-error`: real torch errors in, the culprit lines out.

Each error is produced by running a small script with torch in a subprocess
and keeping its stderr (the traceback as a user would paste it). The command
must recognise it, name the saved tensor's op where torch gives it, list the
traceback's frames in the user's files (not torch's), and cite the lines that
`gradwatch.checker.check_source` finds for the rules that predict the error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the explain-error tests produce real torch errors (pip install -e .[test])")

from gradwatch.checker import check_source  # noqa: E402
from gradwatch.explain_error import KINDS, explain, op_of_node  # noqa: E402
from rule_examples import EXAMPLES  # noqa: E402

SERVER = Path(__file__).resolve().parent.parent / "server"
ENVIRONMENT = {**os.environ, "PYTHONPATH": str(SERVER)}


def _torch_error(folder: Path, code: str, name: str = "script.py") -> str:
    """Run `code` as `folder/name` with torch; its stderr (it must fail)."""
    script = folder / name
    script.write_text(textwrap.dedent(code).lstrip("\n"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=folder, env=ENVIRONMENT, timeout=300
    )
    assert done.returncode != 0, f"the script was meant to fail: {done.stdout}{done.stderr}"
    return done.stderr


def _explain_error(folder: Path, error: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gradwatch", "explain-error", *arguments],
        input=error,
        capture_output=True,
        text=True,
        cwd=folder,
        env=ENVIRONMENT,
        timeout=300,
    )


def _static_lines(path: Path, codes: tuple[str, ...]) -> list[int]:
    return [f.span.line for f in check_source(path.read_text(), str(path)).findings if f.code in codes]


# (the script, the rule that predicts its error, a phrase of the explanation's headline)
SCRIPTS = {
    "inplace": (
        """
        import torch

        x = torch.randn(3, requires_grad=True)
        y = x.sigmoid()
        y.add_(1)
        y.sum().backward()
        """,
        "GW201",
        "changed a tensor that backward needed",
    ),
    "twice": (
        """
        import torch

        x = torch.randn(3, requires_grad=True)
        loss = (x.exp() * 2).sum()
        loss.backward()
        loss.backward()
        """,
        "GW106",
        "already freed",
    ),
    "no-graph": (
        """
        import torch

        x = torch.randn(10, requires_grad=True)
        y = torch.relu(x)
        z = y.detach()
        loss = z.sum()
        loss.backward()
        """,
        "GW101",
        "has no autograd graph",
    ),
    "non-scalar": (
        """
        import torch

        x = torch.randn(3, requires_grad=True)
        y = x * 2
        y.backward()
        """,
        "GW112",
        "more than one element",
    ),
    "leaf": (
        """
        import torch

        w = torch.randn(3, requires_grad=True)
        w.add_(1)
        """,
        "GW202",
        "leaf tensor that requires grad",
    ),
    "numpy": (
        """
        import torch

        w = torch.randn(3, requires_grad=True)
        scores = w * 2
        array = scores.numpy()
        """,
        "GW108",
        "`.numpy()`",
    ),
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_each_error_is_explained_with_the_static_culprit_lines(tmp_path: Path, name: str) -> None:
    code, rule, headline = SCRIPTS[name]
    error = _torch_error(tmp_path, code)
    done = _explain_error(tmp_path, error)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert headline in out.splitlines()[0]
    lines = _static_lines(tmp_path / "script.py", (rule,))
    assert lines, f"check_source must find {rule} in the script"
    for line in lines:
        assert f"script.py:{line}:" in out and rule in out, out
    # The traceback's user frame (the line that raised) is listed; torch's frames are not.
    assert "Where it was raised, in your code" in out
    assert "_tensor.py" not in out and "site-packages" not in out
    assert "How to fix it:" in out
    # The finding's fix is offered.
    finding = next(f for f in check_source((tmp_path / "script.py").read_text()).findings if f.code == rule)
    if finding.fixes:
        assert f"fix: {finding.fixes[0].title}" in out


def test_the_inplace_error_names_the_saved_op_and_versions(tmp_path: Path) -> None:
    error = _torch_error(tmp_path, SCRIPTS["inplace"][0])
    assert "is at version 1; expected version 0" in error
    out = _explain_error(tmp_path, error).stdout
    prose = " ".join(out.split())  # the explanation is wrapped
    assert "the result of `sigmoid`" in prose
    assert "saved at version 0" in prose and "at version 1" in prose
    assert "script.py:6  y.sum().backward()" in out  # the line that raised
    assert "script.py:5:1  GW201 `y.add_(1)`" in out  # the write
    assert "script.py:4  `sigmoid` saved its output here" in out


def test_a_file_argument_reads_the_error_from_the_file(tmp_path: Path) -> None:
    error = _torch_error(tmp_path, SCRIPTS["twice"][0])
    (tmp_path / "error.txt").write_text("some log line\n" + error + "more log\n", encoding="utf-8")
    done = _explain_error(tmp_path, "", "error.txt")
    assert done.returncode == 0, done.stderr
    assert "script.py:6:1  GW106" in done.stdout
    assert "script.py:5  the graph was freed here" in done.stdout


def _write(path: Path, code: str) -> None:
    path.write_text(textwrap.dedent(code).lstrip("\n"), encoding="utf-8")


def test_culprits_are_found_in_every_user_file_of_the_traceback(tmp_path: Path) -> None:
    _write(
        tmp_path / "model.py",
        """
        import torch


        def step(n):
            x = torch.randn(n, requires_grad=True)
            y = torch.exp(x)
            y.mul_(2)
            y.sum().backward()
        """,
    )
    error = _torch_error(
        tmp_path,
        """
        from model import step


        def main():
            step(4)


        main()
        """,
        name="train.py",
    )
    out = _explain_error(tmp_path, error).stdout
    assert "train.py:8  main()" in out and "train.py:5  step(4)" in out
    assert "model.py:8  y.sum().backward()" in out
    assert "the result of `exp`" in " ".join(out.split())
    (line,) = _static_lines(tmp_path / "model.py", ("GW201",))
    assert f"model.py:{line}:5  GW201 `y.mul_(2)`" in out
    assert "model.py:6  `exp` saved its output here" in out


def test_anomaly_modes_forward_call_is_listed_and_its_file_analysed(tmp_path: Path) -> None:
    _write(
        tmp_path / "layers.py",
        """
        import torch


        def forward(x):
            y = torch.exp(x)
            y.mul_(2)
            return y.sum()
        """,
    )
    error = _torch_error(
        tmp_path,
        """
        import torch

        from layers import forward

        torch.autograd.set_detect_anomaly(True)
        x = torch.randn(4, requires_grad=True)
        forward(x).backward()
        """,
        name="anomaly.py",
    )
    out = _explain_error(tmp_path, error).stdout
    assert "anomaly.py:7  forward(x).backward()" in out
    assert "(ExpBackward0), from anomaly mode:" in out and "layers.py:5  y = torch.exp(x)" in out
    # layers.py is analysed (it holds the forward call), though no backward follows the write there.
    assert "files of the traceback (anomaly.py, layers.py)" in out or "layers.py:6:5" in out
    assert "gradwatch run" in out or "layers.py:6:5" in out


def test_a_write_the_analysis_cannot_see_is_said_so(tmp_path: Path) -> None:
    error = _torch_error(
        tmp_path,
        """
        import torch

        x = torch.randn(3, requires_grad=True)
        y = x.sigmoid()
        getattr(y, "add" + "_")(1)
        y.sum().backward()
        """,
    )
    done = _explain_error(tmp_path, error)
    assert done.returncode == 0
    assert "found no GW201 finding in the files of the traceback (script.py)" in done.stdout
    assert "gradwatch run" in done.stdout and "How to fix it:" in done.stdout


def test_an_unrecognised_error_exits_1(tmp_path: Path) -> None:
    error = _torch_error(
        tmp_path,
        """
        import torch

        torch.cat([torch.randn(2, 3), torch.randn(2, 4)])
        """,
    )
    done = _explain_error(tmp_path, error)
    assert done.returncode == 1
    assert "not a torch autograd error gradwatch recognises" in done.stdout
    assert "RuntimeError:" in done.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _explain_error(tmp_path, "", "missing.txt").returncode == 2
    assert _explain_error(tmp_path, "   \n").returncode == 2
    assert _explain_error(tmp_path, "", "a.txt", "b.txt").returncode == 2
    assert _explain_error(tmp_path, "", "--bogus").returncode == 2


def test_every_raising_rule_example_is_recognised(tmp_path: Path) -> None:
    """All rule examples that raise under torch, run in one process (one torch import) with
    their real tracebacks: each must be recognised and cite its rule's static lines."""
    raising = [
        (param.values[0].code, index, param.values[1])
        for index, param in enumerate(EXAMPLES)
        if param.values[1].outcome.kind == "raises"
    ]
    for code, index, example in raising:
        (tmp_path / f"{code}_{index}.py").write_text(example.code, encoding="utf-8")
    runner = tmp_path / "run_all.py"
    runner.write_text(
        textwrap.dedent(
            """
            import runpy, sys, traceback
            for name in sys.argv[1:]:
                try:
                    runpy.run_path(name + ".py", run_name="__main__")
                except Exception:
                    with open(name + ".err", "w") as handle:
                        handle.write(traceback.format_exc())
            """
        ),
        encoding="utf-8",
    )
    names = [f"{code}_{index}" for code, index, _ in raising]
    subprocess.run([sys.executable, str(runner), *names], cwd=tmp_path, env=ENVIRONMENT, check=True, timeout=600)
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        for (code, _, example), name in zip(raising, names):
            error = (tmp_path / f"{name}.err").read_text()
            assert example.outcome.detail in error
            explanation = explain(error, str(tmp_path))
            assert explanation.recognised, (name, error)
            assert code in explanation.kind.codes, (name, explanation.kind.name)
            for line in _static_lines(tmp_path / f"{name}.py", (code,)):
                assert f"{name}.py:{line}:" in explanation.text, (name, explanation.text)
    finally:
        os.chdir(cwd)


def test_every_kind_names_rules_that_exist() -> None:
    from gradwatch.rules import all_rules

    known = {rule.code for rule in all_rules()}
    for kind in KINDS:
        assert set(kind.codes + kind.fallback_codes) <= known, kind.name


@pytest.mark.parametrize(
    "node,op",
    [
        ("SigmoidBackward0", "sigmoid"),
        ("Sigmoid", "sigmoid"),
        ("AddmmBackward0", "addmm"),
        ("NativeBatchNormBackward0", "native_batch_norm"),
        ("torch::autograd::CopySlices", "CopySlices"),
    ],
)
def test_op_of_node(node: str, op: str) -> None:
    assert op_of_node(node) == op


def test_ipython_tracebacks_are_read_too(tmp_path: Path) -> None:
    code, _, _ = SCRIPTS["inplace"]
    script = tmp_path / "script.py"
    _write(script, code)
    pasted = (
        "\x1b[0;31mRuntimeError\x1b[0m                              Traceback (most recent call last)\n"
        f"File {script}:6\n"
        "      5 y.add_(1)\n"
        "----> 6 y.sum().backward()\n\n"
        "File /usr/lib/python3/site-packages/torch/_tensor.py:623, in Tensor.backward(self, gradient)\n"
        "--> 623 torch.autograd.backward(\n\n"
        "RuntimeError: one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [torch.FloatTensor [3]], which is output 0 of SigmoidBackward0, is at version 1; expected "
        "version 0 instead.\n"
    )
    explanation = explain(pasted, str(tmp_path))
    assert explanation.recognised and explanation.saved.op == "sigmoid"
    assert "script.py:6  y.sum().backward()" in explanation.text
    assert "script.py:5:1  GW201 `y.add_(1)`" in explanation.text
