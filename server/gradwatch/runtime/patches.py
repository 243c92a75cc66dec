"""Attributes of torch that the sentinel replaces while the program runs, put back after."""

from __future__ import annotations


class Patches:
    def __init__(self) -> None:
        # (owner, name, the attribute it had, whether the owner itself had it) in the order replaced
        self._replaced: list[tuple[object, str, object, bool]] = []

    def replace(self, owner, name: str, replacement) -> None:
        """Set `owner.name` to `replacement`; one inherited from a base class is deleted again on restore."""
        owned = name in vars(owner)
        self._replaced.append((owner, name, getattr(owner, name) if owned else None, owned))
        setattr(owner, name, replacement)

    def restore(self) -> None:
        """Put every replaced attribute back, the last replaced first."""
        for owner, name, original, owned in reversed(self._replaced):
            if owned:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        self._replaced.clear()
