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

from dataclasses import replace

from gradwatch.analysis.state import State
from gradwatch.analysis.values import Mapping, Module, Optimizer, SavedOp, Sequence, Tensor, new_storage


class Iterations:
    """Identities of tensors made in an earlier iteration, stable across fixpoint rounds."""

    def __init__(self) -> None:
        self._storages: dict[tuple[int, frozenset], int] = {}
        self._origins: dict[int, tuple[int, frozenset]] = {}

    def carried_over(self, state: State, loop, start: State) -> State:
        """`state` as the next iteration of `loop` (a hashable identity) starts with it;
        `start` is the state the iteration started from.

        Only names the iteration bound anew can hold what it made; the others are
        the same objects in every iteration and keep their identities. Facts about
        tensors no name can reach any more are dropped: nothing later can modify or
        backpropagate them (and they would grow with every iteration)."""
        rebound = {name for name, value in state.bindings.items() if start.bindings.get(name) is not value}
        kept_storages, kept_ops, kept_parameters = _reachable(
            value for name, value in state.bindings.items() if name not in rebound
        )
        new_storages, new_ops, new_parameters = _reachable(state.bindings[name] for name in rebound)
        # What the iteration started with: the kept values (the same objects) and what
        # names it rebound or dropped held then.
        replaced, _, _ = _reachable(
            value for name, value in start.bindings.items() if name in rebound or name not in state.bindings
        )
        storages, ops = kept_storages | new_storages, kept_ops | new_ops
        # Saved ops that existed when the iteration started were not made by it (they
        # come from before the loop, or from an earlier loop over the same parameters):
        # relabelling them too would double them at every loop of a program.
        before = set().union(*start.saved_by.values())
        # Likewise a tensor that existed when the iteration started and that it only
        # modified in place (`b[i] = ...`): the next iteration modifies the same memory.
        relabel = _Relabel(self, loop, kept_storages | new_parameters | replaced, kept_ops | before)
        carried = state.copy()
        carried.bindings = {
            name: relabel.value(value) if name in rebound else value for name, value in state.bindings.items()
        }
        carried.saved_by = {
            relabel.storage(storage): frozenset(map(relabel.op, saved))
            for storage, saved in state.saved_by.items()
            if storage in storages
        }
        live_ops = ops.union(*state.saved_by.values()) if storages else ops
        carried.clobbered = {relabel.op(op): why for op, why in state.clobbered.items() if op in live_ops}
        carried.freed = {
            relabel.part(part): why
            for part, why in state.freed.items()
            if (part in live_ops if isinstance(part, SavedOp) else part[1] in storages)
        }
        return carried

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


def known_ops(state: State) -> set[SavedOp]:
    """Every saved op the state knows of: one that saved a tensor, was clobbered, or is in
    the history of a value a name reaches. On the paths of this state, any other op was
    never applied."""
    _, ops, _ = _reachable(state.bindings.values())
    return ops.union(*state.saved_by.values(), state.clobbered)


def _reachable(values) -> tuple[set[int], set[SavedOp], set[int]]:
    """The storages and saved ops that the values (and what they hold) refer to, and
    the storages of parameters (modules' and optimizers'), which are the same
    tensors in every iteration."""
    storages: set[int] = set()
    parameters: set[int] = set()
    ops: set[SavedOp] = set()
    stack = list(values)
    visited: set[int] = set()  # containers by identity: a module's children are also its attributes
    while stack:
        value = stack.pop()
        if isinstance(value, (Sequence, Module, Mapping)):
            if id(value) in visited:
                continue
            visited.add(id(value))
        if isinstance(value, Tensor):
            if value.storage is not None:
                storages.add(value.storage)
            ops |= value.history
        elif isinstance(value, Sequence):
            stack.extend(value.items)
            if value.each is not None:
                stack.append(value.each)
        elif isinstance(value, Module):
            parameters.update(storage for _, storage in value.parameter_storages)
            stack.extend(value.children)
            stack.extend(v for _, v in value.attributes)
        elif isinstance(value, Mapping):
            stack.extend(v for _, v in value.entries)
        elif isinstance(value, Optimizer):
            parameters |= value.parameters
    return storages | parameters, ops, parameters


class _Relabel:
    def __init__(self, iterations: Iterations, loop, kept_storages: set[int], kept_ops: set[SavedOp]) -> None:
        """Identities in `kept_storages` and `kept_ops` (parameters; what names the
        iteration did not rebind refer to; what it did not make) stay as they are."""
        self.iterations = iterations
        self.loop = loop
        self.kept_storages = kept_storages
        self.kept_ops = kept_ops
        self._ops: dict[SavedOp, SavedOp] = {}

    def storage(self, storage: int | None) -> int | None:
        if storage is None or storage in self.kept_storages:
            return storage
        return self.iterations.earlier(storage, self.loop)

    def op(self, op: SavedOp) -> SavedOp:
        if self.loop in op.earlier or op in self.kept_ops:
            return op
        relabelled = self._ops.get(op)
        if relabelled is None:
            relabelled = self._ops[op] = replace(
                op, earlier=op.earlier | {self.loop}, saved=frozenset(map(self.storage, op.saved))
            )
        return relabelled

    def part(self, part):
        """A key of State.freed: a saved op, or ("graph", storage)."""
        if isinstance(part, SavedOp):
            return self.op(part)
        return (part[0], self.storage(part[1]))

    def value(self, value):
        if isinstance(value, Tensor):
            # `deps` (what it was computed from, for messages) keeps the identities it had.
            return value.but(storage=self.storage(value.storage), history=frozenset(map(self.op, value.history)))
        if isinstance(value, Sequence):
            each = self.value(value.each) if value.each is not None else None
            return Sequence(tuple(map(self.value, value.items)), each=each)
        if isinstance(value, Mapping):
            return Mapping(tuple((key, self.value(v)) for key, v in value.entries), value.complete)
        if isinstance(value, Module) and value.attributes:
            return replace(value, attributes=tuple((name, self.value(v)) for name, v in value.attributes))
        return value
