"""Whether a module's `forward` is worth analysing on its own.

A module's `forward` is analysed as if its result were backpropagated, which is
where an in-place op in it breaks backward (GW201) or a hint applies (GW203).
Its own text may name no such op while code it runs does: a submodule its class
builds with `inplace=True`, a helper of the file whose body writes in place, a
base class's method. Those are found by name: the forward's class (all its
methods and its bases) and, transitively, every class, function and module-level
assignment of this file that a reached text names. When none of those texts can
make an event (the interpreter's `_is_relevant`), running the forward would find
nothing, and on model libraries it is most of the work.

Code of other files is not reached: what it does in place is not reported here
(the events of another file's lines are that file's findings).
"""

from __future__ import annotations

import ast
import weakref
from typing import Callable

from gradwatch.analysis.syntax import used_names

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
    """Whether code `class_node`'s methods may run in this file has a text `relevant` accepts."""
    known = _PER_TREE.get(tree)
    if known is None:
        known = _PER_TREE[tree] = (_units_by_name(tree), {})
    units, answers = known
    if class_node not in answers:

        def relevant_text(unit: ast.stmt) -> bool:  # a helper many classes name is read once
            if unit not in _RELEVANT:
                _RELEVANT[unit] = relevant(segment(unit))
            return _RELEVANT[unit]

        answers[class_node] = _reaches_relevant_text(class_node, units, relevant_text)
    return answers[class_node]


def _reaches_relevant_text(start: ast.ClassDef, units: dict, relevant_text) -> bool:
    seen = {id(start)}
    waiting = [start]
    while waiting:
        unit = waiting.pop()
        if relevant_text(unit):
            return True
        for name in used_names(unit):
            for other in units.get(name, ()):
                if id(other) not in seen:
                    seen.add(id(other))
                    waiting.append(other)
    return False


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


def _bound_names(statement: ast.stmt) -> list[str]:
    """What a top-level statement binds, also inside an `if` or `try` (a fallback definition)."""
    if isinstance(statement, _DEFINITIONS):
        return [statement.name]
    return [
        node.name if isinstance(node, _DEFINITIONS) else node.id
        for node in ast.walk(statement)
        if isinstance(node, _DEFINITIONS) or (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store))
    ]
