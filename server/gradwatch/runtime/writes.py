"""Sees in-place writes by wrapping the functions that perform them.

Why wrappers and not a `TorchFunctionMode`: a mode is called for every torch
function, and measured on torch 2.13 (CPU) a mode that only looks up the
function's name in a set already costs 1.6x a training step of a small MLP
(1.35x a small CNN; see benchmarks/README.md).
Wrapping only the functions that can write (names ending in `_`, the in-place
operators, `__setitem__`) costs nothing on the others, and the wrappers do
nothing but call through while no saved tensor is alive (after backward freed
the graph, e.g. during `optimizer.step()`).

The entry points, found by name in the installed torch:

- `Tensor` methods `add_`, `mul_`, `copy_`, `zero_`, ... and `x += y` (`__iadd__`
  and the other in-place operators) and `x[i] = v` (`__setitem__`); a write
  through `.data` is a write to a `Tensor` too (`y.data.mul_(2)`);
- functions `torch.relu_`, `torch._foreach_add_` (optimizers), and the ones
  `inplace=True` functionals call: `torch.relu_`, `torch._VF.dropout_`,
  `torch._C._nn.leaky_relu_`, ..., and `torch.nn.functional.relu_`.

Not seen: `out=` arguments and writes made inside C++ (they still bump the
version counter, so backward still finds the modified tensor; only the
culprit line is then unknown).

A write is judged by version counters, not by names: after the call, a saved
tensor on the written storage whose version moved was modified (what torch
checks at backward); one whose version did not move while the written
tensor's did was changed through `.data`, which torch cannot detect.
"""

from __future__ import annotations

from typing import Callable

from gradwatch.runtime.frames import Frames, Site
from gradwatch.runtime.patches import Patches
from gradwatch.runtime.saved import SavedTensor, SavedTensors

INPLACE_OPERATORS = (
    "__setitem__",
    "__iadd__",
    "__isub__",
    "__imul__",
    "__itruediv__",
    "__idiv__",
    "__ifloordiv__",
    "__imod__",
    "__ipow__",
    "__imatmul__",
    "__iand__",
    "__ior__",
    "__ixor__",
    "__ilshift__",
    "__irshift__",
)
# Named like in-place ops, but they change flags or sharing, never values.
NOT_WRITES = frozenset({"requires_grad_", "share_memory_", "detach_"})

OnModified = Callable[[SavedTensor, Site | None, bool], None]


def _inplace_names(owner, private: bool) -> list[str]:
    names = []
    for name in dir(owner):
        if not name.endswith("_") or name.startswith("__") or name in NOT_WRITES:
            continue
        if name.startswith("_") and not private:
            continue
        if callable(getattr(owner, name, None)):
            names.append(name)
    return names


def write_entry_points() -> list[tuple[object, str]]:
    """(owner, attribute name) of every function that writes a tensor in place."""
    import torch
    import torch.nn.functional as functional

    points = [(torch.Tensor, name) for name in _inplace_names(torch.Tensor, private=False)]
    points += [(torch.Tensor, name) for name in INPLACE_OPERATORS if hasattr(torch.Tensor, name)]
    points += [(torch, name) for name in _inplace_names(torch, private=True)]
    # `torch._VF` forwards attribute reads to this class; setting one on it shadows the forward.
    points += [(torch._VF, name) for name in _inplace_names(torch._C._VariableFunctions, private=False)]
    points += [(torch._C._nn, name) for name in _inplace_names(torch._C._nn, private=False)]
    points += [(functional, name) for name in _inplace_names(functional, private=False)]
    return points


class WriteWatch:
    def __init__(self, frames: Frames, saved: SavedTensors, on_modified: OnModified) -> None:
        self.frames = frames
        self.saved = saved
        self.on_modified = on_modified
        self.patches = Patches()

    def install(self) -> None:
        for owner, name in write_entry_points():
            self.patches.replace(owner, name, self._wrap(getattr(owner, name)))

    def uninstall(self) -> None:
        self.patches.restore()

    def _wrap(self, original):
        live = self.saved.by_storage
        storage_key = self.saved.storage_key
        watched_targets = self._watched
        after = self._after

        def write(*args, **kwargs):
            if not live:  # nothing saved for backward is alive: nothing to clobber
                return original(*args, **kwargs)
            target = args[0] if args else kwargs.get("input", kwargs.get("self"))
            if type(target) is not list and type(target) is not tuple:
                # The common case, a write to a storage nothing saved: no lists, no records.
                try:
                    if storage_key(target) not in live:
                        return original(*args, **kwargs)
                except Exception:  # not a tensor, or one without storage (sparse, meta)
                    return original(*args, **kwargs)
            watched = watched_targets(target)
            result = original(*args, **kwargs)
            if watched:
                after(watched)
            return result

        write.__wrapped__ = original  # type: ignore[attr-defined]
        write.__name__ = getattr(original, "__name__", "write")
        write.__doc__ = getattr(original, "__doc__", None)
        return write

    def _watched(self, target) -> list:
        """(tensor, its version, saved tensors on its storage) for each written tensor."""
        if isinstance(target, (list, tuple)):  # torch._foreach_*_
            return [item for each in target for item in self._watched(each)]
        try:
            storage = self.saved.storage_key(target)
        except Exception:  # not a tensor, or one without storage (sparse, meta)
            return []
        records = self.saved.sharing_storage(storage)
        return [(target, target._version, records)] if records else []

    def _after(self, watched: list) -> None:
        site = None
        for tensor, version_before, records in watched:
            written = tensor._version != version_before
            for record in records:
                modified_at, through_data = record.modified()
                if record.tensor._version != record.version:
                    if record.producer is None:
                        # Held as itself (no grad_fn when saved): the write may have given it one,
                        # whose graph could lead back to the record; an alias breaks that cycle.
                        record.tensor = record.tensor.detach()
                    if modified_at is None:
                        site = site or self.frames.capture(0)
                        record.modified_at = site
                        self.on_modified(record, site, False)
                elif written and through_data is None:
                    site = site or self.frames.capture(0)
                    record.modified_through_data = site
                    self.saved.marked.add(id(record))
                    self.on_modified(record, site, True)
