"""ProjectIndex: real jedi resolving names across the files of tests/project_fixture."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jedi")

from gradwatch.analysis.project import Definition, ProjectIndex

FIXTURE = Path(__file__).parent / "project_fixture"
TRAIN = FIXTURE / "train.py"
TRAIN_TEXT = TRAIN.read_text(encoding="utf-8")


def position(text: str, word: str, line_containing: str) -> tuple[int, int]:
    """1-based line and 0-based column of `word` on the first line containing `line_containing`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line_containing in line:
            return number, line.index(word, line.index(line_containing))
    raise AssertionError(f"no line contains {line_containing!r}")


@pytest.fixture(scope="module")
def index() -> ProjectIndex:
    # One index for the module: jedi's first inference in a process costs seconds.
    return ProjectIndex(FIXTURE)


def resolve(index: ProjectIndex, word: str, line_containing: str, text: str = TRAIN_TEXT) -> Definition | None:
    line, column = position(text, word, line_containing)
    return index.definition(str(TRAIN), text, line, column)


def test_importing_the_module_does_not_import_jedi():
    code = "import sys; import gradwatch.analysis.project; print('jedi' in sys.modules)"
    server = str(Path(__file__).parent.parent / "server")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": server},
        check=True,
    )
    assert result.stdout.strip() == "False"


def test_imported_function_resolves_to_its_def_line(index):
    found = resolve(index, "features", "loss = features(")
    assert found == Definition(str(FIXTURE / "helpers.py"), 6, 0, "function", "features")
    helpers_lines = (FIXTURE / "helpers.py").read_text().splitlines()
    assert helpers_lines[found.line - 1].startswith("def features(x):")


def test_imported_class_resolves_to_its_class_line(index):
    found = resolve(index, "Net", "model = Net()")
    assert found == Definition(str(FIXTURE / "models.py"), 7, 0, "class", "Net")


def test_re_export_through_a_package_reaches_the_implementation(index):
    found = resolve(index, "PkgNet", "other = PkgNet()")
    assert found is not None
    assert found.path == str(FIXTURE / "pkg" / "impl.py")
    assert (found.kind, found.name, found.line) == ("class", "Net", 6)


def test_name_in_the_import_statement_itself_is_followed(index):
    found = resolve(index, "normalize_", "from helpers import")
    assert found is not None
    assert (Path(found.path).name, found.name, found.kind) == ("helpers.py", "normalize_", "function")


def test_local_variable_resolves_to_its_assignment(index):
    found = resolve(index, "model", "model.parameters()")
    assert found is not None
    assert found.path == str(TRAIN)
    assert found.kind == "statement"
    assert TRAIN_TEXT.splitlines()[found.line - 1][found.column :].startswith("model = Net()")


def test_torch_function_is_not_a_user_definition(index):
    assert resolve(index, "randn", "torch.randn(8") is None
    assert resolve(index, "torch", "torch.manual_seed") is None


def test_method_of_a_torch_object_is_not_a_user_definition(index):
    assert resolve(index, "step", "optimizer.step()") is None


def test_builtin_is_not_a_user_definition(index):
    assert resolve(index, "tuple", "tuple(other(x)") is None


def test_undefined_name_has_no_definition(index):
    text = TRAIN_TEXT + "\nnot_defined_anywhere()\n"
    assert resolve(index, "not_defined_anywhere", "not_defined_anywhere()", text) is None


def test_import_of_a_missing_module_has_no_definition(index):
    text = "from no_such_module_here import thing\n\nthing()\n"
    assert index.definition(str(TRAIN), text, 3, 0) is None


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02binary\xff\x00",
        "def (((( ]] ::\n  x = = 3\n\tfeatures(",
        "",
    ],
    ids=["binary", "garbage", "empty"],
)
def test_unusable_text_gives_none_without_raising(index, text):
    assert index.definition(str(TRAIN), text, 1, 0) is None
    assert index.definition(str(TRAIN), text, 3, 2) is None


