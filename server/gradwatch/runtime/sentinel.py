"""The autograd sentinel: turns what the hooks see into findings with both lines.

An in-place write that clobbers a saved tensor is noted on the tensor's record
when it happens (`on_modified`), and reported when a backward needs the
tensor (`on_unpack`), right before it raises. Reporting at the write would
also flag graphs that no backward ever uses (a validation forward left alive
while the optimizer steps), which run fine; torch judges at backward, and so
does the sentinel. With `stop=True` the write itself stops the program.

Backward through a freed graph is caught around `torch.autograd.backward` and
`torch.autograd.grad`, which also gives each backward's line to the messages.
Parameters that no backward ever reaches are reported when the run ends
(see gradients.py); a `.grad` read that is None on one, `.numpy()` on a tensor
that requires grad, and the `.item()` that cut a graph a backward then needs,
as they happen (see reads.py).
"""

from __future__ import annotations

import math

from gradwatch.findings import Severity
from gradwatch.runtime.frames import Frames, Location, Site, resolve
from gradwatch.runtime.gradients import GradientWatch
from gradwatch.runtime.patches import Patches
from gradwatch.runtime.reads import ReadWatch
from gradwatch.runtime.report import Report
from gradwatch.runtime.saved import SavedTensor, SavedTensors
from gradwatch.runtime.writes import WriteWatch

MODIFIED_SAVED = "one of the variables needed for gradient computation has been modified by an inplace operation"
SECOND_TIME = "Trying to backward through the graph a second time"
NO_GRAPH = "element 0 of tensors does not require grad and does not have a grad_fn"
NUMPY = "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."

INPLACE_CODE = "GW201"
DATA_CODE = "GW204"
NO_GRAPH_CODE = "GW101"
NO_GRADIENT_CODE = "GW102"
GRAD_ALWAYS_NONE_CODE = "GW104"
TWICE_CODE = "GW106"
NUMPY_CODE = "GW108"


class SentinelStop(RuntimeError):
    """Raised at the write that clobbered a saved tensor, when run with --stop."""


_resolve = resolve


def _holds_number(tensors, number) -> bool:
    """Is `tensors` (what a failing backward got) one tensor of one element equal to `number`?"""
    if isinstance(tensors, (list, tuple)):
        if len(tensors) != 1:
            return False
        tensors = tensors[0]
    try:
        if tensors.numel() != 1:
            return False
        value = float(tensors.detach())
        return math.isclose(value, float(number), rel_tol=1e-6, abs_tol=1e-12)
    except Exception:
        return False


def _quoted(location: Location | None, fallback: str) -> str:
    return f"`{location.text}`" if location is not None and location.text else fallback


