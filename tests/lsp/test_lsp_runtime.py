"""Runtime findings: what `gradwatch run` wrote to .gradwatch_cache/runtime.json, shown until the file is edited.

The runtime.json files are made for real: `python -m gradwatch run` of a script that clobbers a tensor
sigmoid saved for backward (about two seconds each: torch is imported).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import (
    GW201_LINE,
    GW201_SOURCE,
    capabilities,
    change_text,
    open_document,
    server_env,
    start_session,
    until,
    wait_for_diagnostics,
)

pytest.importorskip("torch")

pytestmark = pytest.mark.asyncio(loop_scope="module")

RUNTIME_SOURCE = "gradwatch (runtime)"
EMPTY_PYPROJECT_TEXT = "[project]\nname = 'example'\n"
SAVING_LINE = 2  # 0-based: y = x.sigmoid()


def run_sentinel(script: Path) -> Path:
    """`python -m gradwatch run -- script` in the script's folder; the runtime.json it wrote."""
    result = subprocess.run(
        [sys.executable, "-m", "gradwatch", "run", "--", script.name],
        cwd=script.parent,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr  # the script's own exit code: backward raised
    assert "GW201" in result.stderr, result.stderr
    output = script.parent / ".gradwatch_cache" / "runtime.json"
    assert output.is_file(), result.stderr
    return output


def project_with_script(folder: Path, name: str = "train.py", text: str = GW201_SOURCE) -> Path:
    """A project of its own (its pyproject.toml is where `gradwatch run` writes) holding one script."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(EMPTY_PYPROJECT_TEXT)
    script = folder / name
    script.write_text(text)
    return script


def runtime_diagnostics(diagnostics) -> list[types.Diagnostic]:
    return [d for d in diagnostics if d.source == RUNTIME_SOURCE]


def edit_line(client: LanguageClient, uri: str, line: int, old: str, new: str, version: int) -> None:
    """Replace the text `old` at the start of `line` by `new`."""
    end = types.Position(line=line, character=len(old))
    change_text(client, uri, types.Range(start=types.Position(line=line, character=0), end=end), new, version)


async def test_runtime_finding_is_shown_on_the_culprit_line_until_the_file_is_edited(
    client: LanguageClient, project: Path
):
    script = project_with_script(project / "app")
    run_sentinel(script)
    uri = open_document(client, script, GW201_SOURCE)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    (found,) = runtime_diagnostics(diagnostics)
    assert found.code == "GW201"
    assert found.severity == types.DiagnosticSeverity.Error
    assert found.range.start.line == GW201_LINE
    assert (found.range.start.character, found.range.end.character) == (0, len("y.add_(1)"))
    assert "sigmoid" in found.message
    assert found.code_description.href.endswith("#gw201")
    related = {(info.location.uri, info.location.range.start.line) for info in found.related_information}
    assert (uri, SAVING_LINE) in related  # where sigmoid saved what the in-place op modified
    # The static finding is still there, as its own diagnostic.
    assert any(d.source == "gradwatch" and d.code == "GW201" for d in diagnostics)

    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=GW201_LINE, character=3),
        )
    )
    assert hover is not None
    assert "gradwatch run" in hover.contents.value
    assert "sigmoid" in hover.contents.value
    assert "**Fix:**" in hover.contents.value  # the static rule's explanation and fix come along

    # Editing the culprit line: the runtime finding goes (the static analysis still runs).
    edit_line(client, uri, GW201_LINE, "y.add_(1)", "y.add_(2)", version=2)
    diagnostics = await wait_for_diagnostics(client, uri, version=2)
    assert runtime_diagnostics(diagnostics) == []
    assert any(d.code == "GW201" for d in diagnostics)

    # Back to the text that ran (an undo): its findings apply again.
    edit_line(client, uri, GW201_LINE, "y.add_(2)", "y.add_(1)", version=3)
    diagnostics = await wait_for_diagnostics(client, uri, version=3)
    assert [d.range.start.line for d in runtime_diagnostics(diagnostics)] == [GW201_LINE]

    # An edit elsewhere in the file changes it too: the lines may have moved.
    edit_line(client, uri, 0, "", "# a comment\n", version=4)
    diagnostics = await wait_for_diagnostics(client, uri, version=4)
    assert runtime_diagnostics(diagnostics) == []


async def test_a_new_runtime_json_is_read_when_the_editor_reports_it(client: LanguageClient, project: Path):
    script = project_with_script(project / "app")
    uri = open_document(client, script, GW201_SOURCE)
    assert runtime_diagnostics(await wait_for_diagnostics(client, uri, version=1)) == []

    after = len(client.published)
    output = run_sentinel(script)
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=output.as_uri(), type=types.FileChangeType.Created)]
        )
    )
    diagnostics = await wait_for_diagnostics(client, uri, after=after)
    assert [d.range.start.line for d in runtime_diagnostics(diagnostics)] == [GW201_LINE]

    # The file is deleted: its findings go with it.
    after = len(client.published)
    output.unlink()
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=output.as_uri(), type=types.FileChangeType.Deleted)]
        )
    )
    diagnostics = await wait_for_diagnostics(client, uri, after=after)
    assert runtime_diagnostics(diagnostics) == []


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe garbage",
        b'{"path": 1}',
        b'[{"path": "relative.py", "line": 1}, 7, null]',
        b"[" * 100000,
        b" " * (9 * 1024 * 1024) + b"[]",
    ],
    ids=["truncated", "not-utf8", "not-a-list", "bad-items", "deeply-nested", "huge"],
)
async def test_a_corrupt_runtime_json_is_ignored(client: LanguageClient, project: Path, content: bytes):
    script = project_with_script(project / "app")
    cache = script.parent / ".gradwatch_cache"
    cache.mkdir()
    (cache / "runtime.json").write_bytes(content)
    uri = open_document(client, script, GW201_SOURCE)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    assert runtime_diagnostics(diagnostics) == []
    assert any(d.code == "GW201" for d in diagnostics)  # the static analysis is unaffected


async def test_runtime_findings_for_a_file_that_changed_on_disk_since_the_run_are_not_shown(
    client: LanguageClient, project: Path
):
    script = project_with_script(project / "app")
    output = run_sentinel(script)
    # Saved with another line before the editor opened it: the run's line numbers no longer fit.
    moved = "import os\n" + GW201_SOURCE
    script.write_text(moved)
    later = output.stat().st_mtime_ns + 1_000_000_000  # whatever the file system's clock granularity
    os.utime(script, ns=(later, later))
    uri = open_document(client, script, moved)
    assert runtime_diagnostics(await wait_for_diagnostics(client, uri, version=1)) == []


async def test_the_server_asks_to_watch_runtime_json(bare_client: LanguageClient, folder: Path):
    registrations: list[types.Registration] = []

    @bare_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        registrations.extend(params.registrations)

    watching = capabilities()
    watching.workspace.did_change_watched_files = types.DidChangeWatchedFilesClientCapabilities(
        dynamic_registration=True
    )
    await bare_client.initialize_session(
        types.InitializeParams(
            capabilities=watching,
            root_uri=folder.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)],
            initialization_options={"debounce": 20},
        )
    )
    await until(lambda: registrations, what="client/registerCapability")
    (registration,) = registrations
    assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    # registerOptions arrive as plain JSON (their type depends on the method).
    patterns = [watcher["globPattern"] for watcher in registration.register_options["watchers"]]
    assert patterns == ["**/.gradwatch_cache/runtime.json"]


async def test_pulled_diagnostics_include_runtime_findings(pull_client: LanguageClient):
    script = project_with_script(pull_client.project / "app")
    run_sentinel(script)
    uri = open_document(pull_client, script, GW201_SOURCE)

    async def pull() -> list[types.Diagnostic]:
        report = await pull_client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        return list(report.items)

    assert [d.range.start.line for d in runtime_diagnostics(await pull())] == [GW201_LINE]
    edit_line(pull_client, uri, GW201_LINE, "y.add_(1)", "y.mul_(1)", version=2)
    assert runtime_diagnostics(await pull()) == []
    assert not [p for p in pull_client.published if p.uri == uri]  # pulled, never also pushed


async def test_a_rule_turned_off_hides_its_runtime_findings_too(bare_client: LanguageClient, folder: Path):
    await start_session(bare_client, [folder], {"debounce": 20, "severity": {"GW201": "off"}})
    script = project_with_script(folder / "app")
    run_sentinel(script)
    uri = open_document(bare_client, script, GW201_SOURCE)
    diagnostics = await wait_for_diagnostics(bare_client, uri, version=1)
    assert [d for d in diagnostics if d.code == "GW201"] == []
