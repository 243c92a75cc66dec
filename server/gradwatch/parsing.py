"""Parse half-typed code: a syntax error costs only the function it is in."""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

from gradwatch.findings import Span
from gradwatch.source import split_lines

_BLOCK_START = re.compile(r"\s*(async\s+def|def|class)\b")
MAX_RECOVERIES = 25


@dataclass(frozen=True)
class ParseResult:
    tree: ast.Module
    # The first syntax error, if any: (span, message). Its block was left out.
    syntax_error: tuple[Span, str] | None


def parse(text: str) -> ParseResult:
    lines = split_lines(text)
    first_error: tuple[Span, str] | None = None
    for _ in range(MAX_RECOVERIES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. invalid escape sequences
                tree = ast.parse("".join(lines))
            return ParseResult(tree, first_error)
        except (SyntaxError, ValueError) as error:
            line = getattr(error, "lineno", None) or 1
            if first_error is None:
                first_error = (_error_span(error, lines), _error_message(error))
            if not _blank_enclosing_block(lines, line):
                break
    return ParseResult(ast.Module(body=[], type_ignores=[]), first_error)


def _error_span(error: Exception, lines: list[str]) -> Span:
    line = getattr(error, "lineno", None) or 1
    column = max((getattr(error, "offset", None) or 1) - 1, 0)
    text = lines[line - 1].rstrip("\r\n") if 0 < line <= len(lines) else ""
    column = min(column, len(text))
    return Span(line, column, line, max(len(text), column))


def _error_message(error: Exception) -> str:
    message = getattr(error, "msg", None) or str(error)
    return f"syntax error: {message}; gradwatch skipped the block that contains it"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blank_enclosing_block(lines: list[str], error_line: int) -> bool:
    """Blank out the innermost def/class around `error_line` (or its top-level statement).

    Line numbers stay the same, so findings elsewhere keep their positions.
    Returns False when there was nothing left to blank.
    """
    if not lines:
        return False
    index = min(max(error_line - 1, 0), len(lines) - 1)
    # Walk up to the nearest block header that encloses the error line.
    error_indent = _indent(lines[index]) if lines[index].strip() else 0
    start = None
    for i in range(index, -1, -1):
        text = lines[i]
        if not text.strip():
            continue
        if _BLOCK_START.match(text) and (i == index or _indent(text) < error_indent or _indent(text) == 0):
            start = i
            break
        if _indent(text) == 0 and i < index:
            start = i
            break
    if start is None:
        start = index
    header_indent = _indent(lines[start])
    end = start + 1
    while end < len(lines):
        text = lines[end]
        if text.strip() and _indent(text) <= header_indent and not text.lstrip().startswith(("#", ")", "]", "}")):
            break
        end += 1
    end = max(end, index + 1)
    changed = False
    for i in range(start, end):
        if lines[i].strip():
            lines[i] = "\n"
            changed = True
    return changed
