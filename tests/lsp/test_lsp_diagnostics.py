"""Diagnostics: published on open, change and save, versioned, exact positions, cleared on close."""

from __future__ import annotations

import asyncio

import pytest
from gradwatch.checker import check_source
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import (
    GW101_LINE,
    GW101_SOURCE,
    GW201_LINE,
    GW201_SOURCE,
    GW203_LINE,
    GW203_SOURCE,
    SYNTAX_ERROR_SOURCE,
    change_text,
    codes,
    open_document,
    replace_all,
    start_session,
    until,
    utf16_length,
    wait_for_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_syntax_error_is_published_with_its_metadata(client: LanguageClient, project):
    uri = open_document(client, project / "broken.py", SYNTAX_ERROR_SOURCE, version=7)
    diagnostics = await wait_for_diagnostics(client, uri, version=7)
    assert codes(diagnostics) == ["GW001"]
    (diagnostic,) = diagnostics
    assert diagnostic.source == "gradwatch"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.range.start.line == 1
    assert diagnostic.code_description.href == "https://gradwatch.readthedocs.io/en/latest/rules/#gw001"
    assert not diagnostic.tags


@pytest.mark.parametrize(
    "source, code, line, severity",
    [
        (GW101_SOURCE, "GW101", GW101_LINE, types.DiagnosticSeverity.Error),
        (GW201_SOURCE, "GW201", GW201_LINE, types.DiagnosticSeverity.Error),
        (GW203_SOURCE, "GW203", GW203_LINE, types.DiagnosticSeverity.Hint),
    ],
    ids=["GW101", "GW201", "GW203"],
)
async def test_rule_examples_are_flagged(client: LanguageClient, project, source, code, line, severity):
    uri = open_document(client, project / "example.py", source)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    flagged = [d for d in diagnostics if d.code == code]
    assert flagged, f"expected {code}, got {codes(diagnostics)}"
    assert flagged[0].range.start.line == line
    assert flagged[0].severity == severity
    assert flagged[0].code_description.href.endswith(f"#{code.lower()}")


async def test_related_information_points_at_the_cause(client: LanguageClient, project):
    uri = open_document(client, project / "cut.py", GW101_SOURCE)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    (finding,) = [d for d in diagnostics if d.code == "GW101"]
    assert finding.related_information, "GW101 should cite the line that cut the graph"
    lines = {info.location.range.start.line for info in finding.related_information}
    assert 2 in lines  # y = x.detach()
    assert all(info.location.uri == uri for info in finding.related_information)


async def test_change_republishes_and_close_clears(client: LanguageClient, project):
    uri = open_document(client, project / "edit.py", "x = 1\n")
    assert await wait_for_diagnostics(client, uri, version=1) == []
    replace_all(client, uri, "x = 1\n", SYNTAX_ERROR_SOURCE, version=2)
    assert codes(await wait_for_diagnostics(client, uri, version=2)) == ["GW001"]
    replace_all(client, uri, SYNTAX_ERROR_SOURCE, "x = 2\n", version=3)
    assert await wait_for_diagnostics(client, uri, version=3) == []

    replace_all(client, uri, "x = 2\n", SYNTAX_ERROR_SOURCE, version=4)
    assert codes(await wait_for_diagnostics(client, uri, version=4)) == ["GW001"]
    count = len(client.published)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert await wait_for_diagnostics(client, uri, after=count) == []


async def test_positions_are_utf16_after_emoji_and_cjk(client: LanguageClient, project):
    # Each 😀 is two UTF-16 code units but one character; 张量 are one unit each.
    source = 's = "😀😀张量" + )\n'
    uri = open_document(client, project / "unicode.py", source)
    (diagnostic,) = await wait_for_diagnostics(client, uri, version=1)
    (finding,) = check_source(source).findings
    assert finding.span.column > source.index("量")  # the error sits after the wide characters
    assert diagnostic.range.start.line == 0
    assert diagnostic.range.start.character == utf16_length(source[: finding.span.column])
    assert diagnostic.range.start.character == finding.span.column + 2


async def test_rule_positions_are_utf16_after_emoji_and_cjk(client: LanguageClient, project):
    source = GW101_SOURCE.replace("y.sum().backward()", 'note = "😀张"; y.sum().backward()')
    uri = open_document(client, project / "unicode_rule.py", source)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    (finding,) = [d for d in diagnostics if d.code == "GW101"]
    line = source.split("\n")[GW101_LINE]
    assert finding.range.start.line == GW101_LINE
    # The hazard starts at `y.sum()` (or later on the line), never before it, counted in UTF-16.
    assert finding.range.start.character >= utf16_length(line[: line.index("y.sum")])
    assert finding.range.end.character <= utf16_length(line)


async def test_rapid_edits_end_with_diagnostics_of_the_last_text(client: LanguageClient, project):
    uri = open_document(client, project / "typing.py", "")
    await wait_for_diagnostics(client, uri, version=1)
    text = ""
    # Typing a broken line one character at a time, then its last character fixes it.
    target = "x = (1, 2\n"
    for version, char in enumerate(target, start=2):
        end = types.Position(line=text.count("\n"), character=len(text.split("\n")[-1]))
        change_text(client, uri, types.Range(start=end, end=end), char, version)
        text += char
    last = 1 + len(target)
    diagnostics = await wait_for_diagnostics(client, uri, version=last)
    assert codes(diagnostics) == ["GW001"]
    fix_version = last + 1
    position = types.Position(line=0, character=len("x = (1, 2"))
    change_text(client, uri, types.Range(start=position, end=position), ")", fix_version)
    assert await wait_for_diagnostics(client, uri, version=fix_version) == []
    # Nothing older arrives after the newest version.
    published = [p for p in client.published if p.uri == uri]
    assert max(p.version for p in published) == published[-1].version == fix_version


async def test_save_analyses_in_on_save_mode(bare_client: LanguageClient, folder):
    client = bare_client
    await start_session(client, [folder], {"run": "onSave", "debounce": 0})
    uri = open_document(client, folder / "saved.py", "x = 1\n")
    assert await wait_for_diagnostics(client, uri, version=1) == []
    replace_all(client, uri, "x = 1\n", SYNTAX_ERROR_SOURCE, version=2)
    await asyncio.sleep(0.3)
    assert [p for p in client.published if p.version == 2] == []  # typing alone does not analyse
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert codes(await wait_for_diagnostics(client, uri, version=2)) == ["GW001"]


async def test_default_debounce_waits_for_typing_to_pause(bare_client: LanguageClient, folder):
    client = bare_client
    await start_session(client, [folder], {})  # the default: 150 ms
    uri = open_document(client, folder / "pause.py", "x = 1\n")
    await wait_for_diagnostics(client, uri, version=1)
    for version in range(2, 6):  # 4 quick edits, 20 ms apart: one analysis, of the last
        position = types.Position(line=1, character=0)
        change_text(client, uri, types.Range(start=position, end=position), "#", version)
        await asyncio.sleep(0.02)
    await wait_for_diagnostics(client, uri, version=5)
    edited_versions = [p.version for p in client.published if p.uri == uri and p.version > 1]
    assert edited_versions == [5]


async def test_pull_diagnostics_answer_for_the_current_text(pull_client: LanguageClient):
    client, project = pull_client, pull_client.project
    uri = open_document(client, project / "pulled.py", SYNTAX_ERROR_SOURCE)
    report = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert codes(report.items) == ["GW001"]
    replace_all(client, uri, SYNTAX_ERROR_SOURCE, "x = 1\n", version=2)
    report = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert list(report.items) == []
    # A client that pulls is not also pushed to (it would show everything twice).
    assert [p for p in client.published if p.uri == uri] == []


async def test_cause_in_another_file_is_related_information(client: LanguageClient, project):
    """A helper module in the workspace modifies its argument in place: the diagnostic lands at
    the call, and its related information points into the helper's file."""
    (project / "helpers_inplace.py").write_text("def normalize_(x):\n    x.sub_(x.mean())\n    return x\n")
    source = (
        "import torch\n"
        "from helpers_inplace import normalize_\n"
        "\n"
        "def step():\n"
        "    x = torch.randn(3, requires_grad=True)\n"
        "    h = x.sigmoid()\n"
        "    normalize_(h)\n"
        "    h.sum().backward()\n"
    )
    uri = open_document(client, project / "uses_helper.py", source)
    # The local analysis is published first; the one that followed the import comes next.
    params = await until(
        lambda: next((p for p in reversed(client.published) if p.uri == uri and "GW201" in codes(p.diagnostics)), None),
        what="GW201 from the cross-module analysis",
    )
    flagged = [d for d in params.diagnostics if d.code == "GW201"]
    assert flagged[0].range.start.line == 6
    elsewhere = [r for r in flagged[0].related_information or [] if r.location.uri.endswith("helpers_inplace.py")]
    assert elsewhere and elsewhere[0].location.range.start.line == 1