def test_positions_outside_the_text_give_none(index):
    assert index.definition(str(TRAIN), TRAIN_TEXT, 10_000, 0) is None
    assert index.definition(str(TRAIN), TRAIN_TEXT, 1, 10_000) is None
    assert index.definition(str(TRAIN), TRAIN_TEXT, 0, 0) is None
    assert index.definition(str(TRAIN), TRAIN_TEXT, 1, -1) is None


def test_second_call_returns_the_cached_object(index):
    first = resolve(index, "scale", "((scale(")
    second = resolve(index, "scale", "((scale(")
    assert first is not None and first.name == "scale"
    assert second is first


def test_changed_text_is_resolved_again(index):
    before = resolve(index, "features", "loss = features(")
    # The same call, but `features` now means a local function defined in this file.
    changed = TRAIN_TEXT.replace(
        "def detached_step(model, x):", "def features(x):\n    return x\n\n\ndef detached_step(model, x):"
    )
    after = resolve(index, "features", "loss = features(", changed)
    assert before is not None and Path(before.path).name == "helpers.py"
    assert after is not None and after.path == str(TRAIN)
    assert changed.splitlines()[after.line - 1] == "def features(x):"


def test_edited_definition_file_invalidates_the_answer(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    index = ProjectIndex(project)
    train = project / "train.py"
    first = index.definition(str(train), TRAIN_TEXT, *position(TRAIN_TEXT, "scale", "((scale("))
    assert first is not None and first.line == 28

    helpers = project / "helpers.py"
    helpers.write_text('"""Moved down."""\n\n\n' + helpers.read_text())
    stat = helpers.stat()
    # Some file systems keep whole-second mtimes: make the change visible regardless.
    os.utime(helpers, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))

    second = index.definition(str(train), TRAIN_TEXT, *position(TRAIN_TEXT, "scale", "((scale("))
    assert second is not None and second.line == 31


def test_star_import_from_a_sibling_module_is_followed(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "layers.py").write_text("import torch\n\n\n@torch.no_grad()\ndef frozen(x):\n    return x\n")
    (tmp_path / "app" / "api.py").write_text("from .layers import *\n")
    main = tmp_path / "main.py"
    text = "from app.api import frozen\n\nfrozen(1)\n"
    found = ProjectIndex(tmp_path).definition(str(main), text, 3, 0)
    # A decorated function is located at its `def`, as Python's ast does.
    assert found == Definition(str(tmp_path / "app" / "layers.py"), 5, 0, "function", "frozen")


def test_async_function_is_located_where_ast_puts_it(tmp_path):
    (tmp_path / "loader.py").write_text("class Loader:\n    async def fetch(self):\n        return 1\n")
    text = "from loader import Loader\n\nLoader().fetch()\n"
    found = ProjectIndex(tmp_path).definition(str(tmp_path / "main.py"), text, 3, 9)
    assert found == Definition(str(tmp_path / "loader.py"), 2, 4, "function", "fetch")


def test_root_defaults_to_the_folder_of_the_file(index):
    found = ProjectIndex().definition(str(TRAIN), TRAIN_TEXT, *position(TRAIN_TEXT, "Net", "model = Net()"))
    assert found == Definition(str(FIXTURE / "models.py"), 7, 0, "class", "Net")


def test_files_outside_the_root_are_not_user_files(index, tmp_path):
    assert index.is_user_file(str(FIXTURE / "helpers.py"))
    assert index.is_user_file(str(FIXTURE / "pkg" / "impl.py"))
    assert not index.is_user_file(str(tmp_path / "elsewhere.py"))
    assert not index.is_user_file(os.__file__)


def test_installed_packages_and_virtualenvs_are_not_user_files(tmp_path):
    index = ProjectIndex(tmp_path)
    assert index.is_user_file(str(tmp_path / "src" / "model.py"))
    assert not index.is_user_file(str(tmp_path / "lib" / "site-packages" / "thing.py"))
    venv = tmp_path / ".venv"
    (venv / "lib").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert not index.is_user_file(str(venv / "lib" / "module.py"))
    # A project that is itself a virtualenv (`python -m venv .`) is still the user's.
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert index.is_user_file(str(tmp_path / "src" / "model.py"))


