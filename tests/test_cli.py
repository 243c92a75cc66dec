"""The `gradwatch` command, run for real: in a subprocess for end-to-end cases, in-process for the rest."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gradwatch import __version__
from gradwatch.cli import PARALLEL_MIN_FILES, main

SERVER = Path(__file__).resolve().parents[1] / "server"

GW101_EXAMPLE = (
    "import torch\n"
    "x = torch.randn(3, requires_grad=True)\n"
    "y = x.detach()\n"
    "y.sum().backward()\n"
)
GW201_EXAMPLE = (
    "import torch\n"
    "x = torch.randn(3, requires_grad=True)\n"
    "y = x.sigmoid()\n"
    "y.add_(1)\n"
    "y.sum().backward()\n"
)
GW203_EXAMPLE = (
    "import torch\n"
    "x = torch.randn(3, requires_grad=True)\n"
    "y = x * 2\n"
    "y.add_(x)\n"
    "y.sum().backward()\n"
)
SYNTAX_ERROR = "def broken(:\n    pass\n"
CLEAN = "import torch\n\n\ndef double(t):\n    return t * 2\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the working folder, with its own pyproject.toml
    so that no configuration from above leaks in."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'sample'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_subprocess(*args: str, cwd: Path, extra_python_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SERVER), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, *extra_python_args, "-m", "gradwatch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def codes(out: str) -> list[str]:
    return [item["code"] for item in json.loads(out)]


# ---------------------------------------------------------------- end to end, in a subprocess


def test_subprocess_reports_a_syntax_error_and_exits_1(project):
    write(project, "bad.py", SYNTAX_ERROR)
    write(project, "good.py", CLEAN)
    result = run_subprocess("check", cwd=project)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bad.py:1:12: GW001 syntax error")
    assert lines[-1] == "Found 1 finding (0 fixable with --fix)."
    assert result.stderr == ""


def test_subprocess_clean_project_exits_0(project):
    write(project, "good.py", CLEAN)
    result = run_subprocess("check", ".", cwd=project)
    assert (result.returncode, result.stdout) == (0, "All checks passed!\n")


def test_subprocess_broken_pyproject_is_one_clear_line_and_exit_2(project):
    write(project, "good.py", CLEAN)
    (project / "pyproject.toml").write_text("[tool.gradwatch\nselect = [\n")
    result = run_subprocess("check", cwd=project)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("gradwatch: error: ")
    assert "pyproject.toml: invalid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_imports_no_editor_or_torch_modules(project):
    write(project, "model.py", GW101_EXAMPLE)
    result = run_subprocess("check", "model.py", cwd=project, extra_python_args=("-X", "importtime"))
    assert result.returncode in (0, 1), result.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "gradwatch" in imported  # the measurement itself worked
    assert not imported & {"jedi", "pygls", "lsprotocol", "torch", "parso", "cattrs"}


def test_check_in_process_leaves_heavy_modules_unimported(project):
    write(project, "model.py", GW201_EXAMPLE)
    script = (
        "import sys, json\n"
        "from gradwatch.cli import main\n"
        "main(['check', '--format', 'json', 'model.py'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('jedi', 'pygls', 'lsprotocol', 'torch'))\n"
        "print(json.dumps(heavy), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SERVER)}
    result = subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"gradwatch {__version__}\n")


# ---------------------------------------------------------------- exit codes and usage errors


def test_exit_codes(project, capsys):
    write(project, "good.py", CLEAN)
    assert run(capsys, "check", "good.py")[0] == 0
    write(project, "bad.py", SYNTAX_ERROR)
    assert run(capsys, "check")[0] == 1
    code, out, _ = run(capsys, "check", "--exit-zero")
    assert code == 0
    assert "GW001" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["check", "--format", "xml"], "invalid choice: 'xml'"),
        (["check", "--select", "GW9"], "'GW9' is not a rule code or prefix"),
        (["check", "--ignore", "E501"], "'E501' is not a rule code or prefix"),
        (["check", "--jobs", "0"], "--jobs must be 1 or more"),
        (["check", "--no-such-option"], "unrecognized arguments"),
        (["check", "missing.py"], "path not found: missing.py"),
        (["check", "--config", "nowhere.toml"], "config file not found: nowhere.toml"),
        (["check", "--statistics", "--format", "sarif"], "--statistics works with"),
        (["explain", "GW999"], "unknown rule code 'GW999'; known codes: GW001"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(project, capsys, args, message):
    write(project, "good.py", CLEAN)
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("gradwatch: error: ")
    assert message in err


def test_no_command_prints_help_and_exits_2(capsys):
    code, _, err = run(capsys)
    assert code == 2
    assert "check" in err and "explain" in err


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "table, message",
    [
        ("[tool.gradwatch]\nselect = [\n", "invalid TOML"),
        ("[tool.gradwatch]\nselct = ['GW1']\n", "unknown key(s) in [tool.gradwatch]: selct"),
        ("[tool.gradwatch.severity]\nGW101 = 'loud'\n", "severity for GW101 is 'loud'"),
    ],
)
def test_broken_pyproject_exits_2_with_a_clear_message(project, capsys, table, message):
    write(project, "good.py", CLEAN)
    (project / "pyproject.toml").write_text(table)
    code, out, err = run(capsys, "check")
    assert code == 2
    assert out == ""
    assert err.startswith(f"gradwatch: error: {project / 'pyproject.toml'}")
    assert message in err


def test_select_and_ignore_on_the_command_line(project, capsys):
    write(project, "bad.py", SYNTAX_ERROR)
    assert run(capsys, "check", "--ignore", "GW001")[0] == 0
    assert run(capsys, "check", "--select", "gw0")[0] == 1  # prefixes, any case
    assert run(capsys, "check", "--select", "GW001", "--ignore", "GW0")[0] == 0


def test_command_line_select_overrides_pyproject(project, capsys):
    write(project, "bad.py", SYNTAX_ERROR)
    (project / "pyproject.toml").write_text('[tool.gradwatch]\nignore = ["GW001"]\n')
    assert run(capsys, "check")[0] == 0
    assert run(capsys, "check", "--select", "GW001")[0] == 1
    (project / "pyproject.toml").write_text('[tool.gradwatch.severity]\nGW001 = "off"\n')
    assert run(capsys, "check")[0] == 0
    assert run(capsys, "check", "--select", "GW0")[0] == 1


def test_pyproject_severity_changes_the_reported_severity(project, capsys):
    write(project, "bad.py", SYNTAX_ERROR)
    (project / "pyproject.toml").write_text('[tool.gradwatch.severity]\nGW001 = "warning"\n')
    _, out, _ = run(capsys, "check", "--format", "json")
    assert json.loads(out)[0]["severity"] == "warning"


def test_config_option_replaces_the_nearest_pyproject(project, capsys):
    write(project, "bad.py", SYNTAX_ERROR)
    other = write(project, "configs/strict.toml", '[tool.gradwatch]\nignore = ["GW001"]\n')
    assert run(capsys, "check")[0] == 1
    assert run(capsys, "check", "--config", str(other))[0] == 0


def test_each_file_uses_its_nearest_pyproject(project, capsys):
    write(project, "bad.py", SYNTAX_ERROR)
    write(project, "sub/bad.py", SYNTAX_ERROR)
    write(project, "sub/pyproject.toml", '[tool.gradwatch]\nignore = ["GW001"]\n')
    _, out, _ = run(capsys, "check", "--format", "json")
    assert [item["path"] for item in json.loads(out)] == ["bad.py"]


# ---------------------------------------------------------------- suppression comments


@pytest.mark.parametrize("comment", ["# noqa: GW101", "# gradwatch: ignore[GW101]", "# noqa"])
def test_suppression_comments_silence_a_hazard(project, capsys, comment):
    write(project, "loud.py", GW101_EXAMPLE)
    assert "GW101" in codes(run(capsys, "check", "--format", "json")[1])
    write(project, "loud.py", GW101_EXAMPLE.replace("y.sum().backward()", f"y.sum().backward()  {comment}"))
    code, out, _ = run(capsys, "check", "--format", "json")
    assert "GW101" not in codes(out)


def test_a_suppression_for_another_code_does_not_silence(project, capsys):
    write(project, "loud.py", GW101_EXAMPLE.replace("y.sum().backward()", "y.sum().backward()  # noqa: GW201"))
    assert "GW101" in codes(run(capsys, "check", "--format", "json")[1])


@pytest.mark.parametrize("comment", ["# noqa: GW001", "# gradwatch: ignore[GW001]"])
def test_suppression_comments_silence_a_syntax_error(project, capsys, comment):
    write(project, "bad.py", f"def broken(:  {comment}\n    pass\n")
    assert run(capsys, "check")[0] == 0


# ---------------------------------------------------------------- what gets checked


def test_syntax_error_reported_once_while_other_functions_are_still_checked(project, capsys):
    source = (
        "import torch\n"
        "\n"
        "def half_typed(:\n"
        "    pass\n"
        "\n"
        "def train():\n"
        "    x = torch.randn(3, requires_grad=True)\n"
        "    y = x.detach()\n"
        "    y.sum().backward()\n"
    )
    write(project, "mixed.py", source)
    _, out, _ = run(capsys, "check", "--format", "json")
    found = json.loads(out)
    assert [item["code"] for item in found].count("GW001") == 1
    assert {"code": "GW101", "line": 9} in [{"code": i["code"], "line": i["line"]} for i in found]


def test_hazard_examples_are_reported(project, capsys):
    write(project, "cut.py", GW101_EXAMPLE)
    write(project, "saved.py", GW201_EXAMPLE)
    write(project, "legal.py", GW203_EXAMPLE)
    code, out, _ = run(capsys, "check", "--format", "json")
    found = {(item["path"], item["code"]) for item in json.loads(out)}
    assert {("cut.py", "GW101"), ("saved.py", "GW201"), ("legal.py", "GW203")} <= found
    assert code == 1


def test_unreadable_files_are_skipped_with_a_message_and_do_not_fail_the_run(project, capsys):
    (project / "blob.py").write_bytes(b"\x00\x01\x02binary")
    (project / "latin1.py").write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    write(project, "good.py", CLEAN)
    code, out, err = run(capsys, "check")
    assert code == 0
    assert out == "All checks passed!\n"
    assert sorted(err.splitlines()) == [
        "blob.py: skipped: binary file (contains NUL bytes)",
        "latin1.py: skipped: not UTF-8 text (byte 11)",
    ]


def test_folders_that_are_not_the_users_code_are_skipped(project, capsys):
    for folder in (".hidden", "node_modules/pkg", "__pycache__", "site-packages/pkg", "build", "dist", "myenv"):
        write(project, f"{folder}/bad.py", SYNTAX_ERROR)
    write(project, "myenv/pyvenv.cfg", "home = /usr/bin\n")
    write(project, "venv_named_but_not_a_venv/bad.py", SYNTAX_ERROR)
    write(project, "src/pkg/bad.py", SYNTAX_ERROR)
    write(project, "src/pkg/notes.txt", SYNTAX_ERROR)
    _, out, _ = run(capsys, "check", "--format", "json")
    assert [item["path"] for item in json.loads(out)] == [
        "src/pkg/bad.py",
        "venv_named_but_not_a_venv/bad.py",
    ]


def test_an_explicitly_named_file_is_checked_whatever_its_extension(project, capsys):
    write(project, "train_script", SYNTAX_ERROR)
    assert run(capsys, "check")[0] == 0
    code, out, _ = run(capsys, "check", "train_script")
    assert code == 1
    assert out.startswith("train_script:1:12: GW001 ")


def test_an_explicitly_named_skipped_folder_is_checked(project, capsys):
    write(project, "build/bad.py", SYNTAX_ERROR)
    assert run(capsys, "check")[0] == 0
    assert run(capsys, "check", "build")[0] == 1


def test_output_is_sorted_by_path_then_position(project, capsys):
    write(project, "z.py", SYNTAX_ERROR)
    write(project, "a/b.py", SYNTAX_ERROR)
    write(project, "a.py", SYNTAX_ERROR)
    _, out, _ = run(capsys, "check", "z.py", "a", "a.py", "--format", "json")
    assert [item["path"] for item in json.loads(out)] == ["a.py", "a/b.py", "z.py"]


def test_a_file_named_twice_is_checked_once(project, capsys):
    write(project, "bad.py", SYNTAX_ERROR)
    _, out, _ = run(capsys, "check", "bad.py", ".", "./bad.py", "--format", "json")
    assert len(json.loads(out)) == 1


def test_jobs_2_gives_the_same_output_as_jobs_1(project, capsys):
    count = PARALLEL_MIN_FILES + 4  # enough files for the process pool to be used
    for index in range(count):
        text = [SYNTAX_ERROR, CLEAN, GW101_EXAMPLE, GW203_EXAMPLE][index % 4]
        write(project, f"pkg{index % 3}/module_{index:02d}.py", text)
    serial = run(capsys, "check", "--jobs", "1", "--format", "json")
    parallel = run(capsys, "check", "--jobs", "2", "--format", "json")
    assert serial == parallel
    assert len(json.loads(serial[1])) >= count // 4


# ---------------------------------------------------------------- formats


def test_json_output_keys_are_exactly_as_documented(project, capsys):
    write(project, "bad.py", SYNTAX_ERROR)
    _, out, _ = run(capsys, "check", "--format", "json")
    (item,) = json.loads(out)
    assert set(item) == {"path", "line", "column", "end_line", "end_column", "code", "severity", "message", "fix"}
    assert (item["path"], item["line"], item["column"], item["code"]) == ("bad.py", 1, 12, "GW001")
    assert item["end_column"] == len("def broken(:") + 1
    assert item["fix"] is None


def test_json_fix_object_for_a_fixable_finding(project, capsys):
    write(project, "legal.py", GW203_EXAMPLE)
    _, out, _ = run(capsys, "check", "--format", "json", "--select", "GW203")
    (item,) = json.loads(out)
    assert item["severity"] == "hint"
    assert set(item["fix"]) == {"title", "edits"}
    for edit in item["fix"]["edits"]:
        assert set(edit) == {"line", "column", "end_line", "end_column", "new_text"}


def test_sarif_output_from_the_cli(project, capsys):
    write(project, "sub/bad.py", SYNTAX_ERROR)
    write(project, "cut.py", GW101_EXAMPLE)
    code, out, _ = run(capsys, "check", "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    run_ = log["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    by_code = {result["ruleId"]: result for result in run_["results"]}
    syntax = by_code["GW001"]
    assert rules[syntax["ruleIndex"]]["id"] == "GW001"
    assert syntax["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "sub/bad.py",
        "uriBaseId": "%SRCROOT%",
    }
    assert syntax["locations"][0]["physicalLocation"]["region"]["startColumn"] == 12
    cut = by_code["GW101"]
    assert cut["level"] == "error"
    assert cut["relatedLocations"], "the causal chain (the .detach() line) is reported"


def test_text_output_piped_is_plain_with_related_lines(project, capsys):
    write(project, "cut.py", GW101_EXAMPLE)
    write(project, "legal.py", GW203_EXAMPLE)
    _, out, _ = run(capsys, "check")
    assert "\x1b[" not in out
    assert "fix available" not in out
    lines = out.splitlines()
    cut_line = next(i for i, line in enumerate(lines) if line.startswith("cut.py:4:1: GW101 "))
    assert lines[cut_line + 1].startswith("  cut.py:3:")
    assert ": note: " in lines[cut_line + 1]
    assert lines[-1].startswith("Found ") and "fixable with --fix" in lines[-1]


def test_quiet_prints_findings_only(project, capsys):
    write(project, "bad.py", SYNTAX_ERROR)
    code, out, _ = run(capsys, "check", "--quiet")
    assert code == 1
    assert len(out.splitlines()) == 1 and out.startswith("bad.py:1:12: GW001")
    write(project, "bad.py", CLEAN)
    assert run(capsys, "check", "-q")[1] == ""


def test_statistics(project, capsys):
    write(project, "a.py", SYNTAX_ERROR)
    write(project, "b.py", SYNTAX_ERROR)
    code, out, _ = run(capsys, "check", "--statistics")
    assert code == 1
    assert out.splitlines()[0].split() == ["2", "GW001", "syntax-error"]
    _, out, _ = run(capsys, "check", "--statistics", "--format", "json")
    assert json.loads(out) == [{"code": "GW001", "name": "syntax-error", "count": 2, "fixable": 0}]


# ---------------------------------------------------------------- fixing


def test_fix_writes_the_file_and_the_recheck_is_clean(project, capsys):
    path = write(project, "legal.py", GW203_EXAMPLE)
    path.chmod(0o640)
    code, out, err = run(capsys, "check", "--fix", "--select", "GW203")
    assert code == 0, out
    assert out == "All checks passed!\n"
    assert err == "Fixed 1 finding in 1 file.\n"
    fixed = path.read_text()
    assert "y = y + x\n" in fixed and "y.add_(x)" not in fixed
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in project.iterdir() if p.name.startswith(".legal.py")] == []  # no temp file left
    assert run(capsys, "check", "--select", "GW203")[0] == 0


def test_fix_keeps_crlf_line_endings(project, capsys):
    path = project / "legal.py"
    path.write_bytes(GW203_EXAMPLE.replace("\n", "\r\n").encode())
    run(capsys, "check", "--fix")
    data = path.read_bytes()
    assert b"y = y + x\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")


def test_fix_keeps_a_utf8_byte_order_mark(project, capsys):
    path = project / "legal.py"
    path.write_bytes(b"\xef\xbb\xbf" + GW203_EXAMPLE.encode())
    run(capsys, "check", "--fix")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and not data.startswith(b"\xef\xbb\xbf" * 2)
    assert b"y = y + x\n" in data


def test_fix_never_touches_files_without_fixable_findings(project, capsys):
    untouched = [write(project, "bad.py", SYNTAX_ERROR), write(project, "good.py", CLEAN)]
    write(project, "cut.py", GW101_EXAMPLE)
    before = {}
    for path in untouched:
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
        before[path] = (path.stat().st_mtime_ns, path.stat().st_ino, path.read_bytes())
    code, _, err = run(capsys, "check", "--fix")
    assert code == 1  # the syntax error remains
    assert err == "Fixed 0 findings in 0 files.\n"
    for path in untouched:
        assert (path.stat().st_mtime_ns, path.stat().st_ino, path.read_bytes()) == before[path]


def test_fix_follows_a_symlink_instead_of_replacing_it(project, capsys):
    target = write(project, "real/legal.py", GW203_EXAMPLE)
    link = project / "link.py"
    link.symlink_to(target)
    run(capsys, "check", "--fix", "link.py")
    assert link.is_symlink()
    assert "y = y + x" in target.read_text()


def test_diff_shows_the_fix_and_writes_nothing(project, capsys):
    path = write(project, "legal.py", GW203_EXAMPLE)
    code, out, err = run(capsys, "check", "--diff")
    assert code == 1
    assert path.read_text() == GW203_EXAMPLE
    assert out.startswith("--- a/legal.py\n+++ b/legal.py\n")
    assert "\n-y.add_(x)\n" in out
    assert "\n+y = y + x\n" in out
    assert err == "Would fix 1 finding in 1 file.\n"


def test_diff_with_nothing_to_fix_is_empty_and_exits_0(project, capsys):
    write(project, "bad.py", SYNTAX_ERROR)
    code, out, err = run(capsys, "check", "--diff")
    assert (code, out, err) == (0, "", "Would fix 0 findings in 0 files.\n")


# ---------------------------------------------------------------- rules, explain, serve


def test_rules_lists_every_rule(capsys):
    code, out, _ = run(capsys, "rules")
    assert code == 0
    rows = [line.split(None, 3) for line in out.splitlines()]
    listed = [row[0] for row in rows]
    assert "GW001" in listed and "GW101" in listed and "GW201" in listed
    assert listed == sorted(listed)
    for row in rows:
        assert row[2] in {"error", "warning", "information", "hint"}


def test_rules_as_json(capsys):
    code, out, _ = run(capsys, "rules", "--format", "json")
    items = json.loads(out)
    assert code == 0
    assert all(set(item) == {"code", "name", "severity", "summary"} for item in items)
    assert {"GW001", "GW101"} <= {item["code"] for item in items}


def test_explain_prints_the_rule_documentation(capsys):
    from gradwatch.rules import rule_by_code

    code, out, _ = run(capsys, "explain", "gw101")
    assert code == 0
    assert out == rule_by_code("GW101").documentation()
    assert out.startswith("# GW101 ")


def test_explain_syntax_error_code(capsys):
    code, out, _ = run(capsys, "explain", "GW001")
    assert code == 0
    assert out.startswith("# GW001 syntax-error")


def test_serve_and_probe_hand_their_arguments_to_their_own_parsers(capsys):
    code, out, _ = run(capsys, "serve", "--help")
    assert code == 0
    assert "--stdio" in out and "--tcp" in out
    code, out, _ = run(capsys, "probe", "--help")
    assert code == 0
    assert "gradwatch probe" in out


def test_check_keeps_the_scope_cache_only_for_files_whose_fixes_it_verifies(project, capsys, monkeypatch):
    # Keeping what each scope depends on costs about a third of a check; it pays off only when
    # fixed variants are re-checked, so a file without a fix is checked without it.
    from gradwatch import fixes

    stored = []
    real_put = fixes.RecheckCache.put
    monkeypatch.setattr(fixes.RecheckCache, "put", lambda cache, key, value: stored.append(key) or real_put(cache, key, value))
    write(project, "clean.py", CLEAN)
    write(project, "bad.py", "import torch\n\n" + SYNTAX_ERROR)  # a finding with no fix
    code, out, _ = run(capsys, "check", "--no-cache", "--jobs", "1")
    assert code == 1 and "GW001" in out
    assert stored == []
    write(project, "legal.py", GW203_EXAMPLE)  # a finding with a fix, which is verified
    _, out, _ = run(capsys, "check", "--no-cache", "--jobs", "1", "--select", "GW203", "--format", "json")
    (item,) = json.loads(out)
    assert item["fix"] is not None
    assert stored
