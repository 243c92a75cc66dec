"""Positions and syntax trees: where a span lies in a text, and what a fix changed in the program.

Spans follow the engine's documented convention (gradwatch.findings): 1-based
lines split at \\n, \\r\\n and \\r, 0-based columns in characters. ast counts
columns in UTF-8 bytes; NodeOffsets turns them into character offsets.
"""

from __future__ import annotations

import ast
import io
import re
import warnings


class Lines:
    """The text's lines as the engine counts them, and (line, column) -> offset."""

    _END = re.compile(r"\r\n|\r|\n")

    def __init__(self, text: str) -> None:
        self.starts = [0]
        self.lengths = []
        for match in self._END.finditer(text):
            self.lengths.append(match.start() - self.starts[-1])
            self.starts.append(match.end())
        self.lengths.append(len(text) - self.starts[-1])

    def problem(self, span) -> str | None:
        """Why `span` does not fit the text, or None."""
        for line, column in ((span.line, span.column), (span.end_line, span.end_column)):
            if not 1 <= line <= len(self.lengths):
                return f"line {line} outside 1..{len(self.lengths)}"
            if not 0 <= column <= self.lengths[line - 1]:
                return f"column {column} outside 0..{self.lengths[line - 1]} on line {line}"
        if (span.end_line, span.end_column) < (span.line, span.column):
            return "ends before it starts"
        return None

    def offset(self, line: int, column: int) -> int:
        return self.starts[line - 1] + column


