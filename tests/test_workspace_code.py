"""gradwatch never runs code from the repository it checks: not through its own imports
(`python -m gradwatch` and the installed command, with the working folder or the
workspace on the path), and not through jedi resolving names for cross-module analysis.

Each planted module writes a marker file when imported; the marker must not appear."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from gradwatch.config import tomllib

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "server"
# Standard library modules the CLI and the language server import after start-up.
SHADOWED = ("argparse", "dataclasses", "typing", "json", "difflib", "asyncio", "logging")
CALLS_AN_IMPORTED_FUNCTION = (
    "import torch\n"
    "from helper import make\n"
    "x = torch.randn(3, requires_grad=True)\n"
    "y = make(x)\n"
    "y.sum().backward()\n"
)


def plant_module(folder: Path, name: str, marker: Path) -> None:
    (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")


@pytest.fixture
def repository(tmp_path):
    """A cloned repository whose stdlib-named modules write markers when imported."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[project]\nname = 'cloned'\n")
    (repo / "model.py").write_text("import torch\n\n\ndef double(t):\n    return t * 2\n")
    for name in SHADOWED:
        plant_module(repo, name, tmp_path / f"ran-{name}")
    return repo


def markers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.glob("ran-*"))


def run(command: list[str], cwd: Path, pythonpath: list[str], **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath), "NO_COLOR": "1", **extra_env}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- gradwatch's own imports


def test_python_m_gradwatch_inside_a_repository_imports_none_of_its_modules(repository, tmp_path):
    result = run([sys.executable, "-m", "gradwatch", "check", "--no-cross-module", "."], repository, [str(SERVER)])
    assert markers(tmp_path) == []
    assert (result.returncode, result.stdout) == (0, "All checks passed!\n"), result.stderr


@pytest.mark.parametrize("command", [["gradwatch.lsp"], ["gradwatch", "serve"]])
def test_the_language_server_started_inside_a_repository_imports_none_of_its_modules(repository, tmp_path, command):
    # Editors (Neovim, Helix) start the server in the project's folder.
    result = run([sys.executable, "-m", *command, "--help"], repository, [str(SERVER)])
    assert markers(tmp_path) == []
    assert result.returncode == 0 and "--stdio" in result.stdout, result.stderr


def installed_command(folder: Path) -> Path:
    """The `gradwatch` script as pip writes it from pyproject.toml's [project.scripts]."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["gradwatch"].split(":")
    script = folder / "gradwatch"
    script.write_text(
        f"import sys\nfrom {module} import {function}\nif __name__ == '__main__':\n    sys.exit({function}())\n"
    )
    return script


@pytest.mark.parametrize(
    "where",
    ["empty PYTHONPATH entry", "PYTHONPATH=.", "workspace on PYTHONPATH"],
)
def test_the_installed_command_imports_none_of_the_repositorys_modules(repository, tmp_path, where):
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    script = installed_command(bin_folder)
    if where == "workspace on PYTHONPATH":  # run from elsewhere, the repository named on PYTHONPATH
        cwd, pythonpath = tmp_path, [str(repository), str(SERVER)]
    else:
        cwd, pythonpath = repository, ["" if where.startswith("empty") else ".", str(SERVER)]
    result = run([sys.executable, str(script), "check", "--no-cross-module", str(repository)], cwd, pythonpath)
    assert markers(tmp_path) == []
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- jedi (cross-module analysis)


def test_jedi_does_not_import_a_workspace_module_it_would_import_instead_of_reading(tmp_path):
    # jedi imports, rather than reads, the modules named in its auto_import_modules ("gi").
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[project]\nname = 'cloned'\n")
    (repo / "gi.py").write_text(
        f"open({str(tmp_path / 'ran-gi')!r}, 'w').write('imported')\n\ndef thing(t):\n    return t\n"
    )
    (repo / "train.py").write_text(
        "import torch\nimport gi\nx = torch.randn(3, requires_grad=True)\ny = gi.thing(x)\ny.sum().backward()\n"
    )
    command = [sys.executable, "-m", "gradwatch", "check", str(repo / "train.py")]
    result = run(command, tmp_path, [str(repo), str(SERVER)])
    assert result.returncode in (0, 1), result.stderr
    assert markers(tmp_path) == []


def build_extension(source_folder: Path, package: Path, name: str) -> Path:
    """A real compiled extension whose initialisation writes $GRADWATCH_TEST_MARKER."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    include = sysconfig.get_paths()["include"]
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    if os.name != "posix" or compiler is None or not suffix or not (Path(include) / "Python.h").is_file():
        pytest.skip("needs a C compiler and the Python headers")
    source = source_folder / f"{name}.c"
    source.write_text(
        "#include <Python.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
        f'static struct PyModuleDef definition = {{PyModuleDef_HEAD_INIT, "{name}", NULL, -1, NULL}};\n'
        f"PyMODINIT_FUNC PyInit_{name}(void) {{\n"
        '    FILE *marker = fopen(getenv("GRADWATCH_TEST_MARKER"), "w");\n'
        '    if (marker) { fputs("imported", marker); fclose(marker); }\n'
        "    return PyModule_Create(&definition);\n"
        "}\n"
    )
    built = package / f"{name}{suffix}"
    compile_command = [compiler, "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(built)]
    subprocess.run(compile_command, check=True, timeout=120)
    return built


def test_jedi_does_not_run_a_compiled_extension_of_the_workspace_on_pythonpath(tmp_path):
    repo = tmp_path / "repo"
    package = repo / "helper"
    package.mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\nname = 'cloned'\n")
    (package / "__init__.py").write_text("from helper._native import make\n")
    build_extension(tmp_path, package, "_native")
    (repo / "train.py").write_text(CALLS_AN_IMPORTED_FUNCTION)
    marker = tmp_path / "ran-extension"
    result = run(
        [sys.executable, "-m", "gradwatch", "check", str(repo / "train.py")],
        tmp_path,
        [str(repo), str(SERVER)],
        GRADWATCH_TEST_MARKER=str(marker),
    )
    assert result.returncode in (0, 1), result.stderr
    assert not marker.exists()
