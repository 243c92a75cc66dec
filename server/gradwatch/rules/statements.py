"""Where a node sits among the statements, read from the syntax tree, never from line text.

Fixes use this to decide what they may rewrite: a call is replaced by an
assignment only when it is a whole statement, a line is inserted only before
a statement that starts its logical line, and a rewrite that rebinds a name
instead of modifying its tensor is called safe only when nothing else can
hold that tensor.

Nodes are found by position, not identity: events replayed from the scope
cache carry nodes of an earlier parse of the same, unchanged function.
"""

from __future__ import annotations

import ast
import bisect
import weakref
from typing import Iterator

from gradwatch.analysis.imports import import_bindings
from gradwatch.analysis.values import TorchRef
from gradwatch.findings import Span
from gradwatch.source import SourceText

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)


def _start(node: ast.AST) -> tuple[int, int]:
    decorators = getattr(node, "decorator_list", None)
    if decorators:
        first = decorators[0]
        return (first.lineno, first.col_offset)
    return (node.lineno, node.col_offset)


def _end(node: ast.AST) -> tuple[int, int]:
    return (node.end_lineno or node.lineno, node.end_col_offset if node.end_col_offset is not None else node.col_offset)


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return _start(outer) <= (inner.lineno, inner.col_offset) and _end(inner) <= _end(outer)


def child_statements(statement: ast.AST) -> Iterator[ast.stmt]:
    for field in ("body", "orelse", "finalbody"):
        value = getattr(statement, field, None)
        if isinstance(value, list):
            yield from (item for item in value if isinstance(item, ast.stmt))
    for handler in getattr(statement, "handlers", ()):
        yield from handler.body
    for case in getattr(statement, "cases", ()):
        yield from case.body


def statement_path(tree: ast.Module | None, node: ast.AST) -> list[ast.stmt]:
    """The statements around `node`, outermost first; the last one is the innermost.

    Empty when `tree` is None or no statement of it contains `node`'s position.
    """
    path: list[ast.stmt] = []
    if tree is None or getattr(node, "lineno", None) is None:
        return path
    position = (node.lineno, node.col_offset)
    parent: ast.AST = tree
    while True:
        starts, children = _ordered_children(parent)
        # Statements of one block never overlap: only the last one starting before `node` can hold it.
        at = bisect.bisect_right(starts, position) - 1
        if at < 0 or not _contains(children[at], node):
            return path
        parent = children[at]
        path.append(parent)


_ORDERED_CHILDREN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _ordered_children(parent: ast.AST) -> tuple[list[tuple[int, int]], list[ast.stmt]]:
    """The statements directly inside `parent`, in source order, with their start positions."""
    known = _ORDERED_CHILDREN.get(parent)
    if known is None:
        children = sorted(child_statements(parent), key=_start)
        known = _ORDERED_CHILDREN[parent] = ([_start(child) for child in children], children)
    return known


def same_position(a: ast.AST, b: ast.AST) -> bool:
    return type(a) is type(b) and _start(a) == _start(b) and _end(a) == _end(b)


def siblings(tree: ast.Module, path: list[ast.stmt]) -> list[ast.stmt]:
    """The statement list that holds the innermost statement of `path`."""
    parent = path[-2] if len(path) > 1 else tree
    statement = path[-1]
    lists = [getattr(parent, field, None) for field in ("body", "orelse", "finalbody")]
    lists += [handler.body for handler in getattr(parent, "handlers", ())]
    lists += [case.body for case in getattr(parent, "cases", ())]
    return next((items for items in lists if isinstance(items, list) and any(s is statement for s in items)), [])


def starts_logical_line(source: SourceText, statement: ast.stmt) -> bool:
    """Only indentation before it on its line, and that line does not continue the one above.

    A line inserted before such a statement, with its indentation, is a
    statement of the same block.
    """
    span = source.span(statement)
    if source.line(span.line)[: span.column].strip():
        return False
    # A backslash at the end of the line above joins the two lines (conservative:
    # a comment ending in a backslash also refuses).
    return not source.line(span.line - 1).endswith("\\")


