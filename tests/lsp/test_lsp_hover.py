"""Hover: the rule's explanation on a flagged span, a tensor's state on its name, nothing elsewhere."""

from __future__ import annotations

import pytest
from gradwatch.checker import check_source
from gradwatch.rules import rule_by_code
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import GW101_LINE, GW101_SOURCE, SYNTAX_ERROR_SOURCE, open_document, utf16_length, wait_for_diagnostics

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def hover_at(client: LanguageClient, uri: str, line: int, character: int) -> types.Hover | None:
    return await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
    )


async def test_hover_on_a_hazard_explains_it(client: LanguageClient, project):
    uri = open_document(client, project / "cut.py", GW101_SOURCE)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    (finding,) = [d for d in diagnostics if d.code == "GW101"]
    hover = await hover_at(client, uri, finding.range.start.line, finding.range.start.character)
    assert hover is not None and hover.contents.kind == types.MarkupKind.Markdown
    text = hover.contents.value
    assert finding.message in text
    assert "GW101" in text
    # torch's own words, from the rule's explanation
    assert "does not require grad and does not have a grad_fn" in text
    assert rule_by_code("GW101").explanation.strip() in text
    # the causal chain links to the line that cut the graph
    assert f"[line 3]({uri}#L3)" in text
    assert "https://gradwatch.readthedocs.io/en/latest/rules/#gw101" in text
    assert hover.range.start.line == GW101_LINE


async def test_hover_on_a_syntax_error(client: LanguageClient, project):
    uri = open_document(client, project / "broken.py", SYNTAX_ERROR_SOURCE)
    (diagnostic,) = await wait_for_diagnostics(client, uri, version=1)
    hover = await hover_at(client, uri, diagnostic.range.start.line, diagnostic.range.start.character)
    assert hover is not None
    assert diagnostic.message in hover.contents.value
    assert "#gw001" in hover.contents.value


async def test_hover_on_a_tensor_name_shows_its_state(client: LanguageClient, project):
    source = GW101_SOURCE
    uri = open_document(client, project / "names.py", source)
    await wait_for_diagnostics(client, uri, version=1)
    names = check_source(source).names
    assert names, "the engine describes the tensor names of this program"
    name = names[0]
    line_text = source.split("\n")[name.span.line - 1]
    hover = await hover_at(client, uri, name.span.line - 1, utf16_length(line_text[: name.span.column]))
    assert hover is not None
    assert name.description in hover.contents.value
    assert f"`{name.name}`" in hover.contents.value


async def test_hover_elsewhere_is_null(client: LanguageClient, project):
    uri = open_document(client, project / "plain.py", "import os\n\n\nvalue = 1\n")
    await wait_for_diagnostics(client, uri, version=1)
    assert await hover_at(client, uri, 0, 2) is None
    assert await hover_at(client, uri, 1, 0) is None
