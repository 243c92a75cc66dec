"""Code actions: every offered edit, applied, removes its hazard and leaves code that parses and runs."""

from __future__ import annotations

import ast

import pytest
from gradwatch.checker import check_source
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import (
    GW101_SOURCE,
    GW201_SOURCE,
    GW203_SOURCE,
    apply_edits,
    codes,
    edits_for,
    open_document,
    replace_all,
    start_session,
    wait_for_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def actions_for(client: LanguageClient, uri: str, diagnostic: types.Diagnostic, only=None):
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic], only=only),
        )
    )
    return list(result or [])


def run_program(text: str) -> None:
    """Run a fixed example for real: a fix must leave code that torch accepts."""
    exec(compile(text, "<fixed example>", "exec"), {"__name__": "__fixed__"})


@pytest.mark.parametrize(
    "source, code",
    [(GW101_SOURCE, "GW101"), (GW201_SOURCE, "GW201"), (GW203_SOURCE, "GW203")],
    ids=["GW101", "GW201", "GW203"],
)
async def test_every_action_removes_the_hazard(client: LanguageClient, project, source, code):
    uri = open_document(client, project / "example.py", source)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    flagged = [d for d in diagnostics if d.code == code]
    assert flagged, f"expected {code}, got {codes(diagnostics)}"
    actions = await actions_for(client, uri, flagged[0])
    quick_fixes = [a for a in actions if a.kind == types.CodeActionKind.QuickFix]
    titles = [a.title for a in quick_fixes]
    assert f"Ignore {code} on this line" in titles
    for action in quick_fixes:
        assert action.diagnostics and action.diagnostics[0].code == code
        fixed = apply_edits(source, edits_for(action.edit, uri))
        assert fixed != source, action.title
        ast.parse(fixed)  # still Python
        assert code not in codes(check_source(fixed).findings), f"{action.title!r} left {code}:\n{fixed}"
        if not action.title.startswith("Ignore"):
            run_program(fixed)
    safe = [a for a in quick_fixes if not a.title.startswith("Ignore") and "changes behaviour" not in a.title]
    if safe:
        assert safe[0].is_preferred
    assert sum(bool(a.is_preferred) for a in quick_fixes) <= 1


async def test_gw203_fix_rewrites_in_place_add_and_diagnostic_clears(client: LanguageClient, project):
    uri = open_document(client, project / "legal.py", GW203_SOURCE)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    (flagged,) = [d for d in diagnostics if d.code == "GW203"]
    actions = await actions_for(client, uri, flagged)
    fixes = [a for a in actions if not a.title.startswith("Ignore")]
    assert fixes, "GW203 offers a rewrite"
    fixed = apply_edits(GW203_SOURCE, edits_for(fixes[0].edit, uri))
    assert "y = y + x" in fixed
    replace_all(client, uri, GW203_SOURCE, fixed, version=2)
    assert "GW203" not in codes(await wait_for_diagnostics(client, uri, version=2))


async def test_ignore_action_appends_noqa(client: LanguageClient, project):
    source = "import torch\nx = (1, 2\n"
    uri = open_document(client, project / "noqa.py", source)
    (diagnostic,) = await wait_for_diagnostics(client, uri, version=1)
    (action,) = [a for a in await actions_for(client, uri, diagnostic) if a.title == "Ignore GW001 on this line"]
    fixed = apply_edits(source, edits_for(action.edit, uri))
    line = fixed.split("\n")[diagnostic.range.start.line]
    assert line.endswith("  # noqa: GW001")
    assert check_source(fixed).findings == []
    # The edit is tied to the version it was computed for.
    (change,) = action.edit.document_changes
    assert change.text_document.version == 1


async def test_ignore_action_extends_an_existing_noqa_list(client: LanguageClient, project):
    source = "import torch\nx = (1, 2  # noqa: E501\n"
    uri = open_document(client, project / "noqa_list.py", source)
    (diagnostic,) = await wait_for_diagnostics(client, uri, version=1)
    (action,) = [a for a in await actions_for(client, uri, diagnostic) if a.title.startswith("Ignore")]
    fixed = apply_edits(source, edits_for(action.edit, uri))
    assert "# noqa: E501, GW001" in fixed
    assert check_source(fixed).findings == []