def alone_on_its_lines(tree: ast.Module, path: list[ast.stmt]) -> bool:
    """No other statement (`a; b`) shares the first or last line of the innermost statement."""
    statement = path[-1]
    first, last = _start(statement)[0], _end(statement)[0]
    return all(
        other is statement or _end(other)[0] < first or _start(other)[0] > last for other in siblings(tree, path)
    )


def call_at(tree: ast.Module | None, source: SourceText, span: Span) -> ast.Call | None:
    """The call whose span is exactly `span` (e.g. a factory a tensor was created by).
    Searched in the innermost statement there, not the whole module: rules ask once per
    finding, and a finding must not cost a walk of a 5,000-line file."""
    if tree is None:
        return None
    position = _Position(source, span)
    path = statement_path(tree, position)
    if not path:
        return None
    return next(
        (node for node in _own_nodes(path[-1]) if isinstance(node, ast.Call) and source.span(node) == span), None
    )


def built_inside_sequential(tree: ast.Module | None, call: ast.Call) -> bool:
    """Is `call` written as an argument of `nn.Sequential(...)` (so nothing else holds what it builds)?"""
    path = statement_path(tree, call)
    return bool(path) and any(
        isinstance(node, ast.Call)
        and _callee_name(node.func) == "Sequential"
        and any((argument.lineno, argument.col_offset) == (call.lineno, call.col_offset) for argument in node.args)
        for node in _own_nodes(path[-1])
    )


# Keyed by the tree or scope node itself: what is known of it lives as long as its tree.
_SCOPE_USES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TORCH_ALIASES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Position:
    """A span as ast positions (UTF-8 byte columns), to find the statements around it."""

    def __init__(self, source: SourceText, span: Span) -> None:
        self.lineno, self.end_lineno = span.line, span.end_line
        self.col_offset = _byte_column(source, span.line, span.column)
        self.end_col_offset = _byte_column(source, span.end_line, span.end_column)


def _byte_column(source: SourceText, line: int, column: int) -> int:
    prefix = source.line(line)[:column]
    return len(prefix) if prefix.isascii() else len(prefix.encode("utf-8", "surrogatepass"))


def _own_nodes(statement: ast.stmt) -> Iterator[ast.AST]:
    """Every node of `statement` outside its blocks of statements (all of a simple statement)."""
    for field, value in ast.iter_fields(statement):
        if field in ("body", "orelse", "finalbody"):
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (ast.excepthandler, ast.match_case)):
                item = [item.type] if isinstance(item, ast.excepthandler) else [item.pattern, item.guard]
                yield from (node for part in item if part is not None for node in ast.walk(part))
            elif isinstance(item, ast.AST):
                yield from ast.walk(item)


def _callee_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def call_parenthesis(source: SourceText, call: ast.Call) -> int | None:
    """Index into the text of the `(` that opens `call`'s arguments.

    After the callee only closing parentheses, white space, comments and
    backslash continuations can come before it: `(y.clamp_)(0, 1)`.
    """
    func = source.span(call.func)
    index = source.offset(func.end_line, func.end_column)
    text = source.text
    while index < len(text):
        char = text[index]
        if char == "(":
            return index
        if char == "#":
            while index < len(text) and text[index] not in "\r\n":
                index += 1
        elif char in " \t\f\r\n\\)":
            index += 1
        else:
            return None
    return None


def torch_aliases(tree: ast.Module) -> set[str]:
    """Names the module's top-level imports bind to torch (`torch`, `F`, `nn`, ...)."""
    names = _TORCH_ALIASES.get(tree)
    if names is None:
        names = _TORCH_ALIASES[tree] = set()
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update(name for name, value in import_bindings(node) if isinstance(value, TorchRef))
    return names


