"""Fixes as text edits: each function returns a Fix, or None when it cannot be done safely.

What to rewrite is decided on the syntax tree (`rules.statements`), never on
line text: a call inside brackets or after a backslash continuation looks like
a line of its own but is not a statement. Every fix is still verified before
anyone sees it (`gradwatch.fixes.FixVerifier`); these functions aim to offer
only fixes that pass.
"""

from __future__ import annotations

import ast
import re

from gradwatch.analysis import op_table
from gradwatch.analysis.events import Facts, InPlace
from gradwatch.findings import Fix, Span, TextEdit
from gradwatch.rules.statements import (
    alone_on_its_lines,
    built_inside_sequential,
    call_at,
    call_parenthesis,
    only_name_holds,
    same_position,
    starts_logical_line,
    statement_path,
)
from gradwatch.source import SourceText

_OPERATOR_METHODS = {"add_": "+", "sub_": "-", "mul_": "*", "div_": "/"}
_AUGMENTED = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "@=": "@", "**=": "**"}
# Right-hand sides that can follow a binary operator without parentheses.
_ATOMIC = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant)
_IMPORTS_TORCH = re.compile(r"^\s*import torch\s*(#.*)?$", re.MULTILINE)


def out_of_place(event: InPlace, facts: Facts) -> Fix | None:
    """`y.add_(x)` -> `y = y + x`; `y += x` -> `y = y + x`; `y.clamp_(0)` -> `y = y.clamp(0)`.

    Only a whole statement is rewritten (an assignment is a statement, not an
    expression). Safe when nothing but the name can hold the tensor.
    """
    source, node, target = facts.source, event.node, event.target_text
    path = statement_path(facts.tree, node)
    if not path or not re.fullmatch(r"[A-Za-z_][\w.]*", target):
        return None
    statement = path[-1]
    if isinstance(node, ast.AugAssign) and same_position(statement, node) and event.spelling in _AUGMENTED:
        receiver = node.target
        operator = _AUGMENTED[event.spelling]
        replacement = f"{target} = {target} {operator} {_right_operand(node.value, source)}"
    elif isinstance(node, ast.Call) and isinstance(statement, ast.Expr) and same_position(statement.value, node):
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        replacement = _method_rewrite(node, event.spelling, target, source)
    else:
        return None
    if replacement is None or receiver is None or source.segment(receiver) != target:
        return None
    safe = not event.aliased and isinstance(receiver, ast.Name) and only_name_holds(facts.tree, path, target)
    return Fix(
        f"Rewrite as `{_first_line(replacement)}`",
        (TextEdit(source.span(statement), replacement),),
        safe=safe,
    )


def _method_rewrite(call: ast.Call, method: str, target: str, source: SourceText) -> str | None:
    if not isinstance(call.func, ast.Attribute) or call.func.attr != method:
        return None
    operator = _OPERATOR_METHODS.get(method)
    if operator and len(call.args) == 1 and not call.keywords and not isinstance(call.args[0], ast.Starred):
        return f"{target} = {target} {operator} {_right_operand(call.args[0], source)}"
    info = op_table.lookup(f"torch.Tensor.{method}")
    if info is None or not info.inplace or not info.out_of_place:
        return None  # `copy_`, `zero_`, `uniform_`: no out-of-place method of that name
    opening = call_parenthesis(source, call)
    if opening is None:
        return None
    end = source.span(call)
    arguments = source.text[opening : source.offset(end.end_line, end.end_column)]
    return f"{target} = {target}.{info.out_of_place}{arguments}"


def _right_operand(value: ast.expr, source: SourceText) -> str:
    text = source.segment(value)
    if isinstance(value, _ATOMIC) and "\n" not in text and "\r" not in text:
        return text
    return f"({text})"


def _first_line(text: str) -> str:
    first = text.splitlines()[0] if text else text
    return first if first == text else f"{first} ..."


def turn_off_inplace(event: InPlace, facts: Facts) -> Fix | None:
    """`nn.ReLU(inplace=True)` -> `nn.ReLU(inplace=False)`: the same values, in new memory.

    Safe when no one can see that the input is no longer modified: the module
    is built inside an `nn.Sequential` (its input is the previous child's
    output), or `x = F.relu(x, inplace=True)` rebinds the only name of it.
    """
    if event.flag is None:
        return None
    return Fix("Set `inplace=False`", (TextEdit(event.flag, "False"),), safe=_input_invisible(event, facts))


def _input_invisible(event: InPlace, facts: Facts) -> bool:
    if event.aliased and event.target_text:
        return False
    if not event.target_text:  # a child of an nn.Sequential
        module = call_at(facts.tree, facts.source, event.span)
        return module is not None and built_inside_sequential(facts.tree, module)
    path = statement_path(facts.tree, event.node)
    if not path or not isinstance(event.node, ast.Call) or not event.node.args:
        return False
    called, flag = facts.source.span(event.node), event.flag
    if not (called.contains(flag.line, flag.column) and called.contains(flag.end_line, flag.end_column)):
        return False  # a module built elsewhere (`self.act = nn.ReLU(inplace=True)`) may run at other calls too
    statement, written = path[-1], event.node.args[0]
    return (
        isinstance(statement, ast.Assign)
        and same_position(statement.value, event.node)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and isinstance(written, ast.Name)
        and statement.targets[0].id == written.id
        and only_name_holds(facts.tree, path, written.id)
    )


