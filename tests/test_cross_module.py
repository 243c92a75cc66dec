"""Findings caused by functions and classes in another file of the project (jedi + summaries).

The fixture project's steps.py breaks because of lines in helpers.py and
models.py: gradwatch reports each at the call site, citing the other file, and
torch confirms each claim when the step runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from gradwatch.analysis.cross_module import CrossModule
from gradwatch.analysis.project import ProjectIndex
from gradwatch.checker import check_source

FIXTURE = Path(__file__).resolve().parent / "project_fixture"
STEPS = FIXTURE / "steps.py"

# function in steps.py -> (line, code, file the cause is cited in, what torch says when the step runs;
# for GW102, the model class whose parameters get no gradient)
EXPECTED = {
    "detached_loss": (28, "GW101", "helpers.py", "element 0 of tensors does not require grad"),
    "normalized_after_sigmoid": (34, "GW201", "helpers.py", "modified by an inplace operation"),
    "loss_from_a_number": (41, "GW101", "helpers.py", "element 0 of tensors does not require grad"),
    "evaluated_then_trained": (47, "GW101", "helpers.py", "element 0 of tensors does not require grad"),
    "frozen_by_detach": (55, "GW102", None, "Net"),
    "wrapper_frozen_by_detach": (65, "GW102", None, "Wrapper"),
    # `activation` is torch's F.relu re-exported by wrappers.py: inplace=True clobbers sigmoid's output.
    "wrapped_inplace_activation": (73, "GW201", None, "modified by an inplace operation"),
}


@pytest.fixture(scope="module")
def project() -> CrossModule:
    return CrossModule(ProjectIndex(FIXTURE))


@pytest.fixture(scope="module")
def findings(project):
    return check_source(STEPS.read_text(), str(STEPS), project=project).findings


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_hazard_found_at_the_call_site(step, findings) -> None:
    line, code, cited, _ = EXPECTED[step]
    matching = [f for f in findings if f.span.line == line and f.code == code]
    assert matching, f"{code} not reported at steps.py:{line}: {[(f.span.line, f.code) for f in findings]}"
    if cited is not None:
        elsewhere = [r for r in matching[0].related if r.path is not None]
        assert elsewhere and Path(elsewhere[0].path).name == cited
        assert cited in matching[0].message


def test_nothing_else_is_reported(findings) -> None:
    assert sorted((f.span.line, f.code) for f in findings) == sorted((v[0], v[1]) for v in EXPECTED.values())


def test_without_cross_module_analysis_they_stay_unknown() -> None:
    local = check_source(STEPS.read_text(), str(STEPS)).findings
    # torch.tensor(...) of anything has no graph: that one is provable locally.
    assert [(f.span.line, f.code) for f in local] == [(41, "GW101")]
    assert all(r.path is None for f in local for r in f.related)


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_torch_confirms(step) -> None:
    pytest.importorskip("torch")
    _, code, _, error = EXPECTED[step]
    script = f"import steps\nsteps.{step}()\n"
    if code == "GW102":
        # Runs, and the model's parameters get no gradient.
        script = (
            "import torch, steps\n"
            "captured = {}\n"
            f"original = steps.{error}\n"
            "def spy():\n"
            "    captured['model'] = original()\n"
            "    return captured['model']\n"
            f"steps.{error} = spy\n"
            f"steps.{step}()\n"
            "assert all(p.grad is None for p in captured['model'].parameters())\n"
        )
    result = subprocess.run([sys.executable, "-c", script], cwd=FIXTURE, capture_output=True, text=True, timeout=120)
    if code == "GW102":
        assert result.returncode == 0, result.stderr[-1500:]
    else:
        assert result.returncode != 0 and error in result.stderr, result.stderr[-1500:]


def test_cli_follows_imports_unless_told_not_to(tmp_path) -> None:
    env_path = str(Path(__file__).resolve().parent.parent / "server")
    # --no-cache: the cache would go to the fixture's project root, this repository.
    command = [sys.executable, "-m", "gradwatch", "check", "--format", "json", "--no-cache", str(STEPS)]
    on = subprocess.run(
        command, capture_output=True, text=True, env={"PYTHONPATH": env_path}, cwd=tmp_path, timeout=120
    )
    off = subprocess.run(
        [*command, "--no-cross-module"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path},
        cwd=tmp_path,
        timeout=120,
    )
    assert on.returncode == 1 and '"GW201"' in on.stdout
    assert '"GW201"' not in off.stdout


def test_names_from_a_star_import_are_followed(project) -> None:
    path = FIXTURE / "star_steps.py"
    findings = check_source(path.read_text(), str(path), project=project).findings
    assert [(f.span.line, f.code) for f in findings] == [(11, "GW101")]
    assert Path(next(r.path for r in findings[0].related if r.path)).name == "helpers.py"


def test_a_run_over_unchanging_files_asks_jedi_once_per_imported_name_and_folder(tmp_path, monkeypatch) -> None:
    # Defined in a branch: finding it by path cannot decide, jedi is asked.
    (tmp_path / "util.py").write_text("import sys\nif sys.platform:\n    def cut(x):\n        return x.detach()\n")
    step = "import torch\nfrom util import cut\n\nw = torch.randn(3, requires_grad=True)\nloss = cut(w * 2).sum()\nloss.backward()\n"
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(step)

    def run(files_stay_unchanged: bool) -> tuple[int, list]:
        index = ProjectIndex(tmp_path)
        asked = []
        original = index.definition
        monkeypatch.setattr(index, "definition", lambda *a, **k: asked.append(a[0]) or original(*a, **k))
        project = CrossModule(index, files_stay_unchanged=files_stay_unchanged)
        found = [check_source(step, str(tmp_path / name), project=project).findings for name in ("a.py", "b.py")]
        return len(asked), [[(f.span.line, f.code) for f in findings] for findings in found]

    asked_each_time, found = run(False)
    asked_once, found_once = run(True)
    assert found == found_once == [[(6, "GW101")], [(6, "GW101")]]
    assert (asked_each_time, asked_once) == (2, 1)


def test_a_function_found_by_path_needs_no_jedi(tmp_path, monkeypatch) -> None:
    (tmp_path / "util.py").write_text("def cut(x):\n    return x.detach()\n")
    step = "import torch\nfrom util import cut\n\nw = torch.randn(3, requires_grad=True)\nloss = cut(w * 2).sum()\nloss.backward()\n"
    index = ProjectIndex(tmp_path)
    asked = []
    monkeypatch.setattr(index, "definition", lambda *a, **k: asked.append(a))
    findings = check_source(step, str(tmp_path / "a.py"), project=CrossModule(index)).findings
    assert [(f.span.line, f.code) for f in findings] == [(6, "GW101")]
    assert asked == []


def test_a_name_the_file_binds_or_a_builtin_never_comes_from_a_star_import(tmp_path):
    """`_logger` assigned at module level and `isinstance` are not the star-imported module's,
    although the analysis knows neither's value inside a function."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "layers.py").write_text(
        "import torch\n\ndef _logger(x):\n    return x.detach()\n\ndef isinstance(x, y):\n    return x.detach()\n"
    )
    main = tmp_path / "pkg" / "train.py"
    main.write_text(
        "import logging\nimport torch\nfrom .layers import *\n\n_logger = logging.getLogger(__name__)\n\n"
        "def step(w):\n"
        "    x = torch.randn(3, requires_grad=True)\n"
        "    y = _logger(x) if isinstance(x, torch.Tensor) else x\n"
        "    y.sum().backward()\n"
    )
    from gradwatch.analysis.interpreter import Interpreter
    from gradwatch.parsing import parse
    from gradwatch.source import SourceText

    interpreter = Interpreter(SourceText(main.read_text()), path=str(main))
    interpreter.collect_globals(parse(main.read_text()).tree)
    assert {"_logger", "isinstance", "step", "logging", "torch"} <= interpreter.not_from_star_import
    assert "Mlp" not in interpreter.not_from_star_import
    result = check_source(main.read_text(), str(main), project=CrossModule(ProjectIndex(tmp_path)))
    assert not [f for f in result.findings if f.code == "GW101"]  # `_logger` is no detaching helper here