def test_stdlib_and_torch_are_not_user_files_even_with_no_root():
    stdlib_file = Path(os.__file__).parent / "json" / "__init__.py"
    assert not ProjectIndex().is_user_file(str(stdlib_file))
    import torch

    assert not ProjectIndex().is_user_file(torch.__file__)


def test_the_running_interpreter_is_accepted(index):
    explicit = ProjectIndex(FIXTURE, python=sys.executable)
    assert explicit.problem is None
    found = explicit.definition(str(TRAIN), TRAIN_TEXT, *position(TRAIN_TEXT, "features", "loss = features("))
    assert found is not None and found.name == "features"


def _not_python(tmp_path: Path) -> str:
    script = tmp_path / "not-python"
    script.write_text("#!/bin/sh\necho hello\n")
    script.chmod(0o755)
    return str(script)


def _not_executable(tmp_path: Path) -> str:
    path = tmp_path / "python3"
    path.write_text("")
    path.chmod(0o644)
    return str(path)


@pytest.mark.parametrize(
    ("make_python", "says"),
    [
        (lambda tmp_path: str(tmp_path / "missing" / "python3"), "does not exist"),
        (_not_executable, "not executable"),
        (_not_python, "not usable"),
    ],
    ids=["missing", "not-executable", "not-python"],
)
def test_bad_interpreter_falls_back_to_the_default_environment(tmp_path, make_python, says):
    bad = make_python(tmp_path)
    fallback = ProjectIndex(FIXTURE, python=bad)
    assert fallback.problem is not None
    assert says in fallback.problem and bad in fallback.problem
    found = fallback.definition(str(TRAIN), TRAIN_TEXT, *position(TRAIN_TEXT, "PkgNet", "other = PkgNet()"))
    assert found is not None and found.path == str(FIXTURE / "pkg" / "impl.py")


def test_concurrent_callers_get_the_same_answers(index):
    from concurrent.futures import ThreadPoolExecutor

    words = [("features", "loss = features("), ("Net", "model = Net()"), ("randn", "torch.randn(8")]
    # Distinct texts per call, so the threads really run jedi instead of reading the cache.
    jobs = [(word, context, f"{TRAIN_TEXT}# thread edit {n}\n") for n in range(4) for word, context in words]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda job: resolve(index, *job), jobs))
    expected = {"features": "helpers.py", "Net": "models.py", "randn": None}
    for (word, _, _), found in zip(jobs, answers):
        assert (None if found is None else Path(found.path).name) == expected[word]


def test_an_imported_name_is_resolved_from_its_import_path(tmp_path):
    """What path search leaves to jedi is asked by dotted import path, not in the calling
    file's text: a method reached through a class with several bases, and a relative import."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("from .models import Net\n")
    (tmp_path / "app" / "base.py").write_text("class Loader:\n    def load(self):\n        return 1\n")
    (tmp_path / "app" / "models.py").write_text(
        "from .base import Loader\n\n\nclass Mixin:\n    pass\n\n\nclass Net(Mixin, Loader):\n    pass\n"
    )
    (tmp_path / "app" / "script.py").write_text("")
    index = ProjectIndex(tmp_path)
    main = str(tmp_path / "main.py")
    load = Definition(str(tmp_path / "app" / "base.py"), 2, 4, "function", "load")
    assert index.imported_definition(main, "app.Net.load") == load
    assert index.imported_definition(str(tmp_path / "app" / "script.py"), ".models.Net.load") == load
    assert index.imported_definition(main, "app.models.Net") == Definition(
        str(tmp_path / "app" / "models.py"), 8, 0, "class", "Net"
    )
    assert index.imported_definition(main, "app.Net.missing") is None
    assert index.imported_definition(main, "app") is None  # a module is no function or class
    assert index.imported_definition(main, "app.class.load") is None  # no name Python could import
