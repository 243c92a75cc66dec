"""Conditions whose outcome the analysis knows: `if stride == 2:`, `if self.resize_identity:`.

A branch whose test is provably true or false runs alone, as Python runs it;
joining it with the branch that cannot run would blur what is known (a module
built with `activation='relu'` returns `F.relu(x)`, not "relu or x").

Only literal numbers, strings and bools bound to a name or attribute path in
the state count: no call is evaluated again, and a name bound in an outer scope
(a module-level flag another statement may have changed since) stays unknown.
Anything else is unknown and both branches run.
"""

from __future__ import annotations

import ast
import weakref
import operator

from gradwatch.analysis import integer_dtypes, object_conditions, python_builtins, type_conditions
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import dotted, inner_statements, literal_true
from gradwatch.analysis.values import NO, UNKNOWN, YES, Constant, Mapping, Module, Sequence, Tensor, Tri

_LITERALS = (bool, int, float, str)
_COMPARISONS = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_UNKNOWN = object()


def known_truth(test: ast.AST, state: State) -> bool | None:
    """True or False when `test` provably has that truth value here, else None."""
    value = _literal(test, state)
    if value is _UNKNOWN:
        return None
    return bool(value)


def known_int(node: ast.AST, state: State) -> int | None:
    """The int `node` provably is here (`-1`, a name bound to `3`), else None."""
    value = _literal(node, state)
    return value if type(value) is int else None


def _literal(node: ast.AST, state: State):
    """The Python value of `node` when it is a known literal, else _UNKNOWN."""
    if integer_dtypes.float_test_is_false(node, state):
        return False  # `if t.dtype.is_floating_point:` of an integer tensor
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, _LITERALS) else _UNKNOWN
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _bound_literal(node, state)
    if isinstance(node, ast.UnaryOp):
        operand = _literal(node.operand, state)
        if operand is _UNKNOWN:
            return _UNKNOWN
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(node.op, ast.USub) and isinstance(operand, (int, float)):
            return -operand
        return _UNKNOWN
    if isinstance(node, ast.BoolOp):
        return _bool_op(node, state)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARISONS:
        return _compare(node, state)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
        return _identity_with_none(node, state)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
        present = object_conditions.contains(_literal(node.left, state), node.comparators[0], state)
        return _UNKNOWN if present is None else present is isinstance(node.ops[0], ast.In)
    if isinstance(node, ast.Call) and type_conditions.is_instance(node, state) is not None:
        return type_conditions.is_instance(node, state)
    if isinstance(node, ast.Call):
        present = object_conditions.has_attribute(node, state)
        return _UNKNOWN if present is None else present
    return _UNKNOWN


def _bound_literal(node: ast.AST, state: State):
    path = dotted(node)
    value = state.bindings.get(path, _UNKNOWN) if path is not None else _UNKNOWN
    if value is _UNKNOWN and isinstance(node, ast.Attribute):
        value = _namespace_attribute(node, state)
    # Constant(value=None) also stands for "some number": None is never taken as known.
    if isinstance(value, Constant) and isinstance(value.value, _LITERALS):
        return value.value
    # A dict with a key is true (its value is no literal: comparisons stay unknown).
    truth = object_conditions.truth(node, state)
    return _UNKNOWN if truth is None else truth


def _namespace_attribute(node: ast.Attribute, state: State):
    """`opt.fix_encoder` of `opt = SimpleNamespace(fix_encoder=True)` bound in this scope."""
    path = dotted(node.value)
    owner = state.bindings.get(path) if path is not None else None
    if isinstance(owner, Module) and owner.kind in python_builtins.NAMESPACES:
        return owner.attribute(node.attr)
    return _UNKNOWN


def _bool_op(node: ast.BoolOp, state: State):
    """`a and b` / `a or b`, short-circuiting as Python does."""
    deciding = not isinstance(node.op, ast.And)  # `or` stops at a true operand, `and` at a false one
    for operand in node.values:
        value = _literal(operand, state)
        if value is _UNKNOWN:
            return _UNKNOWN
        if bool(value) is deciding:
            return value
    return value


