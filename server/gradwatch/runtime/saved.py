"""The tensors autograd saved for backward, recorded through `saved_tensors_hooks`.

`pack` runs inside every op that saves a tensor. It returns a `SavedTensor`
that autograd stores in place of the tensor, so the record lives exactly as
long as the graph node that needs it: when backward frees the graph, or the
graph is garbage, the record goes (the index refers to records by weak
reference only). The record holds a detached alias of the
tensor (same storage, same version counter, no `grad_fn`): holding the tensor
itself would, for an op's output, make a reference cycle through its
`grad_fn` that keeps every activation alive.

Installing the hooks turns off torch's own check of saved tensors' versions
(measured on torch 2.13: with any pair of hooks, `y = x.sigmoid(); y.add_(1)`
then backward no longer raises). The unpack hook (`Sentinel.on_unpack`)
therefore makes the same check and raises the same RuntimeError, now naming
the line that modified the tensor.
"""

from __future__ import annotations

import weakref
from sys import _getframe
from typing import Callable

from gradwatch.runtime.frames import Frames, Site

# Prune the index when it holds more storages than this (and twice as many as after the last pruning).
PRUNE_MINIMUM = 4096
BUCKET_PRUNE = 64


class SavedTensor:
    """One tensor an op saved, and what happened to it since."""

    __slots__ = (
        "tensor",
        "version",
        "storage",
        "producer",
        "output_nr",
        "saved_at",
        "modified_at",
        "modified_through_data",
        "__weakref__",
    )

    # Set by `pack` (no __init__: a Python-level call per saved tensor is a cost worth avoiding).
    tensor: object  # a detached alias: same storage and version counter, no grad_fn
    version: int
    storage: int | None  # the storage's address; None for storage-less tensors (sparse)
    producer: type | None  # the class of the autograd node that made it (torch names it by it), None: a leaf
    output_nr: int
    saved_at: Site | None
    # The first in-place write seen to change it; for a write through `.data`,
    # which torch cannot see, `modified_through_data` is set instead.
    modified_at: Site | None
    modified_through_data: Site | None

    def producer_name(self) -> str:
        return "a leaf tensor" if self.producer is None else f"output {self.output_nr} of {self.producer.__name__}"

    def describe_tensor(self) -> str:
        tensor = self.tensor
        return f"[{tensor.type()} {list(tensor.shape)}]"


class SavedTensors:
    """Live saved tensors, looked up by the address of their storage.

    The index holds weak references and is pruned in bulk (after each backward,
    and when it has doubled since the last pruning) rather than by a callback
    per record: the callbacks cost more than the pack itself.
    """

    def __init__(self, frames: Frames, on_unpack: Callable[[SavedTensor], object]) -> None:
        self.frames = frames
        self.walk = frames.walk
        self.by_storage: dict[int, list[weakref.ref]] = {}
        self.on_unpack = on_unpack
        self.hooks = None
        self.prune_at = PRUNE_MINIMUM

    # ---------------------------------------------------------------- hooks

    def pack(self, tensor) -> SavedTensor:
        record = SavedTensor()
        node = tensor.grad_fn
        record.producer = None if node is None else type(node)
        record.tensor = tensor.detach()
        record.version = tensor._version
        record.output_nr = tensor.output_nr
        record.saved_at = self.walk(_getframe(1))  # the frame that called the op, and up
        record.modified_at = record.modified_through_data = None
        try:
            storage = record.storage = tensor.untyped_storage().data_ptr()
        except Exception:  # sparse and other storage-less tensors: no write can be matched to them
            record.storage = None
            return record
        bucket = self.by_storage.get(storage)
        if bucket is None:
            self.by_storage[storage] = [weakref.ref(record)]
            if len(self.by_storage) > self.prune_at:
                self.prune()
        else:
            bucket.append(weakref.ref(record))
            if len(bucket) >= BUCKET_PRUNE and not len(bucket) & (len(bucket) - 1):
                # A tensor saved again and again (a weight, each forward without a
                # backward): drop the dead entries at each power of two.
                bucket[:] = [entry for entry in bucket if entry() is not None]
        return record

    def prune(self) -> None:
        """Forget the records whose graph is gone."""
        live = {}
        for storage, bucket in self.by_storage.items():
            kept = [entry for entry in bucket if entry() is not None]
            if kept:
                live[storage] = kept
        self.by_storage.clear()
        self.by_storage.update(live)  # the same dict: the write wrappers hold it
        self.prune_at = max(PRUNE_MINIMUM, 2 * len(live))

    # ---------------------------------------------------------------- queries

    def sharing_storage(self, storage: int) -> list[SavedTensor]:
        bucket = self.by_storage.get(storage)
        if not bucket:
            return []
        records = [entry() for entry in bucket]
        return [record for record in records if record is not None]

    def install(self) -> None:
        import torch

        self.hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, self.on_unpack)
        self.hooks.__enter__()

    def uninstall(self) -> None:
        if self.hooks is not None:
            self.hooks.__exit__(None, None, None)
            self.hooks = None
