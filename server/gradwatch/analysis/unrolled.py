"""Loops over a short list whose items are known: run once per item, in order.

`for name, value in {"loss": loss, "lr": lr}.items()` runs its body with the
loss, then with the learning rate: joining the two into "a tensor or something
unknown" would lose what each iteration does with its own item. The body runs
as Python runs it, once per item, with the state flowing from one iteration to
the next; each iteration's tensors and events are qualified by the item, as
those of two calls are (Evaluator.unrolled), so nothing one iteration makes is
taken for what another made.
"""

from __future__ import annotations

import ast

from gradwatch.analysis.values import Sequence

MAX_ITEMS = 6
MAX_NESTING = 2  # unrolled loops inside unrolled loops of one function: the body runs items ** nesting times


def can_unroll(ev, node: ast.For, iterable) -> bool:
    """A list or tuple of a few known, not all equal items (equal ones gain nothing over
    the ordinary loop), and a body that leaves no iteration early (`continue`, `break`)."""
    if not isinstance(iterable, Sequence) or iterable.each is not None:
        return False
    items = iterable.items
    if not 1 < len(items) <= MAX_ITEMS or all(item == items[0] for item in items[1:]):
        return False
    if len(ev.unrolled) - ev.unrolled_floor >= MAX_NESTING:  # nesting within one function
        return False
    return not any(isinstance(child, (ast.Break, ast.Continue)) for child in _statements(node))


def run(ev, node: ast.For, state, items: tuple) -> None:
    """Runs the loop on `state`, one iteration per item (ev is the Interpreter)."""
    ev.loops.append(node)
    try:
        for index, item in enumerate(items):
            outer = ev.unrolled
            ev.unrolled = (*outer, (id(node), index))
            try:
                ev.assign(node.target, item, state)
                end = ev.exec_block(node.body, state)
            finally:
                ev.unrolled = outer
            if end is None:
                ev.end_path()  # every path of this iteration returned or raised
    finally:
        ev.loops.pop()
    if node.orelse and ev.exec_block(node.orelse, state) is None:
        ev.end_path()


def _statements(node: ast.For):
    """Every statement of the loop's body and else, not those of a def or class in it."""
    stack = [*node.body, *node.orelse]
    while stack:
        statement = stack.pop()
        yield statement
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend(child for child in getattr(statement, field, ()) if isinstance(child, ast.AST))