async def test_fix_all_applies_every_safe_fix_in_one_edit(client: LanguageClient, project):
    source = GW203_SOURCE + "z = x * 3\nz.add_(x)\nz.sum().backward()\n"
    uri = open_document(client, project / "fix_all.py", source)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    assert codes(diagnostics).count("GW203") == 2
    actions = await actions_for(client, uri, diagnostics[0], only=[types.CodeActionKind.SourceFixAll])
    (fix_all,) = actions
    assert fix_all.kind == "source.fixAll.gradwatch"
    (change,) = fix_all.edit.document_changes
    fixed = apply_edits(source, list(change.edits))
    ast.parse(fixed)
    assert "GW203" not in codes(check_source(fixed).findings)
    assert "y = y + x" in fixed and "z = z + x" in fixed
    run_program(fixed)


async def test_no_actions_for_a_version_not_analysed_yet(bare_client: LanguageClient, folder):
    client = bare_client
    await start_session(client, [folder], {"run": "onSave"})
    source = "import torch\nx = (1, 2\n"
    uri = open_document(client, folder / "stale.py", source)
    (diagnostic,) = await wait_for_diagnostics(client, uri, version=1)
    assert await actions_for(client, uri, diagnostic)
    # Edited, not saved: no analysis of version 2 exists, so no edit computed for version 1 is offered.
    replace_all(client, uri, source, "# a comment\n" + source, version=2)
    assert await actions_for(client, uri, diagnostic) == []


async def test_a_fix_that_fails_verification_is_not_offered(client: LanguageClient, project):
    # The rule proposes `torch.arange(3, requires_grad=True)`: GW103 would go, GW109 (torch
    # raises: integer tensors cannot require grad) would come. Verification rejects it.
    source = (
        "import torch\nx = torch.arange(3)\nw = torch.randn(3, requires_grad=True)\n"
        "loss = (x * w).sum()\ngrads = torch.autograd.grad(loss, [w, x])\n"
    )
    (finding,) = [f for f in check_source(source).findings if f.code == "GW103"]
    assert finding.fixes, "the rule does propose a fix"
    uri = open_document(client, project / "unverified.py", source)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    (flagged,) = [d for d in diagnostics if d.code == "GW103"]
    actions = await actions_for(client, uri, flagged)
    assert [a.title for a in actions if a.kind == types.CodeActionKind.QuickFix] == ["Ignore GW103 on this line"]
    assert not [a for a in actions if a.kind == "source.fixAll.gradwatch"]


async def test_fix_all_keeps_crlf_line_endings(client: LanguageClient, project):
    # Two rewritten lines and one inserted line (`w = w.clone()`), all in a CRLF file.
    source = GW203_SOURCE + "z = x * 3\nz.add_(x)\nw = x.sigmoid()\nw[0] = 1.0\n(z.sum() + w.sum()).backward()\n"
    source = source.replace("\n", "\r\n")
    uri = open_document(client, project / "crlf.py", source)
    diagnostics = await wait_for_diagnostics(client, uri, version=1)
    assert sorted(codes(diagnostics)) == ["GW201", "GW203", "GW203"]
    (fix_all,) = await actions_for(client, uri, diagnostics[0], only=[types.CodeActionKind.SourceFixAll])
    (change,) = fix_all.edit.document_changes
    fixed = apply_edits(source, list(change.edits))
    assert "y = y + x\r\n" in fixed and "z = z + x\r\n" in fixed
    assert "w = w.clone()\r\nw[0] = 1.0\r\n" in fixed
    assert "\n" not in fixed.replace("\r\n", ""), "every line still ends in CRLF"
    run_program(fixed)
    # The quick fix inserts its line with the file's line ending too.
    (gw201,) = [d for d in diagnostics if d.code == "GW201"]
    (clone,) = [a for a in await actions_for(client, uri, gw201) if a.title.startswith("Clone")]
    assert "w = w.clone()\r\nw[0] = 1.0\r\n" in apply_edits(source, edits_for(clone.edit, uri))
