"""Source text and positions: ast's UTF-8 byte columns become character columns."""

from __future__ import annotations

import ast
import bisect
import io
import itertools

from gradwatch.findings import Span


def split_lines(text: str) -> list[str]:
    """Lines with their endings, broken where Python breaks them (\n, \r\n, \r only)."""
    return io.StringIO(text, newline="").readlines()


class SourceText:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = split_lines(text) or [""]
        self._starts = [0, *itertools.accumulate(map(len, self.lines))]
        # ast's byte columns are character columns on a line of ASCII text: only the lines with
        # another character (1-based numbers; none in most code) need converting.
        self._wide_lines = (
            frozenset() if text.isascii() else frozenset(n for n, line in enumerate(self.lines, 1) if not line.isascii())
        )

    def line(self, number: int) -> str:
        """Line `number` (1-based) without its line ending; "" past the end."""
        if 1 <= number <= len(self.lines):
            return self.lines[number - 1].rstrip("\r\n")
        return ""

    def char_column(self, line: int, byte_column: int) -> int:
        if line not in self._wide_lines:
            return byte_column
        return len(self.line(line).encode("utf-8")[:byte_column].decode("utf-8", errors="replace"))

    def span(self, node: ast.AST) -> Span:
        return Span(*self._positions(node))

    def _positions(self, node: ast.AST) -> tuple[int, int, int, int]:
        """(line, column, end line, end column) of `node`, in characters."""
        end_line = getattr(node, "end_lineno", None) or node.lineno
        end_col = getattr(node, "end_col_offset", None)
        if end_col is None:
            end_col = node.col_offset
        return node.lineno, self.char_column(node.lineno, node.col_offset), end_line, self.char_column(end_line, end_col)

    def dot_of(self, attribute: ast.Attribute) -> Span:
        """The empty span just before the `.` of `receiver.name` (where `.detach()` could go)."""
        end = self.span(attribute)
        # Searched in the whole text: after `s.\` the name is on the next line.
        dot = self.text.rfind(".", 0, self.offset(end.end_line, end.end_column - len(attribute.attr)))
        line = max(1, bisect.bisect_right(self._starts, max(dot, 0)))
        column = max(0, dot - self._starts[line - 1])
        return Span(line, column, line, column)

    def segment(self, node: ast.AST) -> str:
        """The source text of `node`, as written."""
        end_line = getattr(node, "end_lineno", None)
        if end_line is not None and node.lineno not in self._wide_lines and end_line not in self._wide_lines:
            return self.text[self._starts[node.lineno - 1] + node.col_offset : self._starts[end_line - 1] + node.end_col_offset]
        line, column, end_line, end_column = self._positions(node)
        return self.text[self.offset(line, column) : self.offset(end_line, end_column)]

    def text_of(self, span: Span) -> str:
        if span.line == span.end_line:
            return self.line(span.line)[span.column : span.end_column]
        parts = [self.line(span.line)[span.column :]]
        parts += [self.line(n) for n in range(span.line + 1, span.end_line)]
        parts.append(self.line(span.end_line)[: span.end_column])
        return "\n".join(parts)

    def offset(self, line: int, column: int) -> int:
        """Index into `text` of a (1-based line, character column) position."""
        line = max(1, min(line, len(self.lines)))
        return self._starts[line - 1] + min(column, len(self.lines[line - 1]))


def utf16_column(line_text: str, column: int) -> int:
    """A character column as the editor counts it (UTF-16 code units)."""
    prefix = line_text[:column]
    if prefix.isascii():
        return len(prefix)
    # A lone surrogate (an editor may send one) is one code unit: encode it as is.
    return len(prefix.encode("utf-16-le", "surrogatepass")) // 2


def column_from_utf16(line_text: str, utf16: int) -> int:
    if line_text.isascii():
        return min(utf16, len(line_text))
    units = 0
    for index, char in enumerate(line_text):
        if units >= utf16:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(line_text)