def _identity_with_none(node: ast.Compare, state: State):
    """`x is None` / `x is not None` for a name or attribute path of this scope bound to
    the literal None (`self.cache = None`, a `state=None` default) or to a value that
    provably is an object: a tensor an op made (not a `.grad` read, which may be None),
    a module instance."""
    other = node.comparators[0]
    if not (isinstance(other, ast.Constant) and other.value is None):
        return _UNKNOWN
    path = dotted(node.left)
    value = state.bindings.get(path) if path is not None else None
    if isinstance(value, Constant) and value.none:
        is_none = True
    elif isinstance(value, (Module, Sequence)) or (isinstance(value, Constant) and value.value is not None) or (
        isinstance(value, Tensor)
        and (value.never_none or (value.known and (value.requires_grad is YES or value.is_leaf is NO)))
    ):
        is_none = False
    else:
        return _UNKNOWN
    return is_none if isinstance(node.ops[0], ast.Is) else not is_none


def _compare(node: ast.Compare, state: State):
    left = _literal(node.left, state)
    right = _literal(node.comparators[0], state)
    if left is _UNKNOWN or right is _UNKNOWN:
        return _UNKNOWN
    if not isinstance(left, _LITERALS) or not isinstance(right, _LITERALS):
        return _UNKNOWN  # an object known only to be true (object_conditions.NON_EMPTY)
    if isinstance(left, str) != isinstance(right, str):
        # Python compares a string and a number as unequal, and cannot order them.
        return _UNKNOWN
    return _COMPARISONS[type(node.ops[0])](left, right)


_CONTINUES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def has_continue(loop: ast.For) -> bool:
    """Whether the loop holds a `continue` (walked once per loop: its body runs many times)."""
    if loop not in _CONTINUES:
        _CONTINUES[loop] = any(isinstance(node, ast.Continue) for node in inner_statements(loop))
    return _CONTINUES[loop]


def fewest_iterations(loop: ast.For, state: State) -> int:
    """How many times a `for` loop's body provably runs at least: n for `range(n)` with
    a known n (b - a for `range(a, b)`), the length of a list or tuple written out; 0
    when unknown. A body with a `continue` is not claimed: that path never reaches the
    end of the body."""
    if has_continue(loop):
        return 0
    call = loop.iter
    if isinstance(call, (ast.List, ast.Tuple)):
        return 0 if any(isinstance(item, ast.Starred) for item in call.elts) else len(call.elts)
    if isinstance(call, (ast.Name, ast.Attribute)):
        return _dict_length(call, state)
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range"):
        return 0
    if call.keywords or not 1 <= len(call.args) <= 2 or "range" in state.bindings or "range" in state.outer:
        return 0
    bounds = [_literal(argument, state) for argument in call.args]
    if any(type(bound) is not int for bound in bounds):
        return 0
    start, stop = (0, bounds[0]) if len(bounds) == 1 else bounds
    return max(stop - start, 0)


def _dict_length(node: ast.AST, state: State) -> int:
    """How many keys the dict a name of this scope holds has, when all are known
    (`for key in loss_weights:` over `{"a": 1.0, "b": 0.5}`); else 0."""
    path = dotted(node)
    value = state.bindings.get(path) if path is not None else None
    return len(value.entries) if isinstance(value, Mapping) and value.complete else 0


def known_flag(node: ast.AST | None, state: State) -> Tri:
    """A boolean argument (`requires_grad=flag`): a literal, or a name or attribute bound
    to one here (`requires_grad=self.requires_grad`); absent is NO."""
    if node is None or isinstance(node, ast.Constant):
        return literal_true(node)
    value = _literal(node, state)
    return UNKNOWN if value is _UNKNOWN else Tri.of(bool(value))
