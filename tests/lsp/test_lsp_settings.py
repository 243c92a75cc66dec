"""Settings: initializationOptions, workspace/configuration, pyproject.toml per folder, bad values."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import (
    SYNTAX_ERROR_SOURCE,
    codes,
    open_document,
    start_session,
    until,
    wait_for_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


def change_configuration(client: LanguageClient, settings: dict) -> int:
    client.set_configuration(settings, section="gradwatch")
    count = len(client.published)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    return count


async def test_initialization_options_apply(bare_client: LanguageClient, folder):
    await start_session(bare_client, [folder], {"ignore": ["GW001"]})
    uri = open_document(bare_client, folder / "a.py", SYNTAX_ERROR_SOURCE)
    assert await wait_for_diagnostics(bare_client, uri, version=1) == []


async def test_configuration_change_republishes(client: LanguageClient, project):
    uri = open_document(client, project / "a.py", SYNTAX_ERROR_SOURCE)
    (diagnostic,) = await wait_for_diagnostics(client, uri, version=1)
    assert diagnostic.severity == types.DiagnosticSeverity.Error

    count = change_configuration(client, {"severity": {"GW001": "warning"}})
    (diagnostic,) = await wait_for_diagnostics(client, uri, version=1, after=count)
    assert diagnostic.severity == types.DiagnosticSeverity.Warning

    count = change_configuration(client, {"select": ["GW2"]})
    assert await wait_for_diagnostics(client, uri, version=1, after=count) == []

    count = change_configuration(client, {"enable": False})
    assert await wait_for_diagnostics(client, uri, version=1, after=count) == []

    count = change_configuration(client, {})
    assert codes(await wait_for_diagnostics(client, uri, version=1, after=count)) == ["GW001"]


async def test_pyproject_applies_and_editor_settings_win(bare_client: LanguageClient, tmp_path):
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "pyproject.toml").write_text('[tool.gradwatch]\nseverity = { GW001 = "hint" }\n')
    await start_session(bare_client, [folder])
    uri = open_document(bare_client, folder / "a.py", SYNTAX_ERROR_SOURCE)
    (diagnostic,) = await wait_for_diagnostics(bare_client, uri, version=1)
    assert diagnostic.severity == types.DiagnosticSeverity.Hint

    count = change_configuration(bare_client, {"severity": {"GW001": "information"}})
    (diagnostic,) = await wait_for_diagnostics(bare_client, uri, version=1, after=count)
    assert diagnostic.severity == types.DiagnosticSeverity.Information


async def test_each_folder_uses_its_own_pyproject(bare_client: LanguageClient, tmp_path):
    quiet, loud = tmp_path / "quiet", tmp_path / "loud"
    for folder in (quiet, loud):
        folder.mkdir()
    (quiet / "pyproject.toml").write_text('[tool.gradwatch]\nignore = ["GW001"]\n')
    (loud / "pyproject.toml").write_text("[project]\nname = 'loud'\n")
    await start_session(bare_client, [quiet, loud])
    quiet_uri = open_document(bare_client, quiet / "a.py", SYNTAX_ERROR_SOURCE)
    loud_uri = open_document(bare_client, loud / "a.py", SYNTAX_ERROR_SOURCE)
    assert await wait_for_diagnostics(bare_client, quiet_uri, version=1) == []
    assert codes(await wait_for_diagnostics(bare_client, loud_uri, version=1)) == ["GW001"]


async def test_broken_pyproject_is_reported_once_and_defaults_apply(bare_client: LanguageClient, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "pyproject.toml").write_text("[tool.gradwatch\nselect = \n")
    await start_session(bare_client, [folder])
    first = open_document(bare_client, folder / "a.py", SYNTAX_ERROR_SOURCE)
    second = open_document(bare_client, folder / "b.py", SYNTAX_ERROR_SOURCE)
    assert codes(await wait_for_diagnostics(bare_client, first, version=1)) == ["GW001"]
    assert codes(await wait_for_diagnostics(bare_client, second, version=1)) == ["GW001"]
    messages = [m for m in bare_client.messages if "pyproject.toml" in m.message]
    assert len(messages) == 1
    assert messages[0].type == types.MessageType.Warning
    assert "invalid TOML" in messages[0].message


async def test_bad_editor_setting_is_reported_and_ignored(bare_client: LanguageClient, folder):
    await start_session(bare_client, [folder], {"debounce": "fast", "severity": {"GW001": "loud"}})
    uri = open_document(bare_client, folder / "a.py", SYNTAX_ERROR_SOURCE)
    (diagnostic,) = await wait_for_diagnostics(bare_client, uri, version=1)
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    await until(lambda: len(bare_client.messages) >= 2, what="two warnings")
    text = " ".join(m.message for m in bare_client.messages)
    assert "debounce" in text and "GW001" in text
