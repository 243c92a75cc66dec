"""Inlay hints: the proved shape after each assigned tensor name, from the current analysis only."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from gradwatch.lsp.inlay_hints import label
from gradwatch.lsp.settings import EditorSettings, parse_editor_settings
from lsp_helpers import (
    TEST_DEBOUNCE_MS,
    WAIT_SECONDS,
    capabilities,
    open_document,
    replace_all,
    start_session,
    until,
    wait_for_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = """import torch
x = torch.randn(4, 5, requires_grad=True)
w = torch.randn(5, 3)
y = x @ w
z: torch.Tensor = x @ w
loss = y.sum()
print(y, loss)
"""
# (line, character) of the hint, just after the name, and its label: not on `z` (annotated) nor on any use.
EXPECTED = [((1, 1), ": (4, 5)"), ((2, 1), ": (5, 3)"), ((3, 1), ": (4, 3)"), ((5, 4), ": ()")]

EDITED = SOURCE.replace("torch.randn(5, 3)", "torch.randn(5, 7)")
EXPECTED_EDITED = [((1, 1), ": (4, 5)"), ((2, 1), ": (5, 7)"), ((3, 1), ": (4, 7)"), ((5, 4), ": ()")]

WHOLE = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=100, character=0))


async def hints(client: LanguageClient, uri: str, range: types.Range = WHOLE) -> list[types.InlayHint] | None:
    return await client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=types.TextDocumentIdentifier(uri=uri), range=range)
    )


def shown(found: list[types.InlayHint] | None) -> list[tuple]:
    return [((hint.position.line, hint.position.character), hint.label) for hint in found or []]


async def until_hints(client: LanguageClient, uri: str, expected: list[tuple]) -> None:
    """Ask until the hints are `expected` (a configuration change reaches the server asynchronously)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (got := shown(await hints(client, uri))) != expected:
        assert time.monotonic() < deadline, f"hints stayed {got}, expected {expected}"
        await asyncio.sleep(0.02)


def lines(first: int, last: int) -> types.Range:
    return types.Range(start=types.Position(line=first, character=0), end=types.Position(line=last, character=0))


async def test_label_format():
    assert label((4, 3)) == ": (4, 3)"
    assert label((None, 16)) == ": (?, 16)"
    assert label((5,)) == ": (5,)"
    assert label(()) == ": ()"


async def test_the_setting_is_read_nested_or_dotted_and_checked():
    assert parse_editor_settings({}, "editor") == (EditorSettings(inlay_hint_shapes=True), [])
    assert parse_editor_settings({"inlayHints": {"shapes": False}}, "editor")[0].inlay_hint_shapes is False
    assert parse_editor_settings({"inlayHints.shapes": False}, "editor")[0].inlay_hint_shapes is False
    settings, problems = parse_editor_settings({"inlayHints": {"shapes": "no"}, "debounce": 10}, "editor")
    assert settings.inlay_hint_shapes is True and settings.debounce_ms == 10
    assert problems == ["editor: inlayHints.shapes must be true or false, got 'no'"]
    settings, problems = parse_editor_settings({"inlayHints": False}, "editor")
    assert settings.inlay_hint_shapes is True
    assert problems == ["editor: inlayHints must be an object, got False"]


async def test_hints_show_assigned_shapes(client: LanguageClient, project):
    uri = open_document(client, project / "shapes.py", SOURCE)
    # Asked at once: the answer waits for the analysis of this text instead of answering from nothing.
    found = await hints(client, uri)
    assert shown(found) == EXPECTED
    hint = found[0]
    assert hint.kind == types.InlayHintKind.Type
    assert "Tensor of shape (4, 5)" in hint.tooltip.value  # the hover's own description


async def test_hints_only_in_the_requested_range(client: LanguageClient, project):
    uri = open_document(client, project / "ranged.py", SOURCE)
    await wait_for_diagnostics(client, uri, version=1)
    assert shown(await hints(client, uri, lines(2, 4))) == EXPECTED[1:3]  # lines 2 and 3
    assert shown(await hints(client, uri, lines(6, 7))) == []


async def test_hints_follow_an_edit(client: LanguageClient, project):
    uri = open_document(client, project / "edited.py", SOURCE)
    assert shown(await hints(client, uri)) == EXPECTED
    replace_all(client, uri, SOURCE, EDITED, version=2)
    # Asked right after the change: never the hints of version 1.
    assert shown(await hints(client, uri)) == EXPECTED_EDITED
    await wait_for_diagnostics(client, uri, version=2)
    assert shown(await hints(client, uri)) == EXPECTED_EDITED


async def test_no_hints_for_unknown_or_non_python_documents(client: LanguageClient, project):
    assert await hints(client, (project / "never_opened.py").as_uri()) is None
    uri = (project / "notes.md").as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=SOURCE)
        )
    )
    assert await hints(client, uri) is None


async def test_setting_turns_hints_off_and_on(bare_client: LanguageClient, folder):
    await start_session(bare_client, [folder], {"debounce": TEST_DEBOUNCE_MS, "inlayHints": {"shapes": False}})
    uri = open_document(bare_client, folder / "off.py", SOURCE)
    await wait_for_diagnostics(bare_client, uri, version=1)
    assert shown(await hints(bare_client, uri)) == []

    bare_client.set_configuration({"inlayHints": {"shapes": True}}, section="gradwatch")
    bare_client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await until_hints(bare_client, uri, EXPECTED)

    bare_client.set_configuration({"inlayHints": {"shapes": False}}, section="gradwatch")
    bare_client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await until_hints(bare_client, uri, [])


async def test_run_on_save_defers_hints_and_refreshes_after_the_save(bare_client: LanguageClient, folder):
    refreshes: list[None] = []

    @bare_client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def refresh(params: None) -> None:
        refreshes.append(params)

    client_capabilities = capabilities()
    client_capabilities.workspace.inlay_hint = types.InlayHintWorkspaceClientCapabilities(refresh_support=True)
    await bare_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities,
            root_uri=folder.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)],
            initialization_options={"debounce": TEST_DEBOUNCE_MS, "run": "onSave"},
        )
    )
    path = folder / "saved.py"
    path.write_text(SOURCE)
    uri = open_document(bare_client, path, SOURCE)
    assert shown(await hints(bare_client, uri)) == EXPECTED  # opening analyses

    replace_all(bare_client, uri, SOURCE, EDITED, version=2)
    # The edit is analysed on save: until then there are no hints (those of version 1 would be stale).
    assert await hints(bare_client, uri) is None
    before = len(refreshes)
    path.write_text(EDITED)
    bare_client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await until(lambda: len(refreshes) > before, what="workspace/inlayHint/refresh after the save")
    assert shown(await hints(bare_client, uri)) == EXPECTED_EDITED
