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
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


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


def module_scope_names(tree: ast.Module) -> frozenset:
    """The names the module's own code binds at module level: assigned, imported, defined,
    looped over, caught, or declared `global` in a function. Such a name never comes from
    a `from M import *`, even where the analysis does not know its value."""
    names = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(child.name)
                # `global` is a statement: the blocks are enough, not every expression in them.
                names.update(n for inner in inner_statements(child) if isinstance(inner, ast.Global) for n in inner.names)
            elif isinstance(child, ast.Lambda):
                continue
            elif isinstance(child, ast.Name) and not isinstance(child.ctx, ast.Load):
                names.add(child.id)
            elif isinstance(child, ast.alias):
                names.add((child.asname or child.name).split(".", 1)[0])
            elif isinstance(child, ast.ExceptHandler) and child.name:
                names.add(child.name)
                stack.append(child)
            else:
                stack.append(child)
    names.discard("*")
    return frozenset(names)


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
