"""Loops: a loop body runs until its state stops changing (or a small bound), and
what crosses the back edge keeps the previous iteration's graph (iterations.py).

A mixin of the Interpreter (interpreter.py).
"""

from __future__ import annotations

import ast
import functools
import weakref

from gradwatch.analysis import freezing, module_dicts, python_builtins, unrolled
from gradwatch.analysis.conditions import fewest_iterations, has_continue
from gradwatch.analysis.state import State
from gradwatch.analysis.values import (
    CONSTANT,
    NO,
    UNKNOWN,
    UNKNOWN_VALUE,
    YES,
    JoinOf,
    Module,
    Parameters,
    Sequence,
    Tensor,
    join_all,
    join_items,
)

MAX_LOOP_ROUNDS = 4


class Loops:
    def exec_For(self, node: ast.For, state: State) -> None:
        iterable = self.eval(node.iter, state)
        children = _children_of_sequential(iterable)
        if children is not None:
            iterable = children  # `for layer in self.stack:` runs once per layer, in order
        if module_dicts.runs_no_iteration(self, node, state):
            if node.orelse and self.exec_block(node.orelse, state) is None:
                self.end_path()
            return
        if unrolled.can_unroll(self, node, iterable):
            unrolled.run(self, node, state, iterable.items)
            return
        element = UNKNOWN_VALUE
        if isinstance(iterable, Sequence):
            element = python_builtins.element_of(iterable)
        elif isinstance(iterable, Parameters):
            parameter = Tensor(
                requires_grad=freezing.parameters_flag(iterable.module), is_leaf=YES, storage=self.storage_for(node)
            )
            written = module_dicts.parameter_values(self, iterable.module)
            if written and any(value.is_leaf is not YES for value in written):
                # Tensors written into `_parameters` (a hand-made clone): each what it is.
                parameter = join_all(written)
            named = _iterates_named_parameters(node)
            element = Sequence((CONSTANT, parameter)) if named else parameter
            self._note_parameter_freezing(node, iterable, freezing.loop_parameter(node.target, named), state)
        fewest = fewest_iterations(node, state)
        if children is not None and not has_continue(node):
            fewest = max(fewest, len(children.items))
        most = _most_iterations(node, iterable)
        if most is not None and not has_continue(node):
            fewest = max(fewest, most)
        self.run_loop(node, state, lambda s: self.assign(node.target, element, s), fewest, most)

    exec_AsyncFor = exec_For

    def _note_parameter_freezing(self, node: ast.For, params: Parameters, parameter: str | None, state) -> None:
        """`for p in model.parameters(): p.requires_grad = False` changes what `model(x)` returns."""
        flag = freezing.loop_sets_flag(node, parameter)
        if flag is None or not isinstance(node.iter, ast.Call) or not isinstance(node.iter.func, ast.Attribute):
            return
        frozen = freezing.with_parameters_requiring(params.module, NO if flag is NO else UNKNOWN)
        freezing.bind_module(state, node.iter.func.value, frozen)

    def exec_While(self, node: ast.While, state: State) -> None:
        self.eval(node.test, state)
        self.run_loop(node, state, lambda s: self.eval(node.test, s))

    def run_loop(self, node, state: State, enter, fewest: int = 0, most: int | None = None) -> None:
        self.loops.append(node)
        try:
            self._run_loop(node, state, enter, fewest, most)
        finally:
            self.loops.pop()

    def _run_loop(self, node, state: State, enter, fewest: int, most: int | None = None) -> None:
        """`fewest`: how many iterations provably run (0: maybe none); `most`: how many
        at most, when known and below MAX_LOOP_ROUNDS (a single iteration has no back edge)."""
        entry = state.copy()
        head = state.copy()
        exits: list[State] = []
        ends: list[State] = []  # the end of the body in each round, before the back edge
        carried: State | None = None  # the ends after the back edge, joined
        dead = _bound_before_read(node)  # what an iteration leaves in these names cannot reach the next
        for _ in range(MAX_LOOP_ROUNDS if most is None else min(most, MAX_LOOP_ROUNDS)):
            self.loop_exits.append([])
            body_state = head.copy()
            enter(body_state)
            end = self.exec_block(node.body, body_state)
            exits = self.loop_exits.pop()
            if end is not None:
                ends.append(end)
                end, known_at_head = self.iterations.carried_over(end, (id(node), self.calls.call_string), head, dead)
                carried = end if carried is None else carried.join(end, JoinOf.ITERATIONS)
            new_head = head.join(end, JoinOf.ITERATIONS) if end is not None else head
            if end is not None:
                # What one iteration's backward freed is gone in the next one (a
                # graph built before the loop cannot be backpropagated twice), and
                # what the iteration built again is not.
                new_head.freed = dict(end.freed)
                new_head.clobbered.update(_clobbered_by_earlier_iterations(known_at_head, end))
            if new_head.same_as(head):
                break
            head = new_head
        after = _after_iterations(ends, fewest)
        if after is None:
            # Maybe no iteration at all: the entry's facts, or those after some iterations
            # (the head mixes both as iterations of one loop).
            after = entry.join(carried, JoinOf.LOOP_RAN) if carried is not None else entry.join(head)
        for exit_state in exits:
            after = after.join(exit_state)
        if node.orelse:
            end = self.exec_block(node.orelse, after.copy())
            after = end if end is not None else after
        state.become(after)


