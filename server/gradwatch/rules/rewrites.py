"""Fixes as text edits: each function returns a Fix, or None when it cannot be done safely."""

from __future__ import annotations

import ast
import re

from gradwatch.analysis.events import InPlace
from gradwatch.findings import Fix, Span, TextEdit
from gradwatch.source import SourceText

_OPERATOR_METHODS = {"add_": "+", "sub_": "-", "mul_": "*", "div_": "/"}
_AUGMENTED = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "@=": "@", "**=": "**"}
# Right-hand sides that can follow a binary operator without parentheses.
_ATOMIC = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant)
_IMPORTS_TORCH = re.compile(r"^\s*import torch\s*(#.*)?$", re.MULTILINE)


def _standalone_statement(source: SourceText, span: Span) -> bool:
    """True when the expression at `span` is a whole one-line statement by itself."""
    if span.line != span.end_line:
        return False
    line = source.line(span.line)
    rest = line[span.end_column :].strip()
    return not line[: span.column].strip() and (not rest or rest.startswith("#"))


def out_of_place(event: InPlace, source: SourceText) -> Fix | None:
    """`y.add_(x)` -> `y = y + x`; `y += x` -> `y = y + x`; `y.clamp_(0)` -> `y = y.clamp(0)`."""
    node = event.node
    target = event.target_text
    if not re.fullmatch(r"[A-Za-z_][\w.]*", target):
        return None
    if isinstance(node, ast.AugAssign):
        operator = _AUGMENTED.get(event.spelling)
        if operator is None:
            return None
        rhs = source.segment(node.value)
        if not isinstance(node.value, _ATOMIC):
            rhs = f"({rhs})"
        replacement = f"{target} = {target} {operator} {rhs}"
    elif isinstance(node, ast.Call) and event.spelling.endswith("_") and _standalone_statement(source, event.span):
        method = event.spelling
        operator = _OPERATOR_METHODS.get(method)
        if operator and len(node.args) == 1 and not node.keywords:
            rhs = source.segment(node.args[0])
            if not isinstance(node.args[0], _ATOMIC):
                rhs = f"({rhs})"
            replacement = f"{target} = {target} {operator} {rhs}"
        else:
            arguments = source.text_of(event.span)[len(target) + 1 + len(method) :]
            replacement = f"{target} = {target}.{method[:-1]}{arguments}"
    else:
        return None
    return Fix(
        f"Rewrite as `{replacement}`",
        (TextEdit(event.span, replacement),),
        safe=not event.aliased,
    )


def turn_off_inplace(event: InPlace) -> Fix | None:
    """`nn.ReLU(inplace=True)` -> `nn.ReLU(inplace=False)`: the same values, in new memory."""
    if event.flag is None:
        return None
    return Fix("Set `inplace=False`", (TextEdit(event.flag, "False"),), safe=True)


def clone_first(event: InPlace, source: SourceText) -> Fix | None:
    """Insert `y = y.clone()` before the statement that modifies `y` in place."""
    target = event.target_text
    if not re.fullmatch(r"[A-Za-z_]\w*", target):
        return None
    line = source.line(event.span.line)
    indent = line[: len(line) - len(line.lstrip())]
    if line[: event.span.column].strip() and not line.lstrip().startswith(target):
        return None
    insert_at = Span(event.span.line, len(indent), event.span.line, len(indent))
    return Fix(
        f"Clone `{target}` before modifying it",
        (TextEdit(insert_at, f"{target} = {target}.clone()\n{indent}"),),
        safe=not event.aliased,
    )


def remove_span(span: Span, title: str) -> Fix:
    return Fix(title, (TextEdit(span, ""),), safe=False)


def add_argument(call: Span, source: SourceText, argument: str, title: str) -> Fix | None:
    """`f(a)` -> `f(a, argument)`; `f()` -> `f(argument)`. Unsafe: it changes what the call does."""
    text = source.text_of(call)
    if not text.endswith(")") or "(" not in text:
        return None
    inner = text[text.index("(") + 1 : -1].strip()
    insertion = f", {argument}" if inner and not inner.endswith(",") else (f" {argument}" if inner else argument)
    at = Span(call.end_line, call.end_column - 1, call.end_line, call.end_column - 1)
    return Fix(title, (TextEdit(at, insertion),), safe=False)


def add_requires_grad(factory: Span, source: SourceText) -> Fix | None:
    """`torch.randn(10)` -> `torch.randn(10, requires_grad=True)`."""
    if "requires_grad" in source.text_of(factory):
        return None
    return add_argument(factory, source, "requires_grad=True", "Create it with `requires_grad=True`")


def wrap_in_no_grad(event: InPlace, source: SourceText) -> Fix | None:
    """Run a one-line statement under `with torch.no_grad():`."""
    statement = event.span
    line = source.line(statement.line)
    indent = line[: len(line) - len(line.lstrip())]
    if statement.line != statement.end_line or not _IMPORTS_TORCH.search(source.text):
        return None
    body = line.strip()
    if not body.startswith(event.target_text):
        return None
    whole = Span(statement.line, 0, statement.line, len(line))
    unit = "    "
    return Fix(
        "Modify it under `torch.no_grad()`",
        (TextEdit(whole, f"{indent}with torch.no_grad():\n{indent}{unit}{body}"),),
        safe=False,
    )
