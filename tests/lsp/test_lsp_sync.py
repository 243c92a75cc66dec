"""Document sync: the server's copy of a document stays the editor's, edit after edit.

LSP ends lines only at \\n, \\r\\n and \\r; the editor's copy is modelled here
independently of the server (`EditorCopy`), and every publication is compared
with a fresh `check_source` of the text it claims to be for.
"""

from __future__ import annotations

import asyncio
import os
import random
import re

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import (
    GW201_SOURCE,
    change_text,
    close_document,
    diagnostic_keys,
    fresh_diagnostic_keys,
    open_document,
    until,
    wait_for_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The long run (issue 12 asks for 10,000): GRADWATCH_EDITS=10000 pytest tests/lsp/test_lsp_sync.py
EDITS = int(os.environ.get("GRADWATCH_EDITS", "200"))

# Characters str.splitlines breaks at but LSP does not.
NOT_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


class EditorCopy:
    """The document as an LSP client keeps it: lines end at \\n, \\r\\n or \\r; columns in UTF-16."""

    _BREAK = re.compile(r"\r\n|\r|\n")

    def __init__(self, text: str) -> None:
        self.text = text

    def line_starts(self) -> list[int]:
        return [0] + [match.end() for match in self._BREAK.finditer(self.text)]

    def line(self, number: int) -> str:
        starts = self.line_starts()
        end = starts[number + 1] if number + 1 < len(starts) else len(self.text)
        return self._BREAK.sub("", self.text[starts[number] : end])

    def position(self, offset: int) -> types.Position:
        starts = self.line_starts()
        number = max(i for i, start in enumerate(starts) if start <= offset)
        prefix = self.text[starts[number] : offset]
        return types.Position(line=number, character=len(prefix.encode("utf-16-le")) // 2)

    def random_offset(self, rng: random.Random) -> int:
        """An offset on a character boundary that is not inside a \\r\\n pair."""
        starts = self.line_starts()
        number = rng.randrange(len(starts))
        return starts[number] + rng.randint(0, len(self.line(number)))

    def replace(self, start: int, end: int, new_text: str) -> types.Range:
        edit_range = types.Range(start=self.position(start), end=self.position(end))
        self.text = self.text[:start] + new_text + self.text[end:]
        return edit_range


async def test_edits_after_characters_that_are_not_lsp_line_breaks(client: LanguageClient, project):
    text = f"import torch\n# page{NOT_LINE_BREAKS}break\nx = 1\ny = 2\n"
    editor = EditorCopy(text)
    uri = open_document(client, project / "separators.py", text)
    await wait_for_diagnostics(client, uri, version=1)
    # LSP line 2 is `x = 1`: breaking it there must put the syntax error on line 2, not elsewhere.
    start = editor.text.index("x = 1")
    change_text(client, uri, editor.replace(start, start + len("x = 1"), "x = ("), "x = (", version=2)
    assert (2, 4) in {(d[2], d[3]) for d in fresh_diagnostic_keys(editor.text)}
    assert diagnostic_keys(await wait_for_diagnostics(client, uri, version=2)) == fresh_diagnostic_keys(editor.text)
    # And back: the server's copy is the editor's again, so the error is gone.
    start = editor.text.index("x = (")
    change_text(client, uri, editor.replace(start, start + len("x = ("), "x = 1"), "x = 1", version=3)
    assert await wait_for_diagnostics(client, uri, version=3) == []


SNIPPETS = [
    "y.add_(1)\n",
    "y = x.sigmoid()\n",
    "y.sum().backward()\n",
    "x = torch.randn(3, requires_grad=True)\n",
    "z = x.detach()\nz.sum().backward()\n",
    "😀",
    "张量",
    "é",
    "# note \u2028 still one line\n",
    "\u2028",
    "\x0c",
    "\x85",
    "x = (",
    ")",
    "\n",
    "    ",
    "",
]


async def test_random_edits_and_reopens_publish_what_a_fresh_check_finds(client: LanguageClient, project):
    rng = random.Random(20_240_612)
    text = GW201_SOURCE + "s = '张量😀'  # \u2028 \x0c\n"
    uri = open_document(client, project / "random_edits.py", text)
    editor = EditorCopy(text)
    # The text of every version, per open of the document.
    opens: list[dict[int, str]] = [{1: text}]
    version = 1
    for step in range(1, EDITS + 1):
        if step % 50 == 0:
            # Close and open again (versions start over): wait for the last one first, so
            # the close clears something and marks where the next open's publications begin.
            await wait_in_open(client, uri, len(opens) - 1, version)
            close_document(client, uri)
            version = 1
            open_document(client, project / "random_edits.py", editor.text, version=version)
            opens.append({version: editor.text})
            continue
        start = editor.random_offset(rng)
        end = min(len(editor.text), start + rng.choice([0, 0, 1, 2, 5, 20]))
        end = editor.random_offset(rng) if rng.random() < 0.1 else end
        start, end = min(start, end), max(start, end)
        version += 1
        snippet = rng.choice(SNIPPETS)
        change_text(client, uri, editor.replace(start, end, snippet), snippet, version)
        opens[-1][version] = editor.text
        if rng.random() < 0.3:
            await asyncio.sleep(rng.uniform(0, 0.04))  # let some analyses finish between edits

    final = await wait_in_open(client, uri, len(opens) - 1, version)
    assert diagnostic_keys(final) == fresh_diagnostic_keys(editor.text)
    await asyncio.sleep(0.3)  # anything stale would arrive now
    mine = [p for p in client.published if p.uri == uri]
    assert mine[-1].version == version
    # Every publication matches a fresh check of the text of its open and version.
    epoch = 0
    for params in mine:
        if params.version is None:  # the close's clear: the next open begins
            assert not params.diagnostics
            epoch += 1
            continue
        assert params.version in opens[epoch], f"open {epoch} never had version {params.version}"
        assert diagnostic_keys(params.diagnostics) == fresh_diagnostic_keys(opens[epoch][params.version]), (
            f"open {epoch}, version {params.version}"
        )
    assert epoch == len(opens) - 1


async def wait_in_open(client: LanguageClient, uri: str, open_index: int, version: int) -> list[types.Diagnostic]:
    """The diagnostics published for `version` during the `open_index`-th open (0: the first)."""

    def found():
        clears = [i for i, p in enumerate(client.published) if p.uri == uri and p.version is None]
        if len(clears) < open_index:
            return None  # the previous open's clear has not arrived yet
        after = clears[open_index - 1] + 1 if open_index else 0
        return next((p for p in client.published[after:] if p.uri == uri and p.version == version), None)

    return list((await until(found, what=f"version {version} of open {open_index}")).diagnostics)