def test_a_class_or_static_method_is_found_by_path_and_its_arguments_line_up(tmp_path, monkeypatch) -> None:
    """`Scale.double_(y)`: `cls` is no argument of the call, so the tensor modified in place is
    `y` (the first one passed), found without jedi."""
    (tmp_path / "util.py").write_text(
        "class Scale:\n"
        "    @classmethod\n    def double_(cls, t):\n        t.mul_(2)\n        return t\n\n"
        "    @staticmethod\n    def half_(t):\n        t.div_(2)\n        return t\n"
    )
    step = (
        "import torch\nfrom util import Scale\n\nx = torch.randn(3, requires_grad=True)\n"
        "y = x.sigmoid()\nScale.{method}(y)\ny.sum().backward()\n"
    )
    index = ProjectIndex(tmp_path)
    asked = []
    monkeypatch.setattr(index, "definition", lambda *a, **k: asked.append(a))
    for method in ("double_", "half_"):
        findings = check_source(step.format(method=method), str(tmp_path / "a.py"), project=CrossModule(index)).findings
        assert [(f.span.line, f.code) for f in findings] == [(6, "GW201")], method
    assert asked == []


def test_module_scope_names_include_globals_declared_in_functions_and_skip_locals():
    from gradwatch.analysis.syntax import module_scope_names

    tree = ast.parse(
        "import a.b\nfrom c import d as e\nx = 1\nfor i, (j, k) in []: pass\n"
        "try:\n    pass\nexcept Exception as err:\n    pass\n"
        "def f(arg):\n    local = 1\n    def g():\n        global counter\n"
        "class C:\n    attribute = 2\n"
    )
    assert module_scope_names(tree) == {"a", "e", "x", "i", "j", "k", "err", "f", "counter", "C"}


