"""Conditions on objects that are no literals, whose outcome the analysis still knows.

- `"neg_bias" in self.cfg`: a dict whose keys are known has that key;
- `if self.cfg:` / `if not cfg:`: a dict with a key is true;
- `hasattr(self.net, "hidden")`: an instance of a class of this file whose
  `__init__` assigns that attribute on every path has it.

Only presence is claimed: a dict handed to a call that is not followed may have
gained keys, so a missing key (an empty dict) proves nothing. conditions.py asks
these questions; a None answer means unknown.
"""

from __future__ import annotations

import ast

from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import dotted
from gradwatch.analysis.values import Mapping, Module


class NonEmpty:
    """A value whose truth is known to be True but that equals no literal (a dict with a key)."""

    def __bool__(self) -> bool:
        return True


NON_EMPTY = NonEmpty()


def _bound(node: ast.AST, state: State):
    path = dotted(node)
    return state.bindings.get(path) if path is not None else None


def truth(node: ast.AST, state: State):
    """NON_EMPTY when `node` names a dict that provably has a key, else None."""
    value = _bound(node, state)
    return NON_EMPTY if isinstance(value, Mapping) and value.entries else None


def contains(key, container: ast.AST, state: State) -> bool | None:
    """`key in container` when `key` (a literal) is among the known keys of the dict it names."""
    value = _bound(container, state)
    if isinstance(value, Mapping) and isinstance(key, (str, int)) and not isinstance(key, bool):
        if any(type(k) is type(key) and k == key for k, _ in value.entries):
            return True
    return None


def has_attribute(node: ast.Call, state: State) -> bool | None:
    """`hasattr(obj, "name")` for an instance of a class of this file that has `name`."""
    func = node.func
    if not (isinstance(func, ast.Name) and func.id == "hasattr") or func.id in state.bindings or func.id in state.outer:
        return None
    if len(node.args) != 2 or node.keywords:
        return None
    name = node.args[1]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return None
    value = _bound(node.args[0], state)
    if isinstance(value, Module) and value.user_class is not None and name.value in value.user_class.always_assigned:
        return True
    return None