def clone_first(event: InPlace, facts: Facts) -> Fix | None:
    """Insert `y = y.clone()` before the statement that modifies `y` in place."""
    target, source = event.target_text, facts.source
    if not re.fullmatch(r"[A-Za-z_]\w*", target):
        return None
    path = statement_path(facts.tree, event.node)
    if not path or not starts_logical_line(source, path[-1]):
        return None
    start = source.span(path[-1])
    indent = source.line(start.line)[: start.column]
    insert_at = Span(start.line, start.column, start.line, start.column)
    return Fix(
        f"Clone `{target}` before modifying it",
        (TextEdit(insert_at, f"{target} = {target}.clone()\n{indent}"),),
        safe=not event.aliased and only_name_holds(facts.tree, path, target),
    )


def remove_detach(cut_at: Span, facts: Facts) -> Fix | None:
    """`y.detach()` -> `y`; `(y.detach)()` -> `y`; `(a + b).detach()` -> `(a + b)`.

    The whole call becomes its receiver, in parentheses where an operator
    around it could otherwise bind differently. Unsafe: gradients then flow.
    """
    call = call_at(facts.tree, facts.source, cut_at)
    if call is None or call.args or call.keywords:
        return None
    if not isinstance(call.func, ast.Attribute) or call.func.attr != "detach":
        return None
    receiver = call.func.value
    text = facts.source.segment(receiver)
    if not isinstance(receiver, _ATOMIC) or "\n" in text or "\r" in text:
        text = f"({text})"
    return Fix("Remove `.detach()`", (TextEdit(facts.source.span(call), text),), safe=False)


def use_rsample(cut) -> Fix | None:
    """`dist.sample()` -> `dist.rsample()`, for a draw cut from its parameters where the
    distribution has `rsample()` (the cut then names the `sample` to replace). Unsafe:
    gradients then flow through the draw."""
    if cut.kind != "sample" or cut.removal is None or cut.path is not None:
        return None
    return Fix("Use `rsample()`", (TextEdit(cut.removal, "rsample"),), safe=False)


def add_argument(call: ast.AST | None, source: SourceText, argument: str, title: str) -> Fix | None:
    """`f(a)` -> `f(a, name=value)`; `f()` -> `f(name=value)`; `f(name=old)` -> `f(name=value)`.

    Unsafe: it changes what the call does. The new argument goes right after
    the last one (before a trailing comma or comment), or just inside the
    call's own closing parenthesis.
    """
    if not isinstance(call, ast.Call):
        return None
    name, _, value = argument.partition("=")
    existing = next((keyword for keyword in call.keywords if keyword.arg == name), None)
    if existing is not None:
        return Fix(title, (TextEdit(source.span(existing.value), value),), safe=False)
    if any(keyword.arg is None for keyword in call.keywords):
        return None  # `**options` may hold it already: a second value would raise
    given = [*call.args, *call.keywords]
    if len(given) == 1 and isinstance(given[0], ast.GeneratorExp):
        return None  # `f(x for x in y)`: the generator would need its own parentheses
    if given:
        last = max(given, key=lambda node: (node.end_lineno, node.end_col_offset))
        end = source.span(last)
        insertion = f", {argument}"
    else:
        end = source.span(call)
        end = Span(end.end_line, end.end_column - 1, end.end_line, end.end_column - 1)
        insertion = argument
    at = Span(end.end_line, end.end_column, end.end_line, end.end_column)
    return Fix(title, (TextEdit(at, insertion),), safe=False)


def add_requires_grad(factory: Span, facts: Facts) -> Fix | None:
    """`torch.randn(10)` -> `torch.randn(10, requires_grad=True)`."""
    call = call_at(facts.tree, facts.source, factory)
    if call is None or any(keyword.arg == "requires_grad" for keyword in call.keywords):
        return None
    return add_argument(call, facts.source, "requires_grad=True", "Create it with `requires_grad=True`")


def wrap_in_no_grad(event: InPlace, facts: Facts) -> Fix | None:
    """Run the statement under `with torch.no_grad():` (a statement of its own lines only)."""
    source = facts.source
    path = statement_path(facts.tree, event.node)
    if not path or not _IMPORTS_TORCH.search(source.text):
        return None
    statement = path[-1]
    if not _writes_as_a_whole(statement, event.node):
        return None
    if not (starts_logical_line(source, statement) and alone_on_its_lines(facts.tree, path)):
        return None
    span = source.span(statement)
    indent = source.line(span.line)[: span.column]
    unit = "\t" if "\t" in indent else "    "
    body = source.text_of(span)
    return Fix(
        "Modify it under `torch.no_grad()`",
        (TextEdit(span, f"with torch.no_grad():\n{indent}{unit}{body}"),),
        safe=False,
    )


def _writes_as_a_whole(statement: ast.stmt, node: ast.AST) -> bool:
    """The statement is the write itself: `w.add_(1)`, `w += 1`, `w[0] = 0`."""
    if isinstance(statement, ast.Expr):
        return same_position(statement.value, node)
    if isinstance(statement, ast.Assign):
        return any(same_position(target, node) for target in statement.targets)
    return same_position(statement, node)