SCALER = "import torch\n\nclass Scaler:\n    def apply(self, t, other):\n        t.mul_(2)\n        return other\n\n"
INSTANCE_STEP = (
    "import torch\nfrom util import scaler\n\n"
    "x = torch.randn(3, requires_grad=True)\nw = torch.randn(3, requires_grad=True)\n"
    "y = x.sigmoid()\nz = w.exp()\nscaler.apply(y, z)\n{backward}\n"
)


@pytest.mark.parametrize(
    ("binding", "found_by_path"),
    [("scaler = Scaler()\n", True), ("import sys\nif sys.platform:\n    scaler = Scaler()\n", False)],
    ids=["module-level instance, found by path", "bound in a branch, found by jedi"],
)
def test_a_method_called_on_an_instance_gets_its_arguments_after_self(tmp_path, monkeypatch, binding, found_by_path):
    """`scaler.apply(y, z)` modifies `y` (`t`, the first parameter after `self`), not `z`: so
    backward through `y` raises (sigmoid saved its output) and backward through `z` alone does
    not (torch agrees: test_torch_agrees_on_the_instance_method_steps)."""
    (tmp_path / "util.py").write_text(SCALER + binding)
    index = ProjectIndex(tmp_path)
    asked = []
    original = index.definition
    monkeypatch.setattr(index, "definition", lambda *a, **k: asked.append(a) or original(*a, **k))
    for backward, expected in INSTANCE_BACKWARDS.items():
        step = INSTANCE_STEP.format(backward=backward)
        findings = check_source(step, str(tmp_path / "a.py"), project=CrossModule(index)).findings
        assert [(f.span.line, f.code) for f in findings] == expected, backward
        assert all("modifies `y`" in f.message for f in findings)
    assert (asked == []) == found_by_path


INSTANCE_BACKWARDS = {"(y.sum() + z.sum()).backward()": [(8, "GW201")], "z.sum().backward()": []}


def test_torch_agrees_on_the_instance_method_steps(tmp_path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "util.py").write_text(SCALER + "scaler = Scaler()\n")
    for backward, expected in INSTANCE_BACKWARDS.items():
        (tmp_path / "a.py").write_text(INSTANCE_STEP.format(backward=backward))
        run = subprocess.run([sys.executable, "a.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert (run.returncode != 0) == bool(expected), run.stderr
        if expected:
            assert "modified by an inplace operation" in run.stderr


@pytest.mark.parametrize(
    ("fallback", "found_by_path"),
    [
        ("except ImportError:\n    def cut(x):\n        return x\n", True),
        ("except (ImportError, ModuleNotFoundError):\n    cut = None\n", True),
        # `else` runs after the import succeeded: what it binds is for jedi to infer.
        ("except ImportError:\n    pass\nelse:\n    cut = cut\n", False),
        ("except Exception:\n    def cut(x):\n        return x\n", False),
    ],
)
def test_an_import_with_a_fallback_binds_what_it_imports(tmp_path, monkeypatch, fallback, found_by_path) -> None:
    """`try: from fast import cut` / `except ImportError: <fallback>`: when the import works,
    Python binds the imported `cut` (a detaching helper here)."""
    (tmp_path / "fast.py").write_text("def cut(x):\n    return x.detach()\n")
    (tmp_path / "util.py").write_text("try:\n    from fast import cut\n" + fallback)
    step = "import torch\nfrom util import cut\n\nw = torch.randn(3, requires_grad=True)\nloss = cut(w * 2).sum()\nloss.backward()\n"
    index = ProjectIndex(tmp_path)
    asked = []
    original = index.definition
    monkeypatch.setattr(index, "definition", lambda *a, **k: asked.append(a) or original(*a, **k))
    findings = check_source(step, str(tmp_path / "a.py"), project=CrossModule(index)).findings
    assert (asked == []) == found_by_path
    if found_by_path:  # else jedi's answer stands, whichever definition it picks
        assert [(f.span.line, f.code) for f in findings] == [(6, "GW101")]
