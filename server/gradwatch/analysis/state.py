"""The interpreter's state at one program point, and how two states join."""

from __future__ import annotations

from dataclasses import dataclass, field

from gradwatch.analysis.values import (
    UNKNOWN_VALUE,
    YES,
    Reason,
    SavedOp,
    Tri,
    join_values,
)


@dataclass
class State:
    # Names and dotted attribute paths ("self.fc") -> abstract value.
    bindings: dict[str, object] = field(default_factory=dict)
    # Which applied ops saved a tensor with this storage for backward.
    saved_by: dict[int, frozenset[SavedOp]] = field(default_factory=dict)
    # Saved ops whose saved tensor an in-place op has modified since (must-facts:
    # kept after a branch only when both sides modified it).
    clobbered: dict[SavedOp, object] = field(default_factory=dict)
    grad_enabled: Tri = YES
    # The `with torch.no_grad()` (or decorator) that turned gradients off, for messages.
    grad_mode_reason: Reason | None = None
    # False while grad mode is only assumed: a function's caller may have turned it off.
    grad_mode_known: bool = True
    # First names of dotted keys ("self" for "self.fc"): rebinding one of these
    # must forget the dotted keys under it; rebinding anything else need not look.
    dotted_roots: set[str] = field(default_factory=set)

    def copy(self) -> State:
        return State(
            dict(self.bindings),
            dict(self.saved_by),
            dict(self.clobbered),
            self.grad_enabled,
            self.grad_mode_reason,
            self.grad_mode_known,
            set(self.dotted_roots),
        )

    def lookup(self, name: str):
        return self.bindings.get(name, UNKNOWN_VALUE)

    def bind(self, name: str, value) -> None:
        # Rebinding `a` forgets what was known about `a.b`.
        root = name.split(".", 1)[0]
        if root in self.dotted_roots:
            prefix = name + "."
            for key in [key for key in self.bindings if key.startswith(prefix)]:
                del self.bindings[key]
        if root != name:
            self.dotted_roots.add(root)
        self.bindings[name] = value

    def forget(self, name: str) -> None:
        self.bind(name, UNKNOWN_VALUE)

    def join(self, other: State) -> State:
        bindings = dict(self.bindings)
        for name, value in other.bindings.items():
            bindings[name] = join_values(bindings[name], value) if name in bindings else value
        saved_by = dict(self.saved_by)
        for storage, ops in other.saved_by.items():
            saved_by[storage] = saved_by.get(storage, frozenset()) | ops
        clobbered = {op: why for op, why in self.clobbered.items() if op in other.clobbered}
        grad_enabled = self.grad_enabled.join(other.grad_enabled)
        reason = self.grad_mode_reason if self.grad_mode_reason == other.grad_mode_reason else None
        known = self.grad_mode_known and other.grad_mode_known
        return State(bindings, saved_by, clobbered, grad_enabled, reason, known, self.dotted_roots | other.dotted_roots)

    def become(self, other: State) -> None:
        """Take over `other`'s facts (after a branch or loop joined into it)."""
        self.__dict__.update(other.__dict__)

    def same_as(self, other: State) -> bool:
        return (
            self.bindings == other.bindings
            and self.saved_by == other.saved_by
            and self.clobbered.keys() == other.clobbered.keys()
            and self.grad_enabled is other.grad_enabled
        )