class Sentinel:
    def __init__(self, report: Report | None = None, stop: bool = False) -> None:
        self.report = report if report is not None else Report()
        self.stop = stop
        self.frames = Frames()
        self.saved = SavedTensors(self.frames, self.on_unpack)
        self.writes = WriteWatch(self.frames, self.saved, self.on_modified)
        self.gradients = GradientWatch(self.frames)
        self.reads = ReadWatch(self.frames, self.on_grad_none, self.on_numpy)
        # The backward running now (its line names "the backward" in messages), and
        # the last one that freed its graph (where a second backward's graph went).
        self.backward_site: Site | None = None
        self.graph_freed_at: Site | None = None
        self.last_backward: Site | None = None  # the last backward that finished (it fills `.grad`)
        self.patches = Patches()

    # ---------------------------------------------------------------- install

    def __enter__(self) -> Sentinel:
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        self.uninstall()

    def install(self) -> None:
        import torch.autograd

        self.frames.modules.install()
        self.writes.install()
        for name, retain_index in (("backward", 2), ("grad", 3)):
            original = getattr(torch.autograd, name)
            self.patches.replace(torch.autograd, name, self._watch_backward(original, retain_index, name == "backward"))
        self.gradients.install()
        self.reads.install()
        self.saved.install()

    def uninstall(self) -> None:
        self.saved.uninstall()
        self.reads.uninstall()
        self.gradients.uninstall()
        self.patches.restore()
        self.writes.uninstall()
        self.frames.modules.uninstall()
        # Torch is as it was before; what the run left to say comes last.
        self._report_starved_parameters()

    # ---------------------------------------------------------------- backward

    def _watch_backward(self, original, retain_index: int, fills_grad: bool):
        def backward(*args, **kwargs):
            site = self.frames.capture(0)
            outer = self.backward_site
            self.backward_site = site
            try:
                result = original(*args, **kwargs)
            except RuntimeError as error:
                if SECOND_TIME in str(error):
                    self._report_second_backward(site)
                elif NO_GRAPH in str(error):
                    self._report_no_graph(site, kwargs.get("tensors", kwargs.get("outputs", args[0] if args else None)))
                raise
            finally:
                self.backward_site = outer
            if fills_grad:
                self.last_backward = site
                self.reads.backward_finished()
            retain = kwargs.get("retain_graph", args[retain_index] if len(args) > retain_index else None)
            create = kwargs.get("create_graph", args[retain_index + 1] if len(args) > retain_index + 1 else False)
            if not (create if retain is None else retain):
                self.graph_freed_at = site
                # The graph's saved tensors are gone: the optimizer step that usually
                # follows then finds the index empty and its writes cost nothing.
                self.saved.prune()
            return result

        backward.__wrapped__ = original  # type: ignore[attr-defined]
        backward.__doc__ = original.__doc__
        return backward

    def _report_second_backward(self, site: Site | None) -> None:
        here, freed = _resolve(site), _resolve(self.graph_freed_at)
        if here is None:
            return
        if freed is None:
            message = f"{_quoted(here, 'this backward')} backpropagates through a graph an earlier backward freed"
            related = ()
        else:
            same_line = (freed.path, freed.line) == (here.path, here.line)
            earlier = "in an earlier iteration" if same_line else f"at {freed.short()}"
            message = (
                f"{_quoted(here, 'this backward')} backpropagates through a graph that "
                f"{_quoted(freed, 'a backward')} ({earlier}) already freed "
                f"(RuntimeError: {SECOND_TIME}); pass retain_graph=True to the first, or recompute the forward"
            )
            related = ((freed, "the graph was freed here"),)
        self.report.add(TWICE_CODE, Severity.ERROR, message, here, related)

    # ---------------------------------------------------------------- saved tensors

    def on_modified(self, record: SavedTensor, site: Site | None, through_data: bool) -> None:
        if not self.stop:
            return  # judged when a backward needs the tensor (see the module docstring)
        if through_data:
            self._report_data_write(record, None)
        else:
            self._report_inplace(record, None)
        where = _resolve(site)
        raise SentinelStop(
            f"gradwatch --stop: {_quoted(where, 'an in-place write')} modified a tensor saved for backward"
        )

    def on_unpack(self, record: SavedTensor):
        tensor = record.tensor
        if tensor._version != record.version:
            self._report_inplace(record, _resolve(self.backward_site))
            raise RuntimeError(self._torch_message(record))
        if record.modified()[1] is not None:
            self._report_data_write(record, _resolve(self.backward_site))
        return tensor

    def _torch_message(self, record: SavedTensor) -> str:
        message = (
            f"{MODIFIED_SAVED}: {record.describe_tensor()}, which is {record.producer_name()}, "
            f"is at version {record.tensor._version}; expected version {record.version} instead."
        )
        culprit, saved = _resolve(record.modified()[0]), _resolve(record.saved_at)
        if culprit is not None:
            message += f" gradwatch: it was modified by {_quoted(culprit, 'an in-place op')} at {culprit.short()}"
            message += f", after {_quoted(saved, 'an op')} at {saved.short()} saved it." if saved else "."
        return message

    def _report_inplace(self, record: SavedTensor, backward: Location | None) -> None:
        culprit, saved = _resolve(record.modified()[0]), _resolve(record.saved_at)
        saver = f"{_quoted(saved, 'an op')} ({saved.short()})" if saved else "an op"
        then = f"the backward at {backward.short()} raises" if backward else "a backward through it will raise"
        if culprit is not None:
            message = (
                f"{_quoted(culprit, 'an in-place op')} modifies a tensor that {saver} saved for backward "
                f"({record.producer_name()}): {then} ({MODIFIED_SAVED})"
            )
        else:
            message = (
                f"a tensor that {saver} saved for backward ({record.producer_name()}) was modified in place "
                f"by an op gradwatch does not see (`out=`, or inside C++): {then} ({MODIFIED_SAVED})"
            )
        where = culprit or saved or backward
        if where is None:
            return
        related = []
        if saved is not None and where is not saved:
            related.append((saved, "saved for backward here"))
        if backward is not None:
            related.append((backward, "backward through it"))
        self.report.add(INPLACE_CODE, Severity.ERROR, message, where, tuple(related))

    def _report_data_write(self, record: SavedTensor, backward: Location | None) -> None:
        culprit, saved = _resolve(record.modified()[1]), _resolve(record.saved_at)
        if culprit is None:
            return
        saver = f"{_quoted(saved, 'an op')} ({saved.short()})" if saved else "an op"
        then = f"the backward at {backward.short()} computes" if backward else "a backward through it computes"
        message = (
            f"{_quoted(culprit, 'a write')} changes, through `.data`, a tensor that {saver} saved for backward "
            f"({record.producer_name()}): torch cannot detect it, and {then} a wrong gradient"
        )
        related = []
        if saved is not None:
            related.append((saved, "saved for backward here"))
        if backward is not None:
            related.append((backward, "backward"))
        self.report.add(DATA_CODE, Severity.WARNING, message, culprit, tuple(related))

    # ---------------------------------------------------------------- parameters without gradient

    def _report_starved_parameters(self) -> None:
        by_module: dict[object, list] = {}
        for candidate in self.gradients.starved():
            key = candidate.owner.module_id if candidate.owner else id(candidate)
            by_module.setdefault(key, []).append(candidate)
        for group in by_module.values():
            first = group[0]
            stepped = _resolve(first.stepped_at)
            steps = f"{first.steps} optimizer steps" + (f" (`{stepped.text}` at {stepped.short()})" if stepped else "")
            if first.owner is not None:
                names = ", ".join(sorted(f"`{candidate.owner.name}`" for candidate in group))
                where = _resolve(first.owner.built_at)
                what = f"the parameters {names} of {_quoted(where, first.owner.module_type)}"
            else:
                where = stepped
                what = f"a tensor the optimizer trains ({first.description})"
            if where is None:
                continue
            message = (
                f"{what} never received a gradient in {steps}: no backward reached them "
                "(a `.detach()`, `torch.no_grad()`, `.data`, or the module is never used), so they never change"
            )
            related = ((stepped, "the optimizer steps here"),) if stepped is not None and stepped != where else ()
            self.report.add(NO_GRADIENT_CODE, Severity.WARNING, message, where, related)

    # ---------------------------------------------------------------- reads that lose the gradient

    def _report_no_graph(self, site: Site | None, tensors) -> None:
        here = _resolve(site)
        if here is None:
            return
        message = f"{_quoted(here, 'this backward')} raises: the tensor it backpropagates from has no autograd graph"
        related = ()
        item = self.reads.item_site
        cut = _resolve(item[0]) if item is not None and _holds_number(tensors, item[1]) else None
        if cut is not None:
            message += (
                f"; {_quoted(cut, '`.item()`')} at {cut.short()} turned a tensor in the graph into a Python "
                "number, which carries no graph (keep the tensor for the loss, `.item()` only to log it)"
            )
            related = ((cut, "the graph is cut here"),)
        message += f" (RuntimeError: {NO_GRAPH})"
        self.report.add(NO_GRAPH_CODE, Severity.ERROR, message, here, related)

    def on_numpy(self, tensor, site: Site, direct: bool) -> None:
        here = _resolve(site)
        if here is None:
            return
        producer = tensor.grad_fn
        what = "a leaf tensor that requires grad" if producer is None else f"the output of {type(producer).__name__}"
        if direct:
            message = (
                f"{_quoted(here, 'this call')} raises: it converts {what} to a NumPy array "
                f"(RuntimeError: {NUMPY}); detach first: `.detach().numpy()`"
            )
        else:
            message = (
                f"{_quoted(here, 'this call')} raises: NumPy converts {what}, which requires grad, to an array "
                f"(RuntimeError: {NUMPY}); hand it detached tensors, or numbers (`.item()`)"
            )
        self.report.add(NUMPY_CODE, Severity.ERROR, message, here)

    def on_grad_none(self, tensor, site: Site, backwards: int) -> None:
        here = _resolve(site)
        if here is None:
            return
        backward = _resolve(self.last_backward)
        owner = self._owner_of(tensor)
        name = f"`{owner[0]}` of {_quoted(_resolve(owner[1]), owner[2])}" if owner else "a tensor an optimizer trains"
        related = []
        if not tensor.requires_grad:
            code = GRAD_ALWAYS_NONE_CODE
            why = "it does not require grad, so no backward computes a gradient for it"
        else:
            code = NO_GRADIENT_CODE
            known = backward is not None and backward.text
            since = f"`{backward.text}` ({backward.short()})" if known else "the backward"
            why = (
                f"{since} did not reach it: it is not used in the loss, or a `.detach()`, `torch.no_grad()` "
                "or `.data` cuts it off, so the optimizer never changes it"
            )
        if backward is not None:
            related.append((backward, "the backward that did not reach it"))
        if owner is not None:
            built = _resolve(owner[1])
            if built is not None and (built.path, built.line) != (here.path, here.line):
                related.append((built, "the module it belongs to"))
        message = f"{_quoted(here, '`.grad`')} is None on {name}, which an optimizer trains: {why}"
        self.report.add(code, Severity.WARNING, message, here, tuple(related))

    def _owner_of(self, tensor) -> tuple[str, Site, str] | None:
        """(parameter name, construction site, module type) of the module built under the sentinel that holds it."""
        for reference, site in list(self.frames.modules.sites.values()):
            module = reference()
            if module is None:
                continue
            for name, parameter in module._parameters.items():
                if parameter is tensor:
                    return name, site, type(module).__name__
        return None
