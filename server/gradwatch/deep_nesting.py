"""Trees no deeper than MAX_NESTING: the analysis walks a tree recursively, and
generated code (a 500-term sum) would exhaust Python's recursion limit. What lies
deeper is replaced by a stand-in that the analysis knows nothing of."""

from __future__ import annotations

import ast
import itertools

# Real code nests expressions and statements well under 100 deep (torch's own
# deepest file: 92); each level costs the analysis a few stack frames.
MAX_NESTING = 100
# Stands for an elided expression: bound nowhere, so the analysis knows nothing of it.
ELIDED_NAME = "__gradwatch_elided__"


def elide_deep_nesting(tree: ast.Module, lines: list[str], first: int = 0, limit: int = MAX_NESTING) -> ast.Module:
    """Replace each expression or statement nested deeper than `limit` by a stand-in.

    An expression becomes a name bound nowhere (an unknown value), a statement a
    `pass`, a pattern a wildcard; each keeps the position of what it replaces.
    `lines` are the lines the tree's nodes lie on, the first of them line `first`
    (0-based) of the text (they give each node's length: the lines of one statement
    of a long document, not the document). The walk keeps its own stack, so no depth
    can overflow it.
    """
    starts, base = _byte_starts(lines), first + 1  # ast's line numbers are 1-based
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        depth += 1  # of its children
        room = limit - depth
        for field in node._fields:
            value = getattr(node, field, None)
            if value.__class__ is list:
                children = value
            elif isinstance(value, ast.AST):
                children = [value]
            else:
                continue
            for child in children:
                # Each level of nesting takes at least one character, so a node shorter
                # than the room left cannot reach the limit (this skips almost all code).
                # Nodes without a position (`arguments`, `comprehension`, `Load`) are walked:
                # those without fields (`Load`, `Add`) end there.
                end_line = getattr(child, "end_lineno", None)
                if end_line is not None:
                    start_line = child.lineno
                    if end_line == start_line:
                        size = child.end_col_offset - child.col_offset
                    else:
                        size = starts[end_line - base] + child.end_col_offset - starts[start_line - base] - child.col_offset
                    if size < room:
                        continue
                elif not isinstance(child, ast.AST) or not child._fields:
                    continue
                stand_in = _stand_in(child) if depth > limit else None
                if stand_in is None:
                    stack.append((child, depth))
                elif value.__class__ is list:
                    value[next(i for i, item in enumerate(value) if item is child)] = stand_in
                else:
                    setattr(node, field, stand_in)
    return tree


def _byte_starts(lines: list[str]) -> list[int]:
    """Where each line starts, in UTF-8 bytes from the first (ast's columns are byte offsets)."""
    if "".join(lines).isascii():
        sizes = map(len, lines)
    else:
        sizes = (len(line) if line.isascii() else len(line.encode("utf-8", "surrogatepass")) for line in lines)
    return [0, *itertools.accumulate(sizes)]


def _stand_in(node: ast.AST) -> ast.AST | None:
    if isinstance(node, ast.expr):
        stand_in: ast.AST = ast.Name(id=ELIDED_NAME, ctx=getattr(node, "ctx", None) or ast.Load())
    elif isinstance(node, ast.stmt):
        stand_in = ast.Pass()
    elif isinstance(node, ast.pattern):
        stand_in = ast.MatchAs(pattern=None, name=None)
    else:
        return None  # e.g. `arguments` or a `keyword`: its parent needs one; its children are replaced
    return ast.copy_location(stand_in, node)
