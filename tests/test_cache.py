"""The persistent cache of `gradwatch check` (.gradwatch_cache/): reuse, invalidation, safety.

Reuse is observed by counting calls of `check_source` (the analysis) while the real
command runs in-process; nothing is faked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gradwatch.checker
from gradwatch import result_cache
from gradwatch.cli import PARALLEL_MIN_FILES, main

SERVER = Path(__file__).resolve().parents[1] / "server"
FIXTURE = Path(__file__).resolve().parent / "project_fixture"

GW101_EXAMPLE = "import torch\nx = torch.randn(3, requires_grad=True)\ny = x.detach()\ny.sum().backward()\n"
GW203_EXAMPLE = "import torch\nx = torch.randn(3, requires_grad=True)\ny = x * 2\ny.add_(x)\ny.sum().backward()\n"
CLEAN = "import torch\n\n\ndef double(t):\n    return t * 2\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pyproject.toml").write_text("[project]\nname = 'sample'\n")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("NO_COLOR", "1")
    return folder


@pytest.fixture
def analysed(monkeypatch) -> list[str]:
    """The files the analysis ran on (once per check_source call, fix verification included)."""
    calls: list[str] = []
    original = gradwatch.checker.check_source

    def counting(text, path=None, *args, **kwargs):
        calls.append(Path(path).name if path else "<text>")
        return original(text, path, *args, **kwargs)

    monkeypatch.setattr(gradwatch.checker, "check_source", counting)
    return calls


def check(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check", "--jobs", "1", "--format", "json", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def entries(folder: Path) -> list[Path]:
    return sorted((folder / result_cache.ENTRIES).glob("*.json"))


def test_second_run_reuses_every_result(project, capsys, analysed):
    (project / "a.py").write_text(GW101_EXAMPLE)
    (project / "b.py").write_text(CLEAN)
    first = check(capsys)
    assert set(analysed) == {"a.py", "b.py"}
    analysed.clear()
    second = check(capsys)
    assert analysed == []
    assert second == first and json.loads(first[1])[0]["code"] == "GW101"


def test_fixes_survive_the_round_trip(project, capsys, analysed):
    (project / "a.py").write_text(GW203_EXAMPLE)
    first = check(capsys)
    assert json.loads(first[1])[0]["fix"] is not None
    analysed.clear()
    assert check(capsys) == first and analysed == []


def test_changed_file_alone_is_checked_again(project, capsys, analysed):
    (project / "a.py").write_text(GW101_EXAMPLE)
    (project / "b.py").write_text(CLEAN)
    check(capsys)
    analysed.clear()
    (project / "a.py").write_text(CLEAN)
    code, out, _ = check(capsys)
    assert analysed and set(analysed) == {"a.py"}
    assert (code, json.loads(out)) == (0, [])


def test_settings_change_invalidates(project, capsys, analysed):
    (project / "a.py").write_text(GW101_EXAMPLE)
    check(capsys)
    analysed.clear()
    assert json.loads(check(capsys, "--select", "GW2")[1]) == []
    assert set(analysed) == {"a.py"}
    analysed.clear()
    (project / "pyproject.toml").write_text('[tool.gradwatch]\nseverity = { GW101 = "hint" }\n')
    assert json.loads(check(capsys)[1])[0]["severity"] == "hint"
    assert "a.py" in analysed
    analysed.clear()
    check(capsys, "--no-cross-module")
    assert set(analysed) == {"a.py"}


def test_no_cache_neither_reads_nor_writes(project, capsys, analysed, tmp_path, monkeypatch):
    folder = tmp_path / "elsewhere"
    monkeypatch.setenv(result_cache.FOLDER_ENV_VAR, str(folder))
    (project / "a.py").write_text(GW101_EXAMPLE)
    check(capsys, "--no-cache")
    assert not folder.exists()
    check(capsys)
    analysed.clear()
    check(capsys, "--no-cache")
    assert set(analysed) == {"a.py"}


def test_default_folder_is_at_the_project_root_and_ignored_by_git(project, capsys, monkeypatch):
    monkeypatch.delenv(result_cache.FOLDER_ENV_VAR)
    (project / "sub").mkdir()
    (project / "sub" / "a.py").write_text(GW101_EXAMPLE)
    monkeypatch.chdir(project / "sub")
    check(capsys)
    folder = project / ".gradwatch_cache"
    assert (folder / ".gitignore").read_text() == "*\n"
    assert len(entries(folder)) == 1
    assert not (project / "sub" / ".gradwatch_cache").exists()


def test_clean_removes_the_cache_folders(project, capsys, monkeypatch):
    monkeypatch.delenv(result_cache.FOLDER_ENV_VAR)
    (project / "a.py").write_text(GW101_EXAMPLE)
    check(capsys)
    other = project / "vendored" / ".gradwatch_cache"
    other.mkdir(parents=True)
    assert main(["clean"]) == 0
    out = capsys.readouterr().out
    assert not (project / ".gradwatch_cache").exists() and not other.exists()
    assert sorted(out.splitlines()) == ["Removed .gradwatch_cache", f"Removed vendored{os.sep}.gradwatch_cache"]
    assert (project / "a.py").exists()
    assert main(["clean"]) == 0
    assert "No cache" in capsys.readouterr().err


def test_clean_removes_the_folder_named_by_the_environment(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(result_cache.FOLDER_ENV_VAR, str(folder))
    (tmp_path / "a.py").write_text(CLEAN)
    monkeypatch.chdir(tmp_path)
    check(capsys)
    assert folder.is_dir()
    assert main(["clean", str(tmp_path / "a.py")]) == 0
    assert not folder.exists()


def test_clean_leaves_a_folder_that_is_not_a_cache(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "data.txt").write_text("keep me")
    monkeypatch.setenv(result_cache.FOLDER_ENV_VAR, str(folder))
    monkeypatch.chdir(tmp_path)
    main(["clean"])
    assert (folder / "data.txt").read_text() == "keep me"


def test_corrupt_entry_is_ignored_and_rewritten(project, capsys, analysed, monkeypatch):
    folder = Path(os.environ[result_cache.FOLDER_ENV_VAR])
    (project / "a.py").write_text(GW101_EXAMPLE)
    (project / "b.py").write_text(GW203_EXAMPLE)
    first = check(capsys)
    damaged = [b"", b"{not json", b'{"key": 1}', json.dumps({"findings": [{"span": "x"}]}).encode()]
    for round_, content in enumerate(damaged):
        for entry in entries(folder):
            entry.write_bytes(content)
        analysed.clear()
        assert check(capsys) == first, round_
        assert {"a.py", "b.py"} <= set(analysed)
        assert all(json.loads(entry.read_text())["findings"] for entry in entries(folder))
    # A well-formed entry whose findings do not make sense is a miss too.
    for entry in entries(folder):
        data = json.loads(entry.read_text())
        data["findings"][0]["severity"] = "catastrophic"
        entry.write_text(json.dumps(data))
    assert check(capsys) == first


def test_unwritable_cache_folder_means_no_cache_not_a_failure(project, capsys, analysed, monkeypatch):
    blocker = project / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(result_cache.FOLDER_ENV_VAR, str(blocker / "cache"))
    (project / "a.py").write_text(GW101_EXAMPLE)
    code, out, err = check(capsys)
    assert code == 1 and json.loads(out)[0]["code"] == "GW101"
    assert err.count("warning: cannot use the cache folder") == 1
    analysed.clear()
    check(capsys)
    assert set(analysed) == {"a.py"}
    assert check(capsys, "--quiet")[2] == ""


def test_fix_and_diff_still_fix_after_a_cached_check(project, capsys):
    path = project / "a.py"
    path.write_text(GW203_EXAMPLE)
    check(capsys)
    check(capsys)
    assert main(["check", "--diff", "--jobs", "1"]) == 1
    assert "+y = y + x" in capsys.readouterr().out
    assert main(["check", "--fix", "--jobs", "1", "--select", "GW203"]) == 0
    assert "y = y + x\n" in path.read_text()


def test_fix_mode_reuses_results_without_fixes(project, capsys, analysed):
    (project / "a.py").write_text(GW101_EXAMPLE)
    check(capsys)
    analysed.clear()
    assert main(["check", "--fix", "--jobs", "1"]) == 1
    assert "GW101" in capsys.readouterr().out
    assert analysed == []


# ---------------------------------------------------------------- across files


@pytest.fixture
def cross_project(tmp_path, monkeypatch):
    folder = tmp_path / "fixture"
    shutil.copytree(FIXTURE, folder)
    (folder / "pyproject.toml").write_text("[project]\nname = 'fixture'\n")
    monkeypatch.chdir(folder)
    return folder


def findings_in(out: str, name: str) -> list[tuple[int, str]]:
    return sorted((item["line"], item["code"]) for item in json.loads(out) if item["path"] == name)


def test_change_in_an_imported_file_invalidates_its_importers(cross_project, capsys, analysed):
    _, first, _ = check(capsys)
    assert (28, "GW101") in findings_in(first, "steps.py")
    analysed.clear()
    assert check(capsys)[1] == first and analysed == []

    # Touched, same content: the hash says nothing changed.
    helpers = cross_project / "helpers.py"
    os.utime(helpers, ns=(helpers.stat().st_atime_ns, helpers.stat().st_mtime_ns + 10**9))
    assert check(capsys)[1] == first and analysed == []

    # helpers.detached no longer detaches: steps.py, which calls it, must be analysed again.
    helpers.write_text(helpers.read_text().replace("x.detach()", "x"))
    _, second, _ = check(capsys)
    assert "steps.py" in analysed and "helpers.py" in analysed
    assert "layers.py" not in analysed  # it imports nothing that changed
    assert (28, "GW101") not in findings_in(second, "steps.py")


def test_new_module_file_invalidates_its_importers(cross_project, capsys, analysed):
    (cross_project / "user.py").write_text(
        "import torch\n\nfrom extra import cut\n\n\ndef step():\n"
        "    x = torch.randn(8, 4, requires_grad=True)\n    loss = cut(x * 2).sum()\n    loss.backward()\n"
    )
    _, first, _ = check(capsys)
    assert findings_in(first, "user.py") == []
    (cross_project / "extra.py").write_text("def cut(x):\n    return x.detach()\n")
    analysed.clear()
    _, second, _ = check(capsys)
    assert "user.py" in analysed
    assert [code for _, code in findings_in(second, "user.py")] == ["GW101"]


# ---------------------------------------------------------------- concurrent runs


def test_concurrent_runs_do_not_crash(project):
    for index in range(PARALLEL_MIN_FILES + 4):
        (project / f"m{index}.py").write_text(GW101_EXAMPLE if index % 2 else GW203_EXAMPLE)
    env = {**os.environ, "PYTHONPATH": str(SERVER), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "gradwatch", "check", "--format", "json", "--jobs", "2", "--no-cross-module"]

    def start():
        return subprocess.Popen(
            command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    for _ in range(2):  # cold, then warm while the other run rewrites nothing or everything
        runs = [start(), start()]
        results = [process.communicate(timeout=300) for process in runs]
        assert [process.returncode for process in runs] == [1, 1], results
        assert results[0][0] == results[1][0] and results[0][1] == results[1][1] == ""
        assert len(json.loads(results[0][0])) == PARALLEL_MIN_FILES + 4


def test_a_change_along_a_re_export_chain_invalidates_its_importers(project, capsys, analysed):
    (project / "pkg").mkdir()
    (project / "pkg" / "__init__.py").write_text("from .ops import *\n")
    (project / "pkg" / "ops.py").write_text("from .impl import cut\n")
    (project / "pkg" / "impl.py").write_text("def cut(x):\n    return x.detach()\n")
    (project / "step.py").write_text(
        "import torch\n\nfrom pkg import cut\n\n\ndef step():\n"
        "    x = torch.randn(8, 4, requires_grad=True)\n    loss = cut(x * 2).sum()\n    loss.backward()\n"
    )
    _, first, _ = check(capsys)
    assert [code for _, code in findings_in(first, "step.py")] == ["GW101"]
    # `ops` (in the middle of the chain) now takes `cut` from a module that does not detach.
    (project / "pkg" / "keep.py").write_text("def cut(x):\n    return x\n")
    (project / "pkg" / "ops.py").write_text("from .keep import cut\n")
    analysed.clear()
    _, second, _ = check(capsys)
    assert "step.py" in analysed
    assert findings_in(second, "step.py") == []