def _children_of_sequential(iterable) -> Sequence | None:
    """The layers of an `nn.Sequential` whose layers are all known (the first ones, and
    any number like `repeated`), else None."""
    if isinstance(iterable, Module) and iterable.is_container:  # an nn.Sequential, or a subclass
        if all(child is not None for child in iterable.children):
            each = functools.reduce(join_items, iterable.repeated) if iterable.repeated else None
            return Sequence(iterable.children, each=each)
    return None


def _clobbered_by_earlier_iterations(known_at_head: set, end: State) -> dict:
    """What the iteration clobbered among ops the loop head does not know at all (those
    of an earlier iteration: `opt.step()` after a backward that kept the graph). On the
    paths that reach the head without them the ops were never applied, so joining must
    not forget that they are clobbered wherever they were.

    `known_at_head`: every saved op the head knows of (Iterations.carried_over): one that
    saved a tensor, was clobbered, or is in the history of a value a name reaches."""
    return {op: why for op, why in end.clobbered.items() if op not in known_at_head}


def _after_iterations(ends: list[State], fewest: int) -> State | None:
    """The state after a loop whose body provably runs `fewest` > 0 times: the body's end
    in the rounds that include that many iterations (round k starts from the entry or
    any of k - 1 iterations). None when nothing is proved: the entry state then joins.

    The ends are taken before the back edge: the last iteration's tensors are not from
    an earlier one, so a value it made afresh carries no older facts."""
    if fewest < 1 or not ends:
        return None
    proved = ends[min(fewest, len(ends)) - 1 :]
    after = proved[0].copy()
    for end in proved[1:]:
        after = after.join(end, JoinOf.ITERATIONS)
    return after


def _most_iterations(node: ast.For, iterable) -> int | None:
    """At most how many times the body runs, when that is 0 or 1: a `range(...)` of at most
    one number (python_builtins), or a list or tuple of at most one known item that the
    body cannot change. Else None."""
    if isinstance(iterable, Sequence) and iterable.each is None and len(iterable.items) <= 1:
        if _iterates_a_fixed_list(node):
            return len(iterable.items)
    return None


def _iterates_a_fixed_list(node: ast.For) -> bool:
    """Whether the body cannot add to what the loop iterates: a literal, a `range(...)`, a
    slice (a new list), or a name the body does not mention."""
    iterated = node.iter
    if isinstance(iterated, (ast.Tuple, ast.List)):
        return True
    if isinstance(iterated, ast.Call):
        return isinstance(iterated.func, ast.Name) and iterated.func.id == "range"
    if isinstance(iterated, ast.Subscript):
        return isinstance(iterated.slice, ast.Slice)
    if isinstance(iterated, ast.Name):
        return not any(
            isinstance(n, ast.Name) and n.id == iterated.id for statement in node.body for n in ast.walk(statement)
        )
    return False


def _iterates_named_parameters(node: ast.For) -> bool:
    """`for name, p in model.named_parameters()`: each item is a (name, parameter) pair."""
    call = node.iter
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "named_parameters"


def _bound_before_read(node) -> frozenset:
    """Names every iteration binds before it reads them: the loop's target, and names that
    a statement at the top of the body assigns before any statement reads them. What they
    held at the end of an iteration cannot reach the next one. Walked once per loop: its
    body runs many times."""
    known = _BOUND_BEFORE_READ.get(node)
    if known is None:
        known = _BOUND_BEFORE_READ[node] = _walked_bound_before_read(node)
    return known


_BOUND_BEFORE_READ: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _walked_bound_before_read(node) -> frozenset:
    bound = set(_stored_names(node.target)) if isinstance(node, (ast.For, ast.AsyncFor)) else set()
    read: set[str] = set()
    for statement in node.body:
        read |= {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            bound |= {name for target in targets for name in _stored_names(target)} - read
        elif not isinstance(statement, ast.Expr):
            break  # a branch, a nested loop: what it binds is not bound on every path
    return frozenset(bound)


def _stored_names(target) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
