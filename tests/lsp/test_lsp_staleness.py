"""Results belong to one text: a reopened document, a reused version number or an edit during
a long analysis never gets the old text's diagnostics, actions or hover, and stale work stops."""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest
from gradwatch.checker import check_source
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import (
    GW101_SOURCE,
    GW201_SOURCE,
    close_document,
    codes,
    diagnostic_keys,
    fresh_diagnostic_keys,
    open_document,
    replace_all,
    start_session,
    until,
    wait_for_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_reopening_during_a_long_analysis_publishes_only_the_new_text(client: LanguageClient, project):
    # A long file whose finding sits at its end, far below the 4 lines it is reopened with.
    slow = slow_to_analyse(60)
    big = slow + GW201_SOURCE
    started = time.monotonic()
    assert any(f.code == "GW201" and f.span.line > slow.count("\n") for f in check_source(big).findings)
    analysis_seconds = time.monotonic() - started
    path = project / "reopened.py"
    uri = open_document(client, path, big)  # version 1
    await asyncio.sleep(0.2)  # its analysis is under way
    close_document(client, uri)
    count = len(client.published)
    open_document(client, path, GW101_SOURCE)  # version 1 again, another text
    expected = fresh_diagnostic_keys(GW101_SOURCE)
    assert diagnostic_keys(await wait_for_diagnostics(client, uri, version=1, after=count)) == expected
    await asyncio.sleep(2 * analysis_seconds + 1)  # long enough for the old analysis to have ended
    for params in client.published[count:]:
        if params.uri == uri and params.version == 1:
            assert diagnostic_keys(params.diagnostics) == expected


async def code_actions(client: LanguageClient, uri: str, range: types.Range):
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=range,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )


async def test_a_reused_version_number_does_not_answer_for_the_old_text(bare_client: LanguageClient, folder):
    client = bare_client
    await start_session(client, [folder], {"run": "onSave", "debounce": 0})
    uri = open_document(client, folder / "reused.py", GW201_SOURCE)
    (finding,) = [d for d in await wait_for_diagnostics(client, uri, version=1) if d.code == "GW201"]
    assert await code_actions(client, uri, finding.range)
    # A client that sends the same version number for a different text.
    replace_all(client, uri, GW201_SOURCE, "x = 1\n", version=1)
    assert not await code_actions(client, uri, finding.range)
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=finding.range.start)
    )
    assert hover is None
    count = len(client.published)
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert await wait_for_diagnostics(client, uri, version=1, after=count) == []


LOOPING_FUNCTION = """

def train_{n}(model, data, optimizer):
    x = torch.randn(3, requires_grad=True)
    for epoch in range(3):
        for batch in data:
            for step in range(2):
                h = x.sigmoid() * w
                h = h.relu() + x
                y = F.mse_loss(h, batch)
                y.backward()
                optimizer.step()
"""


def slow_to_analyse(functions: int) -> str:
    """Nested loops run to a fixpoint: quick to parse, tens of milliseconds to analyse each."""
    header = "import torch\nimport torch.nn.functional as F\nw = torch.randn(3)\n"
    return header + "".join(LOOPING_FUNCTION.format(n=n) for n in range(functions))


async def test_an_edit_stops_the_analysis_of_the_previous_text(client: LanguageClient, project):
    big = slow_to_analyse(300)  # seconds of analysis
    started = time.monotonic()
    ast.parse(big)
    parse_seconds = time.monotonic() - started
    uri = open_document(client, project / "long.py", big)
    # Parsing cannot stop halfway; the analysis of each function after it can. The edit comes
    # once the server has parsed (the analysis stops at its step budget after about a second).
    await asyncio.sleep(2 * parse_seconds + 0.15)
    replace_all(client, uri, big, GW101_SOURCE, version=2)
    started = time.monotonic()
    diagnostics = await wait_for_diagnostics(client, uri, version=2)
    waited = time.monotonic() - started
    assert codes(diagnostics) == ["GW101"]
    assert waited < 1.5, f"version 2 waited {waited:.1f}s for the analysis of version 1"
    assert all(p.version == 2 for p in client.published if p.uri == uri)  # version 1 was abandoned


HAZARD_IN_A_HELPER = """import torch
from helpers_inplace import normalize_

def step():
    x = torch.randn(3, requires_grad=True)
    h = x.sigmoid()
    normalize_(h)
    h.sum().backward()
"""

CALLS_A_HELPER = """

def train_step_{n}(model, batch, optimizer):
    optimizer.zero_grad()
    x = torch.randn(3, requires_grad=True)
    h = normalize_(x.sigmoid())
    loss = F.mse_loss(model(batch["x"]) + h.sum(), batch["y"])
    loss.backward()
    optimizer.step()
"""


def calls_into_another_file(functions: int) -> str:
    """A module whose every function calls a helper of another file: one jedi look-up each."""
    header = "import torch\nimport torch.nn.functional as F\nfrom helpers_inplace import normalize_\n"
    return header + "".join(CALLS_A_HELPER.format(n=n) for n in range(functions))


async def test_an_edit_does_not_wait_for_the_cross_module_pass_of_the_previous_text(
    client: LanguageClient, project: Path
):
    (project / "helpers_inplace.py").write_text("def normalize_(x):\n    x.sub_(x.mean())\n    return x\n")
    # Warm jedi up on a small file first (its hazard is found only by following the call), so
    # that the big file's cross-module pass below is well under way when the edit comes.
    warm = open_document(client, project / "warm.py", HAZARD_IN_A_HELPER)
    await until(
        lambda: any(p.uri == warm and "GW201" in codes(p.diagnostics) for p in client.published),
        what="the cross-module pass",
    )
    big = calls_into_another_file(1_000)  # a thousand jedi look-ups: many seconds
    uri = open_document(client, project / "calls.py", big)
    await wait_for_diagnostics(client, uri, version=1)  # what the file proves on its own
    await asyncio.sleep(3.0)  # the cross-module pass is past its first (longest) jedi look-up
    replace_all(client, uri, big, GW101_SOURCE, version=2)
    started = time.monotonic()
    diagnostics = await wait_for_diagnostics(client, uri, version=2)
    waited = time.monotonic() - started
    assert codes(diagnostics) == ["GW101"]
    assert waited < 4.0, f"version 2 waited {waited:.1f}s for the cross-module pass of version 1"
