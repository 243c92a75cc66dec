"""Small questions about Python syntax the analysis asks everywhere."""

from __future__ import annotations

import ast

from gradwatch.analysis.values import NO, UNKNOWN, Tri

INTEGER_DTYPES = {"torch." + name for name in "long int int64 int32 int16 int8 uint8 bool short".split()}


def literal_true(node: ast.AST | None) -> Tri:
    if node is None:
        return NO
    if isinstance(node, ast.Constant):
        return Tri.of(bool(node.value))
    return UNKNOWN


def keyword(node: ast.Call, name: str) -> ast.AST | None:
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value
    return None


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def inner_statements(statement: ast.AST):
    """`statement` and every statement inside its blocks, however deep. Expressions hold
    no statements: walking only blocks skips most of a function's nodes."""
    stack = [statement]
    while stack:
        node = stack.pop()
        yield node
        for block in _BLOCKS:
            inner = getattr(node, block, None)
            if isinstance(inner, list):
                stack.extend(inner)


def dotted(node: ast.AST) -> str | None:
    """`self.fc` -> "self.fc"; None for anything that is not a chain of names."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))
