"""Open documents, kept the way the editor keeps them.

LSP ends a line only at \\n, \\r\\n or \\r. pygls splits its copy with
`str.splitlines`, which also breaks at \\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028 and
\\u2029: after one of those every incremental edit lands a line off and the
server's text drifts from the editor's. Here positions are resolved against
LSP's lines, the way vscode-languageserver-textdocument (the reference client
library) does: a line past the end means the end of the text, a character past
the end of a line means the end of that line's content, and a range given end
first is swapped.
"""

from __future__ import annotations

import re

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_BLOCK = 1 << 16


def lines_with_endings(text: str) -> list[str]:
    """LSP's lines of `text`, each with its line ending."""
    return _LINE.findall(text)


def offset_at(text: str, position: types.Position, encoding: str) -> int:
    """Index into `text` of an LSP position, clamped into the text as LSP clients do."""
    start = _line_start(text, position.line)
    if start is None:
        return len(text)  # past the last line
    end = _LINE_END.search(text, start)
    content = text[start : end.start() if end is not None else len(text)]
    return start + _characters(content, position.character, encoding)


def _line_start(text: str, line: int) -> int | None:
    """Where LSP line `line` (0-based) starts; None past the last line."""
    if line <= 0:
        return 0
    if "\r" in text:
        for number, match in enumerate(_LINE_END.finditer(text), 1):
            if number == line:
                return match.end()
        return None
    # Only \n: skip whole blocks of lines with str.count (an edit at the end of a
    # 5 MB file costs milliseconds, not a Python loop over every line).
    block_start, remaining = 0, line
    while True:
        block_end = block_start + _BLOCK
        found = text.count("\n", block_start, block_end)
        if found >= remaining or block_end >= len(text):
            break
        remaining -= found
        block_start = block_end
    position = block_start - 1
    for _ in range(remaining):
        position = text.find("\n", position + 1)
        if position < 0:
            return None
    return position + 1


def _characters(line: str, units: int, encoding: str) -> int:
    """How many characters of `line` the first `units` code units cover (a split character counts whole)."""
    if encoding == types.PositionEncodingKind.Utf32 or line.isascii():
        return min(units, len(line))
    covered = 0
    for index, char in enumerate(line):
        if covered >= units:
            return index
        covered += _units(char, encoding)
    return len(line)


def _units(char: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf8:
        # surrogatepass: a lone surrogate (valid in a JSON string) still has a length.
        return len(char.encode("utf-8", "surrogatepass"))
    return 2 if ord(char) > 0xFFFF else 1


class LspTextDocument(TextDocument):
    """pygls's document with LSP's line rules for incremental changes and `lines`."""

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(lines_with_endings(self.source))

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        source = self.source
        encoding = self.position_codec.encoding or types.PositionEncodingKind.Utf16
        start = offset_at(source, change.range.start, encoding)
        end = offset_at(source, change.range.end, encoding)
        start, end = min(start, end), max(start, end)
        self._source = source[:start] + change.text + source[end:]


class LspWorkspace(Workspace):
    """pygls's workspace, whose text documents (files and notebook cells) follow LSP's line rules."""

    @classmethod
    def replacing(cls, workspace: Workspace, sync_kind: types.TextDocumentSyncKind) -> LspWorkspace:
        """The same (still empty) workspace: it is made at `initialize`, before any document opens."""
        return cls(workspace.root_uri, sync_kind, list(workspace.folders.values()), workspace.position_encoding)

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self.position_codec,
        )
