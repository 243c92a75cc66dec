"""A broken configuration is one clear message (and, in the editor, the defaults): never a crash."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from gradwatch.cli import main
from gradwatch.config import ConfigError, Settings, load_settings
from gradwatch.lsp.settings import SettingsStore, parse_editor_settings

CLEAN = "import torch\n\n\ndef double(t):\n    return t * 2\n"
# tomllib recurses once per nested array: ~500 levels pass Python's recursion limit.
DEEPLY_NESTED = "[project]\nname = 'deep'\nkeywords = " + "[" * 500 + "]" * 500 + "\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "good.py").write_text(CLEAN)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_deeply_nested_pyproject_stops_the_cli_with_one_clear_line(project, capsys):
    (project / "pyproject.toml").write_text(DEEPLY_NESTED)
    code, out, err = run(capsys, "check", "--no-cross-module")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"gradwatch: error: {project / 'pyproject.toml'}: invalid TOML: arrays or tables nested too deeply to read"
    ]


def test_deeply_nested_pyproject_gives_the_server_the_defaults_and_one_message(project):
    (project / "pyproject.toml").write_text(DEEPLY_NESTED)
    messages: list[str] = []
    store = SettingsStore(messages.append)
    folder = project.as_uri()
    for name in ("a.py", "b.py"):
        assert store.rules_for(f"{folder}/{name}", folder) == Settings()
    assert len(messages) == 1
    assert "nested too deeply" in messages[0] and "using the default settings" in messages[0]


@pytest.mark.parametrize("value, shown", [('["error"]', "['error']"), ("{ level = 'error' }", "{'level': 'error'}")])
def test_a_severity_that_is_a_list_or_table_is_a_clear_error(project, capsys, value, shown):
    (project / "pyproject.toml").write_text(f"[tool.gradwatch.severity]\nGW101 = {value}\n")
    code, out, err = run(capsys, "check", "--no-cross-module")
    assert (code, out) == (2, "")
    assert f"severity for GW101 is {shown}; use one of error, warning" in err


def test_an_editor_severity_that_is_not_a_string_is_reported_and_ignored():
    settings, problems = parse_editor_settings({"severity": {"GW101": ["error"]}, "debounce": 10}, "editor")
    assert settings.rules == Settings() and settings.debounce_ms == 10
    assert problems == ["editor: severity for GW101 is ['error']; use one of error, warning, information, hint, off"]


def test_a_tool_key_that_is_not_a_table_means_no_gradwatch_settings(tmp_path):
    (tmp_path / "pyproject.toml").write_text("tool = 1\n")
    assert load_settings(tmp_path) == Settings()


def test_a_pyproject_that_is_a_link_to_a_huge_file_is_refused_unread(tmp_path):
    huge = tmp_path / "huge.toml"
    with open(huge, "wb") as stream:
        stream.truncate(512 * 1024 * 1024)  # sparse: costs no disk, would cost 512 MiB read whole
    (tmp_path / "pyproject.toml").symlink_to(huge)
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_settings(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX feature")
def test_a_config_option_naming_a_fifo_is_refused_not_waited_for(project, capsys):
    os.mkfifo(project / "settings.toml")
    outcome: dict = {}

    def check() -> None:
        outcome["result"] = run(capsys, "check", "--no-cross-module", "--config", "settings.toml")

    worker = threading.Thread(target=check, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():
        # Release the reader blocked on the FIFO so the thread can end, then fail.
        with open(project / "settings.toml", "wb"):
            pass
        pytest.fail("reading a FIFO given as --config hung")
    code, _, err = outcome["result"]
    assert code == 2
    assert err.strip() == f"gradwatch: error: {Path('settings.toml')}: cannot read: not a regular file (a FIFO)"
