"""Loop iterations: what crosses a loop's back edge keeps the previous iteration's graph.

The same line run again makes a new tensor and saves new tensors: neither is
the one of the previous iteration. At the back edge of a loop every tensor
identity (storage) and every saved op in the state is marked as coming from an
earlier iteration of that loop, so that a value carried into the next
iteration (`h = rnn(x, h)`, a running total) still depends on the graph a
backward freed there and on what an in-place op modified, while what the next
iteration computes afresh does not. Marks are per loop: an inner loop's
carried values, made again in the next iteration of an outer loop, are new.
"""

from __future__ import annotations

import operator
from dataclasses import replace

from gradwatch.analysis import distributions
from gradwatch.analysis.state import State
from gradwatch.analysis.values import Distribution, Mapping, Module, Optimizer, SavedOp, Sequence, Tensor, new_storage


class Iterations:
    """Identities of tensors made in an earlier iteration, stable across fixpoint rounds."""

    def __init__(self) -> None:
        self._storages: dict[tuple[int, frozenset], int] = {}
        self._origins: dict[int, tuple[int, frozenset]] = {}
        # What each container value reaches, by identity: the same objects (`self`, its
        # submodules) are walked again at every round of every loop. Values are immutable;
        # each entry keeps its value alive, so that its id is not reused.
        self._reached: dict[int, tuple[object, _Reached]] = {}

    def carried_over(self, state: State, loop, start: State, dead: frozenset = frozenset()) -> tuple[State, set[SavedOp]]:
        """`state` as the next iteration of `loop` (a hashable identity) starts with it;
        `start` is the state the iteration started from. Also every saved op `start`
        knows of, found by the same walk over its values: one that saved a tensor, was
        clobbered, or is in the history of a value a name reaches (on the paths of
        `start`, any other op was never applied).

        Only names the iteration bound anew can hold what it made; the others are
        the same objects in every iteration and keep their identities. Facts about
        tensors no name can reach any more are dropped: nothing later can modify or
        backpropagate them (and they would grow with every iteration). What a backward
        freed stays freed only where a value the next iteration can read reaches it: not
        through names in `dead`, which the body binds anew before it reads them."""
        rebound = {name for name, value in state.bindings.items() if start.bindings.get(name) is not value}
        kept_storages, kept_ops, kept_parameters = self._reachable(
            value for name, value in state.bindings.items() if name not in rebound
        )
        new_storages, new_ops, new_parameters = self._reachable(state.bindings[name] for name in rebound)
        # What the iteration started with: the kept values (the same objects) and what
        # names it rebound or dropped held then.
        replaced, replaced_ops, _ = self._reachable(
            value for name, value in start.bindings.items() if name in rebound or name not in state.bindings
        )
        storages, ops = kept_storages | new_storages, kept_ops | new_ops
        # Saved ops that existed when the iteration started were not made by it (they
        # come from before the loop, or from an earlier loop over the same parameters):
        # relabelling them too would double them at every loop of a program.
        before = set().union(*start.saved_by.values())
        known_at_start = (kept_ops | replaced_ops | before).union(start.clobbered)
        # Likewise a tensor that existed when the iteration started and that it only
        # modified in place (`b[i] = ...`): the next iteration modifies the same memory.
        relabel = _Relabel(self, loop, kept_storages | new_parameters | replaced, kept_ops | before)
        carried = state.copy()
        carried.bindings = {
            name: relabel.value(value) if name in rebound else value for name, value in state.bindings.items()
        }
        carried.saved_by = {
            relabel.storage(storage): relabel.ops(saved)
            for storage, saved in state.saved_by.items()
            if storage in storages
        }
        live_ops = ops.union(*state.saved_by.values()) if storages else ops
        carried.clobbered = {relabel.op(op): why for op, why in state.clobbered.items() if op in live_ops}
        readable = ops if not dead else self._reachable(
            value for name, value in state.bindings.items() if name.split(".", 1)[0] not in dead
        )[1]
        carried.freed = {relabel.op(op): why for op, why in state.freed.items() if op in live_ops and op in readable}
        return carried, known_at_start

    def earlier(self, storage: int, loop) -> int:
        origin, loops = self._origins.get(storage, (storage, frozenset()))
        if loop in loops:
            return storage
        key = (origin, loops | {loop})
        relabelled = self._storages.get(key)
        if relabelled is None:
            relabelled = self._storages[key] = new_storage()
            self._origins[relabelled] = key
        return relabelled


    def _reachable(self, values) -> tuple[set[int], set[SavedOp], set[int]]:
        """The storages and saved ops that the values (and what they hold) refer to, and
        the storages of parameters (modules' and optimizers'), which are the same
        tensors in every iteration."""
        reached = _Reached()
        for value in values:
            self._add_reached(reached, value)
        return reached.storages | reached.parameters, reached.ops, reached.parameters

    def _add_reached(self, reached: _Reached, value) -> None:
        if isinstance(value, Tensor):
            if value.storage is not None:
                reached.storages.add(value.storage)
            reached.ops |= value.history
        elif isinstance(value, (Sequence, Module, Mapping, Distribution)):
            reached.update(self._reached_by(value))
        elif isinstance(value, Optimizer):
            reached.parameters |= value.parameters

    def _reached_by(self, container) -> _Reached:
        known = self._reached.get(id(container))
        if known is None:
            reached = _Reached()
            if isinstance(container, Module):
                reached.parameters.update(storage for _, storage in container.parameter_storages)
            for value in _held_by(container):
                self._add_reached(reached, value)
            if isinstance(container, Distribution):
                reached.ops |= container.shared
            known = self._reached[id(container)] = (container, reached)
        return known[1]