class NodeOffsets:
    """Character offsets of ast nodes (ast counts columns in UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.lines = io.StringIO(text, newline="").readlines()
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def _offset(self, line: int, byte_column: int) -> int:
        text = self.lines[line - 1] if line <= len(self.lines) else ""
        return self.starts[min(line, len(self.lines) + 1) - 1] + len(
            text.encode("utf-8", "surrogatepass")[:byte_column].decode("utf-8", "replace")
        )

    def extent(self, node: ast.AST) -> tuple[int, int] | None:
        if getattr(node, "end_lineno", None) is None:
            return None
        return self._offset(node.lineno, node.col_offset), self._offset(node.end_lineno, node.end_col_offset)

    def line_extent(self, node: ast.stmt) -> tuple[int, int]:
        """A statement from the start of its first line to the end of its last (comments included)."""
        last = self.lines[node.end_lineno - 1] if node.end_lineno <= len(self.lines) else ""
        return self.starts[node.lineno - 1], self.starts[node.end_lineno - 1] + len(last.rstrip("\r\n"))


def parses(text: str) -> bool:
    return parse_or_none(text) is not None


def parse_or_none(text: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
        return None


def inside_one_statement(tree: ast.Module, offsets: NodeOffsets, low: int, high: int) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            start, end = offsets.line_extent(node)
            if start <= low and high <= end:
                return True
    return False


# ---------------------------------------------------------------- behaviour of a safe fix


def changed_outside(
    original: ast.Module, original_dump: str, text: str, fixed_tree: ast.Module, fixed: str, low: int, high: int
) -> str | None:
    """Why the fix changes the program outside the code it rewrites, or None when it does not.

    Conservative: the fix may only replace the smallest expression or statement that
    holds all its edits (the same node, at the same place in the tree), or insert
    whole statements just before a statement. Anything else changes the program
    around the hazard, e.g. `print(y.add_(x))` -> `print(y = y + x)`.
    """
    fixed_high = high + len(fixed) - len(text)
    try:
        return _changed_outside(original, original_dump, text, fixed_tree, fixed, low, high, fixed_high)
    except RecursionError:  # a tree too deep for ast.dump: not judged
        return None


def _changed_outside(original, original_dump, text, fixed_tree, fixed, low, high, fixed_high) -> str | None:
    if original_dump == dump(fixed_tree):
        return None
    if low == high and _without_statements_in(parse_or_none(fixed), NodeOffsets(fixed), low, fixed_high) == original_dump:
        return None  # whole statements inserted before a statement
    offsets = NodeOffsets(text)
    if low == high and any(
        isinstance(node, ast.stmt) and offsets.extent(node)[0] == low for node in ast.walk(original)
    ):
        return "the text inserted before a statement is not whole statements"
    path = _path_to_enclosing(original, offsets, low, high)
    if not path:
        return "the edits are not inside one statement"
    counterpart = _follow(fixed_tree, path)
    if counterpart is None:
        return "the fixed program's tree has no node where the rewritten one was"
    extent = NodeOffsets(fixed).extent(counterpart)
    if extent is not None and not (extent[0] <= low and fixed_high <= extent[1]):
        return "the rewritten code no longer fits in the node it replaced"
    if _dump_with_hole(original, path) != _dump_with_hole(fixed_tree, path):
        return "the program around the rewritten node changed"
    return None


def dump(tree: ast.AST) -> str | None:
    try:
        return ast.dump(tree, include_attributes=False)
    except RecursionError:  # ast.dump recurses in Python; a deeply nested tree is not compared
        return None


def _children(node: ast.AST):
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield (name, index), item
        elif isinstance(value, ast.AST):
            yield (name, None), value


def _contains(extent, low: int, high: int) -> bool:
    if extent is None:
        return False
    if low == high:  # an insertion is inside a node only strictly between its ends
        return extent[0] < low < extent[1]
    return extent[0] <= low and high <= extent[1]


def _path_to_enclosing(tree: ast.Module, offsets: NodeOffsets, low: int, high: int) -> list:
    """Steps from the module to the smallest node that holds [low, high]; a node with
    the same extent as its parent (a call that is a whole statement) gives way to the parent."""
    path: list = []
    extents: list = []
    node = tree
    while True:
        step = None
        for key, child in _children(node):
            extent = offsets.extent(child)
            if extent is None:  # arguments, comprehension, withitem...: look through it
                if any(_contains(offsets.extent(g), low, high) for g in ast.walk(child) if g is not child):
                    step = (key, child, None)
                    break
                continue
            if _contains(extent, low, high):
                step = (key, child, extent)
                break
        if step is None:
            break
        path.append(step[0])
        extents.append(step[2])
        node = step[1]
    while len(extents) >= 2 and extents[-1] is not None and extents[-1] == extents[-2]:
        path.pop()
        extents.pop()
    return path


def _follow(tree: ast.AST, path: list) -> ast.AST | None:
    node = tree
    for name, index in path:
        value = getattr(node, name, None)
        if index is not None:
            if not isinstance(value, list) or index >= len(value):
                return None
            value = value[index]
        if not isinstance(value, ast.AST):
            return None
        node = value
    return node


def _dump_with_hole(tree: ast.AST, path: list) -> str:
    parent = _follow(tree, path[:-1])
    name, index = path[-1]
    container = getattr(parent, name)
    hole = ast.Name(id="__fuzz_hole__", ctx=ast.Load())
    if index is None:
        setattr(parent, name, hole)
        try:
            return dump(tree)
        finally:
            setattr(parent, name, container)
    kept = container[index]
    container[index] = hole
    try:
        return dump(tree)
    finally:
        container[index] = kept


def _without_statements_in(tree: ast.Module, offsets: NodeOffsets, low: int, high: int) -> str:
    """The tree's dump with every statement that lies wholly inside [low, high] left out."""

    class Drop(ast.NodeTransformer):
        def generic_visit(self, node):
            for name, value in ast.iter_fields(node):
                if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                    kept = [s for s in value if not _wholly_inside(offsets.extent(s), low, high)]
                    setattr(node, name, kept or value)
            return super().generic_visit(node)

    return dump(Drop().visit(tree))


def _wholly_inside(extent, low: int, high: int) -> bool:
    return extent is not None and low <= extent[0] and extent[1] <= high
