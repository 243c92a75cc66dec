"""Notebooks: code cells analysed together in order; results land in the cell they belong to."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import codes, edits_for, wait_for_diagnostics

pytestmark = pytest.mark.asyncio(loop_scope="module")


def notebook_uri(project: Path) -> str:
    return (project / "train.ipynb").as_uri()


def open_notebook(client: LanguageClient, project: Path, cells: list[tuple[types.NotebookCellKind, str]]) -> list[str]:
    """Opens `project/train.ipynb`; returns the cell URIs (VS Code's scheme: the notebook path plus a fragment)."""
    path = (project / "train.ipynb").as_posix()
    uris = [f"vscode-notebook-cell:{path}#cell{index}" for index in range(len(cells))]
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=notebook_uri(project),
                notebook_type="jupyter-notebook",
                version=1,
                cells=[types.NotebookCell(kind=kind, document=uri) for (kind, _), uri in zip(cells, uris)],
            ),
            cell_text_documents=[
                types.TextDocumentItem(
                    uri=uri,
                    language_id="python" if kind == types.NotebookCellKind.Code else "markdown",
                    version=1,
                    text=text,
                )
                for (kind, text), uri in zip(cells, uris)
            ],
        )
    )
    return uris


CODE = types.NotebookCellKind.Code
MARKUP = types.NotebookCellKind.Markup


async def test_hazard_across_cells_lands_in_the_cell_that_backpropagates(client: LanguageClient, project: Path):
    uris = open_notebook(
        client,
        project,
        [
            (CODE, "import torch\nx = torch.randn(3, requires_grad=True)\ny = x.detach()\n"),
            (MARKUP, "# Training\nNow we *train*."),
            (CODE, "%matplotlib inline\nloss = y.sum()\nloss.backward()\n"),
        ],
    )
    cell_two = await wait_for_diagnostics(client, uris[2], version=1)
    assert "GW101" in codes(cell_two)
    (finding,) = [d for d in cell_two if d.code == "GW101"]
    assert finding.range.start.line == 2  # loss.backward(), counted within cell 2
    assert await wait_for_diagnostics(client, uris[0], version=1) == []
    assert uris[1] not in client.diagnostics  # markdown is not Python
    related = {(info.location.uri, info.location.range.start.line) for info in finding.related_information or []}
    assert (uris[0], 2) in related  # the .detach() in cell 1


async def test_syntax_error_lands_in_its_cell_and_magics_are_not_errors(client: LanguageClient, project: Path):
    uris = open_notebook(
        client,
        project,
        [
            (CODE, "%%bash\necho this is not python (\n"),
            (CODE, "import torch\n!pip install something\nfor i in range(2):\n    %time print(i)\ntorch.randn?\nfiles = !ls\n"),
            (CODE, "x = 1\n\ndef broken(:\n    pass\n"),
        ],
    )
    broken = await wait_for_diagnostics(client, uris[2], version=1)
    assert codes(broken) == ["GW001"]
    assert broken[0].range.start.line == 2
    assert await wait_for_diagnostics(client, uris[0], version=1) == []
    assert await wait_for_diagnostics(client, uris[1], version=1) == []


async def test_cell_edit_republishes_and_removed_cell_is_cleared(client: LanguageClient, project: Path):
    uris = open_notebook(client, project, [(CODE, "x = 1\n"), (CODE, "def broken(:\n    pass\n")])
    assert codes(await wait_for_diagnostics(client, uris[1], version=1)) == ["GW001"]

    # Break cell 0 as well, in version 2 of that cell: `x = 1 +`.
    client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook_uri(project), version=2),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    text_content=[
                        types.NotebookDocumentCellContentChanges(
                            document=types.VersionedTextDocumentIdentifier(uri=uris[0], version=2),
                            changes=[
                                types.TextDocumentContentChangePartial(
                                    range=types.Range(
                                        start=types.Position(line=0, character=5), end=types.Position(line=0, character=5)
                                    ),
                                    text=" +",
                                )
                            ],
                        )
                    ]
                )
            ),
        )
    )
    assert codes(await wait_for_diagnostics(client, uris[0], version=2)) == ["GW001"]

    count = len(client.published)
    client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook_uri(project), version=3),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    structure=types.NotebookDocumentCellChangeStructure(
                        array=types.NotebookCellArrayChange(start=1, delete_count=1, cells=[]),
                        did_close=[types.TextDocumentIdentifier(uri=uris[1])],
                    )
                )
            ),
        )
    )
    assert await wait_for_diagnostics(client, uris[1], after=count) == []

    count = len(client.published)
    client.notebook_document_did_close(
        types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=notebook_uri(project)),
            cell_text_documents=[types.TextDocumentIdentifier(uri=uris[0])],
        )
    )
    assert await wait_for_diagnostics(client, uris[0], after=count) == []


async def test_fix_and_hover_in_a_cell_use_the_cell(client: LanguageClient, project: Path):
    uris = open_notebook(
        client,
        project,
        [
            (CODE, "import torch\nx = torch.randn(3, requires_grad=True)\n"),
            (CODE, "y = x * 2\ny.add_(x)\ny.sum().backward()\n"),
        ],
    )
    diagnostics = await wait_for_diagnostics(client, uris[1], version=1)
    (flagged,) = [d for d in diagnostics if d.code == "GW203"]
    assert flagged.range.start.line == 1
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uris[1]), position=flagged.range.start)
    )
    assert hover is not None and "GW203" in hover.contents.value
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uris[1]),
            range=flagged.range,
            context=types.CodeActionContext(diagnostics=[flagged]),
        )
    )
    fixes = [a for a in actions or [] if a.kind == types.CodeActionKind.QuickFix and not a.title.startswith("Ignore")]
    assert fixes
    edits = edits_for(fixes[0].edit, uris[1])
    assert edits and all(e.range.start.line == 1 for e in edits)
    assert edits_for(fixes[0].edit, uris[0]) == []


async def test_cells_are_pushed_even_to_a_client_that_pulls(pull_client: LanguageClient):
    uris = open_notebook(pull_client, pull_client.project, [(CODE, "x = 1\n"), (CODE, "def broken(:\n    pass\n")])
    assert codes(await wait_for_diagnostics(pull_client, uris[1], version=1)) == ["GW001"]