class _Reached:
    def __init__(self) -> None:
        self.storages: set[int] = set()
        self.ops: set[SavedOp] = set()
        self.parameters: set[int] = set()

    def update(self, other: _Reached) -> None:
        self.storages |= other.storages
        self.ops |= other.ops
        self.parameters |= other.parameters


def _held_by(container) -> list:
    """The values a Sequence, Module, Mapping or Distribution holds (a module's children are also its attributes)."""
    if isinstance(container, Distribution):
        return list(container.parameters)
    if isinstance(container, Sequence):
        return [*container.items, *([container.each] if container.each is not None else [])]
    if isinstance(container, Module):
        return list(container.held)
    return [*(value for _, value in container.entries), *([container.extra] if container.extra is not None else [])]


class _Relabel:
    def __init__(self, iterations: Iterations, loop, kept_storages: set[int], kept_ops: set[SavedOp]) -> None:
        """Identities in `kept_storages` and `kept_ops` (parameters; what names the
        iteration did not rebind refer to; what it did not make) stay as they are."""
        self.iterations = iterations
        self.loop = loop
        self.kept_storages = kept_storages
        self.kept_ops = kept_ops
        self._ops: dict[SavedOp, SavedOp] = {}
        # What op() and ops() returned, by the identity of their argument: the same objects
        # recur in many values' histories and in saved_by, and hashing or comparing a SavedOp
        # costs Python calls (a third of a run on a call inside nested loops). Each entry keeps
        # its key object alive, so that its id is not reused while this relabelling lasts.
        self._op_by_id: dict[int, tuple[SavedOp, SavedOp]] = {}
        self._ops_by_id: dict[int, tuple[frozenset, frozenset]] = {}

    def storage(self, storage: int | None) -> int | None:
        if storage is None or storage in self.kept_storages:
            return storage
        return self.iterations.earlier(storage, self.loop)

    def op(self, op: SavedOp) -> SavedOp:
        known = self._op_by_id.get(id(op))
        if known is None:
            known = self._op_by_id[id(op)] = (op, self._relabelled(op))
        return known[1]

    def ops(self, ops: frozenset[SavedOp]) -> frozenset[SavedOp]:
        """`ops` relabelled; the very same set when none of them changes."""
        known = self._ops_by_id.get(id(ops))
        if known is None:
            relabelled = tuple(map(self.op, ops))
            unchanged = all(map(operator.is_, relabelled, ops))  # a set iterates in the same order again
            known = self._ops_by_id[id(ops)] = (ops, ops if unchanged else frozenset(relabelled))
        return known[1]

    def _relabelled(self, op: SavedOp) -> SavedOp:
        if self.loop in op.earlier or op in self.kept_ops:
            return op
        relabelled = self._ops.get(op)
        if relabelled is None:
            relabelled = self._ops[op] = replace(
                op, earlier=op.earlier | {self.loop}, saved=frozenset(map(self.storage, op.saved))
            )
        return relabelled


    def value(self, value):
        if isinstance(value, Tensor):
            # `deps` (what it was computed from, for messages) keeps the identities it had.
            return value.but(
                storage=self.storage(value.storage), history=self.ops(value.history), uncertain=self.ops(value.uncertain)
            )
        if isinstance(value, Sequence):
            each = self.value(value.each) if value.each is not None else None
            return Sequence(tuple(map(self.value, value.items)), each=each)
        if isinstance(value, Mapping):
            extra = self.value(value.extra) if value.extra is not None else None
            return Mapping(tuple((key, self.value(v)) for key, v in value.entries), value.complete, extra)
        if isinstance(value, Module) and value.attributes:
            return replace(value, attributes=tuple((name, self.value(v)) for name, v in value.attributes))
        if isinstance(value, Distribution):
            return distributions.relabelled(value, self.value, self.ops)
        return value
