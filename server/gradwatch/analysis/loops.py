"""Loops: a loop body runs until its state stops changing (or a small bound), and
what crosses the back edge keeps the previous iteration's graph (iterations.py).

A mixin of the Interpreter (interpreter.py).
"""

from __future__ import annotations

import ast
from dataclasses import replace

from gradwatch.analysis import python_builtins
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import dotted, literal_true
from gradwatch.analysis.values import NO, UNKNOWN, UNKNOWN_VALUE, YES, Parameters, Sequence, Tensor

MAX_LOOP_ROUNDS = 4


class Loops:
    def exec_For(self, node: ast.For, state: State) -> None:
        iterable = self.eval(node.iter, state)
        element = UNKNOWN_VALUE
        if isinstance(iterable, Sequence):
            element = python_builtins.element_of(iterable)
        elif isinstance(iterable, Parameters):
            element = Tensor(
                requires_grad=iterable.module.params_require_grad, is_leaf=YES, storage=self.storage_for(node)
            )
            self._note_parameter_freezing(node, iterable, state)
        self.run_loop(node, state, lambda s: self.assign(node.target, element, s))

    exec_AsyncFor = exec_For

    def _note_parameter_freezing(self, node: ast.For, params: Parameters, state: State) -> None:
        """`for p in model.parameters(): p.requires_grad = False` changes what `model(x)` returns."""
        for child in ast.walk(node):
            flag = None
            if isinstance(child, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in child.targets
            ):
                flag = literal_true(child.value)
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "requires_grad_"
            ):
                flag = literal_true(child.args[0]) if child.args else YES
            if flag is not None:
                # Only an unconditional `p.requires_grad = False` freezes them all;
                # one under an `if` (freeze all but the head) leaves it unknown.
                unconditional = any(child is stmt or child is getattr(stmt, "value", None) for stmt in node.body)
                if not unconditional:
                    flag = UNKNOWN
                owner = (
                    node.iter.func.value
                    if isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Attribute)
                    else None
                )
                path = dotted(owner) if owner is not None else None
                if path is not None:
                    state.bind(path, replace(params.module, params_require_grad=UNKNOWN if flag is not NO else NO))
                return

    def exec_While(self, node: ast.While, state: State) -> None:
        self.eval(node.test, state)
        self.run_loop(node, state, lambda s: self.eval(node.test, s))

    def run_loop(self, node, state: State, enter) -> None:
        self.loops.append(node)
        try:
            self._run_loop(node, state, enter)
        finally:
            self.loops.pop()

    def _run_loop(self, node, state: State, enter) -> None:
        entry = state.copy()
        head = state.copy()
        exits: list[State] = []
        for _ in range(MAX_LOOP_ROUNDS):
            self.loop_exits.append([])
            body_state = head.copy()
            enter(body_state)
            end = self.exec_block(node.body, body_state)
            exits = self.loop_exits.pop()
            if end is not None:
                end = self.iterations.carried_over(end, (id(node), self.calls.call_string), head)
            new_head = head.join(end) if end is not None else head
            if end is not None:
                # What one iteration's backward freed is gone in the next one (a
                # graph built before the loop cannot be backpropagated twice), and
                # what the iteration built again is not.
                new_head.freed = dict(end.freed)
            if new_head.same_as(head):
                break
            head = new_head
        after = entry.join(head)
        for exit_state in exits:
            after = after.join(exit_state)
        if node.orelse:
            end = self.exec_block(node.orelse, after.copy())
            after = end if end is not None else after
        state.become(after)
