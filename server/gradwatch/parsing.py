"""Parse half-typed and pathological code: the whole text at once, or, for a document
being edited, only the top-level statements an edit touched (ParsedChunks). A
syntax error costs only the code around it (syntax_recovery.py); the tree that
comes out is never nested deeper than deep_nesting.MAX_NESTING.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import warnings
from dataclasses import dataclass

from gradwatch.deep_nesting import elide_deep_nesting
from gradwatch.findings import Span
from gradwatch.syntax_recovery import PARSE_ERRORS, Recovery, parse_lines, statement_starts


@dataclass(frozen=True)
class ParseResult:
    tree: ast.Module
    # The first syntax error, if any: (span, message). Its block was left out.
    syntax_error: tuple[Span, str] | None
    # (line number, its text as parsed) of the lines recovery changed, in order.
    recovered_lines: tuple[tuple[int, str], ...] = ()


def parse(
    text: str,
    chunks: ParsedChunks | None = None,
    parsed_before: ast.Module | None = None,
    lines: list[str] | None = None,
) -> ParseResult:
    """`chunks` (one per edited document) reuses the trees of top-level statements that an
    edit left as they were; `parsed_before` is this function's tree of this same text, which
    parsed without error (module_files.held_tree); `lines`, the text split by
    source.split_lines, if the caller has them."""
    if chunks is not None:
        parsed = chunks.parse(text)
        if parsed is not None:
            return parsed
    if parsed_before is not None:
        if chunks is not None:
            chunks.remember(parse_lines(text), parsed_before)
        return ParseResult(parsed_before, None)
    recovery = Recovery(text, lines)
    tree = elide_deep_nesting(recovery.run(), recovery.lines)
    if chunks is not None and recovery.first_error is None:
        chunks.remember(recovery.lines, tree)
    return ParseResult(tree, recovery.first_error, recovery.changed_lines())


class ParsedChunks:
    """A document parsed one top-level statement (a chunk) at a time, each chunk's tree kept
    by its first line and text: an edit re-parses the statements it touched, not the file.

    Chunks are cut where a top-level statement may begin. A cut inside a string or
    brackets (a module docstring's lines) leaves a chunk that does not parse; it is
    parsed together with the next one, two, four, ... chunks (twice its text at most),
    up to the next chunk the edit left as it was. A prefix that parses ends where a new
    top-level statement can begin, so the chunks' trees together are the text's tree.

    A syntax error costs its own lines only: the lines from the chunk that does not
    parse to the next chunk the edit left as it was are parsed with recovery, and the
    untouched statements around them keep their trees (a whole-text parse would blank
    the enclosing block, or everything after an unclosed bracket).
    """

    def __init__(self) -> None:
        # first line (0-based) -> (its text, the line after it, its statements)
        self._chunks: dict[int, tuple[str, int, list[ast.stmt]]] = {}

    def parse(self, text: str) -> ParseResult | None:
        """The text's tree, or None when there is nothing to reuse yet."""
        if not self._chunks:
            return None  # parsing the whole text at once is faster; `remember` keeps its chunks
        lines = parse_lines(text)
        joined = "".join(lines)
        offsets = [0, *itertools.accumulate(len(line) for line in lines)]
        cuts = sorted({0, *statement_starts(lines)}) + [len(lines)]
        position = {cut: index for index, cut in enumerate(cuts)}

        def kept(index: int) -> tuple | None:
            """The chunk kept from the last parse that starts at cut `index`, if its text is still there."""
            chunk = self._chunks.get(cuts[index])
            if chunk is None or not _still_there(chunk, cuts[index], joined, offsets, position.get(chunk[1], 0) > index):
                return None
            return chunk

        chunks: dict[int, tuple[str, int, list[ast.stmt]]] = {}
        body: list[ast.stmt] = []
        error = None
        recovered_lines: list[tuple[int, str]] = []
        index = 0
        while index < len(cuts) - 1:
            chunk = kept(index)
            if chunk is None:
                stop = next((later for later in range(index + 1, len(cuts) - 1) if kept(later)), len(cuts) - 1)
                chunk = _parse_chunk(lines, cuts, index, stop)
                if chunk is None:  # recovered, not kept: the next parse reports its error again
                    recovered, found, changed = _recover_chunk(lines, cuts[index], cuts[stop])
                    error = error or found
                    recovered_lines += changed
                    body.extend(recovered)
                    index = stop
                    continue
            chunks[cuts[index]] = chunk
            body.extend(chunk[2])
            index = position[chunk[1]]
        self._chunks = chunks  # only the current text's chunks are kept
        return ParseResult(ast.Module(body=body, type_ignores=[]), error, tuple(recovered_lines))

    def remember(self, lines: list[str], tree: ast.Module) -> None:
        """Keep the chunks of a text parsed at once (`lines`, its tree), each made of whole
        statements: a cut inside a statement (a docstring's line) joins its two chunks."""
        spans = [(_start_line(statement) - 1, statement.end_lineno - 1) for statement in tree.body]
        inside = {line for start, end in spans for line in range(start + 1, end + 1)}
        cuts = [cut for cut in sorted({0, *statement_starts(lines)}) if cut not in inside] + [len(lines)]
        starts = [start for start, _ in spans]
        self._chunks = {
            first: (
                "".join(lines[first:end]),
                end,
                tree.body[bisect.bisect_left(starts, first) : bisect.bisect_left(starts, end)],
            )
            for first, end in zip(cuts, cuts[1:])
            if first < end
        }


def _still_there(chunk: tuple, first: int, joined: str, offsets: list[int], ends_at_a_later_cut: bool) -> bool:
    """Whether the text from line `first` to the chunk's last line is the chunk's text."""
    text, end, _ = chunk
    return ends_at_a_later_cut and offsets[end] - offsets[first] == len(text) and joined.startswith(text, offsets[first])


def _start_line(statement: ast.stmt) -> int:
    decorators = getattr(statement, "decorator_list", None)
    return decorators[0].lineno if decorators else statement.lineno


def _recover_chunk(lines: list[str], first: int, end: int) -> tuple[list[ast.stmt], tuple | None, tuple]:
    """The statements of lines `first` to `end` parsed with recovery (the lines around them
    count as blank), their first syntax error and the lines recovery changed."""
    recovery = Recovery("\n" * first + "".join(lines[first:end]))
    tree = elide_deep_nesting(recovery.run(), recovery.lines[first:], first)
    return tree.body, recovery.first_error, recovery.changed_lines()


def _doubling(first: int, last: int):
    """first, first + 1, first + 3, first + 7, ... and last."""
    step = 1
    while first < last:
        yield first
        first += step
        step *= 2
    yield last


def _parse_chunk(lines: list[str], cuts: list[int], index: int, stop: int) -> tuple[str, int, list[ast.stmt]] | None:
    """The chunk from cut `index` to the nearest later cut (up to cut `stop`) where the text parses."""
    first = cuts[index]
    for end in _doubling(index + 1, stop):
        chunk = "".join(lines[first : cuts[end]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences
            try:
                tree = ast.parse("\n" * first + chunk)
            except PARSE_ERRORS:
                continue
        return chunk, cuts[end], elide_deep_nesting(tree, lines[first : cuts[end]], first).body
    return None


def parses(text: str) -> bool:
    """True when Python can parse `text`; False, never an exception, for any input."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. invalid escape sequences
        try:
            ast.parse(text)
        except PARSE_ERRORS:
            return False
    return True
