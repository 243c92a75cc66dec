"""Notebooks: the code cells, in order, are one program; IPython syntax is blanked out.

A tensor made in cell 1 and misused in cell 3 is one hazard, so cells are
analysed together. IPython-only lines (`%magic`, `!shell`, `obj?`) are not
Python: they become empty lines (or `pass` where a block needs a statement)
so every other line keeps its number and columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lsprotocol import types

from gradwatch.lsp import convert
from gradwatch.lsp.documents import Segment

NOTEBOOK_TYPES = ("jupyter-notebook", "interactive")

# `files = !ls` / `t = %timeit -o f()`: keep the assignment, drop the IPython part.
_MAGIC_ASSIGNMENT = re.compile(r"^(\s*[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)[%!]")


@dataclass(frozen=True)
class Cell:
    uri: str
    version: int | None
    text: str


def python_lines(cell_text: str) -> list[str]:
    """The cell as the engine should read it: same number of lines, IPython syntax removed."""
    lines = convert.split_lines(cell_text)
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%%"):  # a cell magic makes the whole cell non-Python (%%bash, %%writefile ...)
        return [""] * len(lines)
    return [_python_line(line) for line in lines]


def _python_line(line: str) -> str:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return line
    indent = line[: len(line) - len(line.lstrip())]
    if stripped[0] in "%!?" or (stripped.endswith("?") and _is_help(stripped)):
        # An indented magic may be the only statement of its block.
        return indent + "pass" if indent else ""
    assignment = _MAGIC_ASSIGNMENT.match(line)
    if assignment:
        return assignment.group(1) + "None"
    return line


def _is_help(stripped: str) -> bool:
    # `obj?`, `obj.method??`: an expression followed by question marks, no quotes or comment.
    body = stripped.rstrip("?")
    return bool(body) and re.fullmatch(r"[\w.\[\]()*]+", body) is not None


def notebook_program(cells: list[Cell]) -> tuple[str, tuple[Segment, ...]]:
    """The program text of the code cells and where each cell sits in it."""
    program_lines: list[str] = []
    segments = []
    for cell in cells:
        own_lines = convert.split_lines(cell.text)
        segments.append(Segment(cell.uri, cell.version, len(program_lines) + 1, tuple(own_lines)))
        program_lines.extend(python_lines(cell.text))
    return "\n".join(program_lines), tuple(segments)


def code_cell_uris(notebook: types.NotebookDocument) -> list[str]:
    return [cell.document for cell in notebook.cells if cell.kind == types.NotebookCellKind.Code]


def sync_options() -> types.NotebookDocumentSyncOptions:
    return types.NotebookDocumentSyncOptions(
        notebook_selector=[
            types.NotebookDocumentFilterWithCells(
                notebook=notebook_type,
                cells=[types.NotebookCellLanguage(language="python")],
            )
            for notebook_type in NOTEBOOK_TYPES
        ],
        save=True,
    )
