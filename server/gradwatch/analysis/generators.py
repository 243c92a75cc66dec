"""Generator functions (a `def` with `yield`): a call gives what iterating it yields.

A data loader written as a generator (`for data, label in loader(): ...`) hands
its batches to the loop; without this they would be unknown. The call runs the
body once, as a list comprehension is run, and its value is a list of unknown
length whose every item is any of the values its `yield`s gave. (Python runs the
body lazily, interleaved with the loop that consumes it; a loop over a list
built the same way sees the same values.) Whatever `yield from` passes on is
what iterating its operand gives.
"""

from __future__ import annotations

import ast
import weakref

from gradwatch.analysis.python_builtins import element_of
from gradwatch.analysis.values import UNKNOWN_VALUE, Constant, Sequence, join_all
from gradwatch.source import SourceText


# Asked at every call of a function: each body is walked once (weak keys: trees of old
# versions of a file go away with them).
_GENERATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_generator(function: ast.AST, source: SourceText) -> bool:
    """Whether `function`'s own body yields (a nested def's or lambda's yield is its own).
    Most functions are not generators: their text says so without a walk of their tree."""
    if function not in _GENERATORS:
        _GENERATORS[function] = "yield" in source.segment(function) and _yields(function)
    return _GENERATORS[function]


def _yields(function: ast.AST) -> bool:
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def items(yielded: list) -> Sequence:
    """The value of a generator call whose run yielded `yielded`."""
    return Sequence((), each=join_all(yielded))


def yield_value(ev, node: ast.Yield | ast.YieldFrom, state):
    """Runs a `yield` (or `yield from`) and records what it gives the consumer; the value
    sent back into the generator is unknown."""
    value = ev.eval(node.value, state) if node.value is not None else Constant()
    if isinstance(node, ast.YieldFrom):
        value = element_of(value)
    if ev.yielded is not None:
        ev.yielded.append(value)
    return UNKNOWN_VALUE
