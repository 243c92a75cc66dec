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

from gradwatch.runtime.frames import SLOW, Frames, Site

# Prune the index when it holds more storages than this (and twice as many as after the last pruning).
PRUNE_MINIMUM = 4096
BUCKET_PRUNE = 64


def storage_key_function() -> Callable[[object], int]:
    """tensor -> the address of its storage (the same for all its views); raises for tensors
    without one (sparse). `torch._C._storage_address` reads it without making a storage object
    (55 ns against 100 to 170 ns for `untyped_storage().data_ptr()`, on the hot path of every
    saved tensor and every in-place write)."""
    import torch

    address = getattr(torch._C, "_storage_address", None)
    if address is not None:
        return address
    return lambda tensor: tensor.untyped_storage().data_ptr()


class SavedTensor:
    """One tensor an op saved, and what happened to it since."""

    __slots__ = (
        "tensor",
        "version",
        "producer",
        "output_nr",
        "saved_at",
        "modified_at",
        "modified_through_data",
        "__weakref__",
    )

    # Set by `pack` (no __init__: a Python-level call per saved tensor is a cost worth avoiding).
    # A tensor made by an op is held as a detached alias (same storage and version counter,
    # no grad_fn); a tensor without grad_fn (a leaf, a constant) as itself.
    tensor: object
    version: int
    producer: type | None  # the class of the autograd node that made it (torch names it by it); None: a leaf
    output_nr: int  # set only with a producer
    saved_at: Site | None
    # The first in-place write seen to change it; for a write through `.data`,
    # which torch cannot see, `modified_through_data` is set instead. Unset until
    # then (read them with `modified`): two stores fewer per saved tensor.
    modified_at: Site | None
    modified_through_data: Site | None

    def modified(self) -> tuple[Site | None, Site | None]:
        return getattr(self, "modified_at", None), getattr(self, "modified_through_data", None)

    def producer_name(self) -> str:
        producer = self.producer
        if producer is None or producer is type(None):
            return "a leaf tensor"
        return f"output {self.output_nr} of {producer.__name__}"

    def describe_tensor(self) -> str:
        tensor = self.tensor
        return f"[{tensor.type()} {list(tensor.shape)}]"


class SavedTensors:
    """Live saved tensors, looked up by the address of their storage (`storage_key_function`).

    The index holds weak references and is pruned in bulk (after each backward,
    and when it has doubled since the last pruning) rather than by a callback
    per record: the callbacks cost more than the pack itself.
    """

    def __init__(self, frames: Frames, on_unpack: Callable[[SavedTensor], object]) -> None:
        self.frames = frames
        self.walk = frames.walk
        self.fast = frames.modules.fast
        # storage -> a weak reference to the one record on it, or a list of them
        self.by_storage: dict[int, weakref.ref | list[weakref.ref]] = {}
        self.on_unpack = on_unpack
        self.hooks = None
        self.prune_limit = [PRUNE_MINIMUM]  # a list: the pack hook reads it without an attribute lookup
        self.storage_key = storage_key_function()
        # id() of the records changed through `.data` (the unpack hook looks them up only when
        # there are any; an id reused by a later record only sends that one to `on_unpack`).
        self.marked: set[int] = set()
        self.pack = self._packer()
        self.unpack = self._unpacker()

    # ---------------------------------------------------------------- hooks

    def _packer(self) -> Callable[[object], SavedTensor]:
        """The pack hook: a closure over what it reads (it runs for every tensor an op saves)."""
        fast, walk, by_storage, ref, getframe, slow = self.fast, self.walk, self.by_storage, weakref.ref, _getframe, SLOW
        storage_key, limit = self.storage_key, self.prune_limit

        def pack(tensor) -> SavedTensor:
            record = SavedTensor()
            producer = tensor.grad_fn
            if producer is None:
                # A leaf or a constant (a weight, the input batch): held as it is, as torch holds
                # it without hooks; no graph node hangs off it, so no cycle through the graph.
                record.tensor = tensor
                record.producer = None
            else:
                record.tensor = tensor.detach()
                record.producer = type(producer)
                record.output_nr = tensor.output_nr
            record.version = tensor._version
            # Inside a torch module (its forward is torch's, no hooks: no user code runs in it), the
            # module call names the op; else the frame that called the op, and up (see frames.py).
            site = fast[-1] if fast else slow
            record.saved_at = walk(getframe(1)) if site is slow else site
            try:
                storage = storage_key(tensor)
            except Exception:  # sparse and other storage-less tensors: no write can be matched to them
                return record
            bucket = by_storage.get(storage)
            if bucket is None:  # most storages are saved once: a bare reference, no list
                by_storage[storage] = ref(record)
                if len(by_storage) > limit[0]:
                    self.prune()
            elif type(bucket) is not list:
                by_storage[storage] = [bucket, ref(record)]
            else:
                bucket.append(ref(record))
                if len(bucket) >= BUCKET_PRUNE and not len(bucket) & (len(bucket) - 1):
                    # A tensor saved again and again (a weight, each forward without a
                    # backward): drop the dead entries at each power of two.
                    bucket[:] = [entry for entry in bucket if entry() is not None]
            return record

        return pack

    def _unpacker(self) -> Callable[[SavedTensor], object]:
        """The unpack hook: the saved tensor back, unless it changed since (then `on_unpack` judges)."""
        on_unpack, marked = self.on_unpack, self.marked

        def unpack(record: SavedTensor):
            tensor = record.tensor
            if tensor._version != record.version or (marked and id(record) in marked):
                return on_unpack(record)
            return tensor

        return unpack

    def prune(self) -> None:
        """Forget the records whose graph is gone (in place: the pack hook and the write
        wrappers hold this dict and its lists)."""
        by_storage = self.by_storage
        for storage, bucket in list(by_storage.items()):
            if type(bucket) is not list:
                if bucket() is None:
                    del by_storage[storage]
                continue
            kept = [entry for entry in bucket if entry() is not None]
            if kept:
                bucket[:] = kept
            else:
                del by_storage[storage]
        self.prune_limit[0] = max(PRUNE_MINIMUM, 2 * len(by_storage))

    # ---------------------------------------------------------------- queries

    def sharing_storage(self, storage: int) -> list[SavedTensor]:
        bucket = self.by_storage.get(storage)
        if bucket is None:
            return []
        if type(bucket) is not list:
            record = bucket()
            return [] if record is None else [record]
        records = [entry() for entry in bucket]
        return [record for record in records if record is not None]

    def install(self) -> None:
        import torch

        self.hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack)
        self.hooks.__enter__()

    def uninstall(self) -> None:
        if self.hooks is not None:
            self.hooks.__exit__(None, None, None)
            self.hooks = None