def only_name_holds(tree: ast.Module, path: list[ast.stmt], name: str) -> bool:
    """Can nothing but the variable `name` hold its tensor when the innermost statement runs?

    Then `name = name + x` computes what `name.add_(x)` did: no one else sees
    the old tensor change or stay. Conservative: a parameter (the caller holds
    the tensor), a loop or `with` target (the container holds it), or any use
    before the statement (or anywhere in a loop around it) that could keep the
    tensor (put in a container, passed to a function that is not torch's,
    yielded, ...) answers no. Names bound to one tensor are the engine's
    business (`InPlace.aliased`).
    """
    statement = path[-1]
    scopes = [s for s in path[:-1] if isinstance(s, _SCOPES)]
    scope: ast.AST = scopes[-1] if scopes else tree
    if isinstance(scope, ast.ClassDef):
        return False
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = scope.args
        parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        if any(parameter is not None and parameter.arg == name for parameter in parameters):
            return False
    uses = _SCOPE_USES.get(scope)
    if uses is None:
        uses = _SCOPE_USES[scope] = _ScopeUses(scope, torch_aliases(tree))
    if name in uses.declared or name in uses.iterated:
        return False
    inside = path[path.index(scope) + 1 : -1] if scope is not tree else path[:-1]
    loops = [s for s in inside if isinstance(s, _LOOPS)]
    region_end = _end(loops[0]) if loops else _start(statement)
    return not any(position < region_end for position in uses.kept.get(name, ()))


class _ScopeUses:
    """How the names of one scope (nested functions included) are used, from one walk."""

    def __init__(self, scope: ast.AST, torch_names: set[str]) -> None:
        self.declared: set[str] = set()  # global / nonlocal
        self.iterated: set[str] = set()  # bound by for / with / except / a comprehension
        self.kept: dict[str, list[tuple[int, int]]] = {}  # where a read may keep the tensor
        for node, parent, grandparent, nested in _walk_with_parents(scope):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                self.declared.update(node.names)
            self.iterated.update(_iteration_targets(node))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                # A function defined inside returns the tensor to whoever calls it.
                keeps = nested if isinstance(parent, ast.Return) else _may_keep(node, parent, grandparent, torch_names)
                if keeps:
                    self.kept.setdefault(node.id, []).append((node.lineno, node.col_offset))


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _walk_with_parents(root: ast.AST) -> Iterator[tuple[ast.AST, ast.AST | None, ast.AST | None, bool]]:
    """Every node under `root` with its parent, grandparent, and whether a function inside `root` holds it."""
    stack: list[tuple[ast.AST, ast.AST | None, ast.AST | None, bool]] = [(root, None, None, False)]
    while stack:
        node, parent, grandparent, nested = stack.pop()
        yield node, parent, grandparent, nested
        inner = nested or (node is not root and isinstance(node, _FUNCTIONS))
        stack.extend((child, node, parent, inner) for child in ast.iter_child_nodes(node))


def _iteration_targets(node: ast.AST) -> list[str]:
    """Names bound by `for name in ...`, `[... for name in ...]`, `with ... as name`, `except ... as name`."""
    targets: list[ast.AST] = []
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        targets.append(node.target)
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        targets.append(node.optional_vars)
    elif isinstance(node, ast.ExceptHandler):
        return [node.name] if node.name else []
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _may_keep(node: ast.Name, parent: ast.AST | None, grandparent: ast.AST | None, torch_names: set[str]) -> bool:
    """Could this read of the name keep its tensor somewhere else?"""
    if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.Expr, ast.FormattedValue)):
        return False
    if isinstance(parent, (ast.If, ast.While, ast.Assert)):
        return False  # a truth test
    if isinstance(parent, ast.Subscript) and parent.slice is node:
        return isinstance(parent.ctx, ast.Store)  # `seen[y] = ...`: a key of a dict
    if isinstance(parent, (ast.Attribute, ast.Subscript)):
        return False  # a method, a view: the engine follows what shares memory
    if isinstance(parent, ast.AugAssign) and parent.value is node:
        return False
    if isinstance(parent, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        return not all(isinstance(target, ast.Name) for target in targets)
    call = grandparent if isinstance(parent, ast.keyword) else parent
    if isinstance(call, ast.Call) and call.func is not node:
        return _root_name(call.func) not in torch_names
    if isinstance(parent, ast.Call):
        return False  # calling it
    return True


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None
