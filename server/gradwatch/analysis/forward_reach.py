"""Whether a module's `forward` is worth analysing on its own.

A module's `forward` is analysed as if its result were backpropagated, which is
where an in-place op in it breaks backward (GW201) or a hint applies (GW203).
Its own text may name no such op while code it runs does: a submodule its class
builds with `inplace=True`, a helper of the file whose body writes in place, a
base class's method. Those are found by name (`_Walk`): from the forward, the
methods it calls and, transitively, every class, function and module-level
assignment of this file that a reached text names; from `__init__`, the layers it
builds (its own writes, `nn.init.zeros_(self.fc.bias)`, are done before the forward
runs). When none of those texts can make an event (`scope_text.is_relevant`),
running the forward would find nothing, and on model libraries it is most of
the work.

Code of other files is not reached: what it does in place is not reported here
(the events of another file's lines are that file's findings).
"""

from __future__ import annotations

import ast
import weakref
from typing import Callable

from gradwatch.analysis.syntax import names_called_only, used_names

# tree -> (its top-level statements by the names they bind, class node -> the answer). Per
# tree, not per class node: an edit elsewhere may keep a class's node (parsing.py reuses
# unchanged statements) and change what it reaches.
_PER_TREE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Per statement, what only its own text decides (a statement parsing.py reuses after an edit
# has the same text): whether that text is relevant, and the names it binds.
_RELEVANT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def may_make_events(
    class_node: ast.ClassDef,
    tree: ast.Module,
    segment: Callable[[ast.AST], str],
    relevant: Callable[[str], bool],
) -> bool:
    """Whether code the `forward` of `class_node` may run, of this file, has a text `relevant`
    accepts, or code that builds the module names `inplace` (a layer that writes in place)."""
    known = _PER_TREE.get(tree)
    if known is None:
        known = _PER_TREE[tree] = (_units_by_name(tree), {})
    units, answers = known
    if class_node not in answers:

        def relevant_text(unit: ast.stmt) -> bool:  # a helper many classes name is read once
            if unit not in _RELEVANT:
                _RELEVANT[unit] = relevant(segment(unit))
            return _RELEVANT[unit]

        def accepts(item: ast.stmt, runs: bool) -> bool:
            return relevant_text(item) if runs else "inplace" in segment(item)

        answers[class_node] = _Walk(units, accepts).reaches(class_node)
    return answers[class_node]


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_RUNS, _BUILDS = True, False


class _Walk:
    """What a module's `forward` runs and what builds the module, found by the names each
    item uses. A class reached runs its `forward` (a submodule's, a base class's through
    `super()`) and is built by its `__init__`, its class-level statements and the methods
    those call; any other method of it runs only where code that runs names it. An item
    that runs counts by its whole text; one that only builds counts only where it names
    `inplace` (a layer that writes in place when the forward calls it): its own writes
    (`nn.init.zeros_(self.fc.bias)`) are done before the forward runs. A function or method
    that building code refers to rather than calls (`self.act = helper`) may run later: it
    counts as running. Top-level classes, functions and assignments of this file are
    reached by name; methods, by name, among the classes reached."""

    def __init__(self, units: dict, accepts: Callable[[ast.stmt, bool], bool]) -> None:
        self.units, self.accepts = units, accepts
        self.walked: dict[int, bool] = {}  # id(item) -> how it was walked (_RUNS counts for both)
        self.waiting: list[tuple[ast.stmt, bool]] = []
        self.methods: dict[int, dict[str, ast.stmt]] = {}  # id() of each class reached -> its methods
        self.names: dict[bool, set[str]] = {_RUNS: set(), _BUILDS: set()}  # that reached code uses

    def reaches(self, class_node: ast.ClassDef) -> bool:
        self.add_class(class_node)
        while self.waiting:
            item, runs = self.waiting.pop()
            if self.walked.get(id(item)) in (runs, _RUNS):
                continue
            self.walked[id(item)] = runs
            if self.accepts(item, runs):
                return True
            called_only = names_called_only(item) if not runs else frozenset()
            for name in used_names(item):
                self.add_name(name, runs or name not in called_only)
        return False

    def add_class(self, node: ast.ClassDef) -> None:
        if id(node) in self.methods:
            return
        methods = self.methods[id(node)] = {item.name: item for item in node.body if isinstance(item, _FUNCTIONS)}
        self.waiting += [(item, _BUILDS) for item in node.body if not isinstance(item, _FUNCTIONS)]
        if "__init__" in methods:
            self.waiting.append((methods["__init__"], _BUILDS))
        if "forward" in methods:
            self.waiting.append((methods["forward"], _RUNS))
        for runs in (_BUILDS, _RUNS):  # what code reached so far names of it
            self.waiting += [(methods[name], runs) for name in self.names[runs] if name in methods]
        for base in node.bases:
            for name in used_names(base):
                self.add_name(name, _RUNS)

    def add_name(self, name: str, runs: bool) -> None:
        if name in self.names[runs]:
            return
        self.names[runs].add(name)
        self.waiting += [(methods[name], runs) for methods in self.methods.values() if name in methods]
        for unit in self.units.get(name, ()):
            if isinstance(unit, ast.ClassDef):
                self.add_class(unit)
            else:
                self.waiting.append((unit, runs))


def _units_by_name(tree: ast.Module) -> dict[str, list[ast.stmt]]:
    """The module's top-level statements by the names they bind: classes, functions and
    assignments (`ACT = partial(nn.ReLU, inplace=True)`)."""
    units: dict[str, list[ast.stmt]] = {}
    for statement in tree.body:
        if statement not in _BOUND:
            _BOUND[statement] = _bound_names(statement)
        for name in _BOUND[statement]:
            units.setdefault(name, []).append(statement)
    return units


_DEFINITIONS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_DEFINITION_KINDS = frozenset(_DEFINITIONS)


def _bound_names(statement: ast.stmt) -> list[str]:
    """What a top-level statement binds, also inside an `if` or `try` (a fallback definition).
    Walked with a stack of its own (ast.walk's generators cost twice as much: a module's
    configuration tables are large literals)."""
    if isinstance(statement, _DEFINITIONS):
        return [statement.name]
    names = []
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        kind = node.__class__
        if kind is ast.Name:
            if node.ctx.__class__ is ast.Store:
                names.append(node.id)
            continue
        if kind is ast.Constant:
            continue
        if kind in _DEFINITION_KINDS:
            names.append(node.name)
        for field in node._fields:
            value = getattr(node, field, None)
            if value.__class__ is list:
                stack.extend(item for item in value if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST):
                stack.append(value)
    return names
