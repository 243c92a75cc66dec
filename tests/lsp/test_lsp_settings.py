"""Settings: initializationOptions, workspace/configuration, pyproject.toml per folder, bad values."""

from __future__ import annotations

import asyncio
import json

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import (
    SYNTAX_ERROR_SOURCE,
    RawServer,
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


@pytest.mark.parametrize("number", ["1e309", "1e999", "1" + "0" * 309], ids=["1e309", "1e999", "10**309"])
async def test_a_debounce_no_float_holds_is_ignored_and_the_other_settings_kept(folder, number):
    """JSON numbers the typed client cannot even send: 1e309 parses as inf, 10**309 as an int
    too big for a float. initialize is answered, the rest of the settings (here: ignore GW001)
    applies, a pull request after an edit is answered, and the user is told once."""
    settings = f'{{"debounce": {number}, "ignore": ["GW001"]}}'
    server = RawServer(configuration=f"[{settings}, {settings}]")  # the global section and the folder's
    await server.start()
    try:
        initialize = json.dumps(
            {
                "processId": None,
                "rootUri": folder.as_uri(),
                "workspaceFolders": [{"uri": folder.as_uri(), "name": folder.name}],
                "capabilities": {"workspace": {"configuration": True}, "textDocument": {"diagnostic": {}}},
                "initializationOptions": "SETTINGS",
            }
        ).replace('"SETTINGS"', settings)
        server.request(1, "initialize", initialize)
        assert "result" in await server.response(1)
        server.notify("initialized", {})
        uri = (folder / "a.py").as_uri()
        document = {"uri": uri, "languageId": "python", "version": 1, "text": SYNTAX_ERROR_SOURCE}
        server.notify("textDocument/didOpen", {"textDocument": document})
        server.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": SYNTAX_ERROR_SOURCE + "(\n"}]},
        )
        server.request(2, "textDocument/diagnostic", json.dumps({"textDocument": {"uri": uri}}))
        report = await server.response(2)
        assert report["result"]["items"] == []  # GW001 is ignored: the settings object was kept
        await asyncio.sleep(0.2)
        shown = [n["params"]["message"] for n in server.notifications if n["method"] == "window/showMessage"]
        assert any("debounce" in message for message in shown), shown
    finally:
        await server.stop()
