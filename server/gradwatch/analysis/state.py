"""The interpreter's state at one program point, and how two states join."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from gradwatch.analysis.syntax import dotted

from gradwatch.analysis.values import (
    JOINING,
    UNKNOWN_VALUE,
    YES,
    JoinOf,
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
    # Saved ops a backward without retain_graph=True has freed -> that Backward event.
    freed: dict[SavedOp, object] = field(default_factory=dict)
    grad_enabled: Tri = YES
    # The `with torch.no_grad()` (or decorator) that turned gradients off, for messages.
    grad_mode_reason: Reason | None = None
    # False while grad mode is only assumed: a function's caller may have turned it off.
    grad_mode_known: bool = True
    # Inside `torch.inference_mode()`: ops record no graph even where `enable_grad()` or
    # `set_grad_enabled(True)` turn grad mode back on (torch 2.13).
    inference_mode: bool = False
    # Every proper prefix of a dotted key ("self" and "self.fc" for "self.fc.weight"):
    # rebinding one of these must forget the keys under it; rebinding anything else
    # (`self.fc` while no key lies under it) need not look.
    dotted_prefixes: set[str] = field(default_factory=set)
    # The module's imports and classes, shared read-only by every function's
    # state instead of copied into each (copies made every join cost O(module)).
    outer: dict[str, object] = field(default_factory=dict)

    def copy(self) -> State:
        return self._with(
            bindings=dict(self.bindings),
            saved_by=dict(self.saved_by),
            clobbered=dict(self.clobbered),
            freed=dict(self.freed),
            dotted_prefixes=set(self.dotted_prefixes),
        )

    def _with(self, **changes) -> State:
        """A state like this one with `changes` (what dataclasses.replace does, without its
        per-call field checks: states are copied at every branch and call)."""
        state = object.__new__(State)
        state.__dict__ = {**self.__dict__, **changes}
        return state

    def lookup(self, name: str):
        value = self.bindings.get(name, _MISSING)
        return self.outer.get(name, UNKNOWN_VALUE) if value is _MISSING else value

    def bind(self, name: str, value) -> None:
        # Rebinding `a` forgets what was known about `a.b`.
        if name in self.dotted_prefixes:
            prefix = name + "."
            for key in [key for key in self.bindings if key.startswith(prefix)]:
                del self.bindings[key]
        owner = name.rpartition(".")[0]
        while owner and owner not in self.dotted_prefixes:  # a prefix's own prefixes are there
            self.dotted_prefixes.add(owner)
            owner = owner.rpartition(".")[0]
        self.bindings[name] = value

    def unbind(self, name: str) -> None:
        """`name` is again what `outer` (the module's imports and classes) makes it."""
        self.bind(name, None)  # forgets what was known about `name.x`
        del self.bindings[name]

    def bind_expression(self, node: ast.AST | None, value) -> None:
        """Bind `value` to what the expression names (`x`, `self.fc`); other
        expressions (`f().x`, `xs[0]`) name nothing to bind."""
        path = dotted(node)
        if path is not None:
            self.bind(path, value)

    def forget(self, name: str) -> None:
        self.bind(name, UNKNOWN_VALUE)

    def join(self, other: State, of: JoinOf = JoinOf.PATHS) -> State:
        """The facts on either path; `of`: how the two relate (values.JoinOf)."""
        bindings = dict(self.bindings)
        token = JOINING.set(of)
        try:
            for name, value in other.bindings.items():
                mine = bindings.get(name, _MISSING)
                if mine is not value:  # most names are untouched by a branch: same object
                    bindings[name] = value if mine is _MISSING else join_values(mine, value)
        finally:
            JOINING.reset(token)
        saved_by = dict(self.saved_by)
        for storage, ops in other.saved_by.items():
            saved_by[storage] = saved_by.get(storage, frozenset()) | ops
        return self._with(
            bindings=bindings,
            saved_by=saved_by,
            clobbered={op: why for op, why in self.clobbered.items() if op in other.clobbered},
            freed={key: why for key, why in self.freed.items() if key in other.freed},
            grad_enabled=self.grad_enabled.join(other.grad_enabled),
            grad_mode_reason=self.grad_mode_reason if self.grad_mode_reason == other.grad_mode_reason else None,
            grad_mode_known=self.grad_mode_known and other.grad_mode_known,
            inference_mode=self.inference_mode and other.inference_mode,
            dotted_prefixes=self.dotted_prefixes | other.dotted_prefixes,
        )

    def become(self, other: State) -> None:
        """Take over `other`'s facts (after a branch or loop joined into it)."""
        self.__dict__.update(other.__dict__)

    def same_as(self, other: State) -> bool:
        return (
            _same_bindings(self.bindings, other.bindings)
            and self.saved_by == other.saved_by
            and self.clobbered.keys() == other.clobbered.keys()
            and self.freed.keys() == other.freed.keys()
            and self.grad_enabled is other.grad_enabled
        )


_MISSING = object()


def same_facts(a: State, b: State) -> bool:
    """Whether every fact of `a` equals `b`'s (their outer names aside): a statement run from
    either leaves the same events and state."""
    return (
        _same_bindings(a.bindings, b.bindings)
        and a.saved_by == b.saved_by
        and a.clobbered == b.clobbered
        and a.freed == b.freed
        and a.grad_enabled is b.grad_enabled
        and a.grad_mode_reason == b.grad_mode_reason
        and a.grad_mode_known == b.grad_mode_known
        and a.inference_mode == b.inference_mode
        and a.dotted_prefixes == b.dotted_prefixes
    )


def _same_bindings(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(value is b[name] or value == b[name] for name, value in a.items())
