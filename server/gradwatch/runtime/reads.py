"""Reads that lose the gradient: `.grad` that is None on a trained tensor, `.numpy()` and `.item()`.

- `.grad`: a read from the user's own code that returns None on a parameter
  an optimizer owns (seen by wrapping `Optimizer.add_param_group`, which
  `Optimizer.__init__` calls) and that no backward has reached yet, when a
  backward finished since its gradient was last cleared (`zero_grad()`, or
  `p.grad = None`), is reported: the backward did not reach it. Reads that
  check for None (`if p.grad is None`, `if p.grad is not None`, `g = p.grad`
  then `g is None` in the same function) are how code handles a parameter
  without a gradient, and are not reported. To see reads, `torch.Tensor.grad`
  becomes a property over torch's own descriptor, which costs about 0.3 us per
  read (an optimizer reads each parameter's `.grad` four or five times a step:
  3% of a small MLP's step, measured). So it is installed only once an
  optimizer steps with a parameter that has never had a gradient: after each
  step (torch's global step hook), that optimizer's parameters not yet seen
  with a gradient are looked at (all of them after its first step, then none),
  and in a run where every parameter gets its gradient nothing is installed.
  The reads before that first step go unseen: a program trains for many steps.
  `zero_grad()` (which skips gradients that are None already, so the setter
  does not see those) is wrapped from then on too.
- `.numpy()` on a tensor that requires grad raises (GW108): reported, with the
  line, just before torch raises; so is a numpy function converting one
  (`np.mean(losses)`, through `Tensor.__array__`).
- `.item()` of a graph tensor is legal (`loss.item()` to log it) and is never
  reported by itself. Its site and number are remembered: when a backward then
  raises because its tensor has no graph (GW101) and that tensor holds the same
  number (`torch.tensor(total)`), the `.item()` is named as the cut.
"""

from __future__ import annotations

import dis
import os
import sys
import warnings
import weakref
from types import CodeType, FrameType
from typing import Callable

from gradwatch.runtime.frames import Frames, Site
from gradwatch.runtime.patches import Patches

# Instruction names that test the value just read for None (or for truth).
_CHECKS = ("IF_NONE", "IF_NOT_NONE", "IF_FALSE", "IF_TRUE", "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP")
_STORES = ("STORE_FAST", "STORE_NAME", "STORE_DEREF", "STORE_GLOBAL")
_LOADS = ("LOAD_FAST", "LOAD_NAME", "LOAD_DEREF", "LOAD_GLOBAL", "LOAD_CLOSURE")


def _is_check(instructions: list[dis.Instruction], index: int) -> bool:
    """Does the instruction at `index` (right after a read) test the value for None or truth?"""
    if index >= len(instructions):
        return False
    following = instructions[index]
    if any(part in following.opname for part in _CHECKS):
        return True
    if following.opname == "LOAD_CONST" and following.argval is None and index + 1 < len(instructions):
        return instructions[index + 1].opname in ("IS_OP", "COMPARE_OP")
    return False


class _Code:
    """The instructions of a code object, by offset (worked out once, only when a read returned None)."""

    cache: dict[CodeType, tuple[list[dis.Instruction], dict[int, int]]] = {}

    @classmethod
    def instructions(cls, code: CodeType) -> tuple[list[dis.Instruction], dict[int, int]]:
        known = cls.cache.get(code)
        if known is None:
            instructions = list(dis.get_instructions(code))
            known = (instructions, {instruction.offset: index for index, instruction in enumerate(instructions)})
            cls.cache[code] = known
        return known


def read_is_checked(code: CodeType, offset: int) -> bool:
    """Is the `.grad` read at `offset` tested for None, directly or through the name it is stored in?"""
    try:
        instructions, index_of = _Code.instructions(code)
    except Exception:
        return True  # unknown bytecode: stay silent
    index = index_of.get(offset)
    if index is None:
        return True
    if _is_check(instructions, index + 1):
        return True
    following = instructions[index + 1] if index + 1 < len(instructions) else None
    if following is not None and following.opname in _STORES:
        name = following.argval
        return any(
            instruction.opname in _LOADS and instruction.argval == name and _is_check(instructions, position + 1)
            for position, instruction in enumerate(instructions)
        )
    return False


class ReadWatch:
    """Installs the `.grad` property, the optimizer wrapper and the `.numpy()`/`.item()` wrappers."""

    def __init__(
        self,
        frames: Frames,
        on_grad_none: Callable[[object, Site, int], None],
        on_numpy: Callable[[object, Site, bool], None],
    ) -> None:
        self.frames = frames
        self.on_grad_none = on_grad_none
        self.on_numpy = on_numpy
        # id(parameter) -> a weak reference to it, for every tensor an optimizer owns.
        self.trained: dict[int, weakref.ref] = {}
        # The same, for those not yet seen with a gradient after a step; and per optimizer.
        self.unconfirmed: dict[int, weakref.ref] = {}
        self.pending: dict[int, dict[int, weakref.ref]] = {}  # id(optimizer) -> its unconfirmed parameters
        self.step_hook = None
        self.grad_descriptor = None
        self.grad_installed = False
        # id(parameter) -> the number of finished backwards when its `.grad` was last set to None.
        self.cleared: dict[int, int] = {}
        # The number of finished backwards at the last `zero_grad()` of any optimizer or module (it
        # skips gradients that are None already, so the setter does not see those).
        self.cleared_all = 0
        self.reported: set[tuple] = set()  # (code, offset, id(parameter)) of the `.grad` reads reported
        self.backwards = 0  # backwards finished (`backward()`, not `torch.autograd.grad`: it fills no `.grad`)
        # The last `.item()` of a graph tensor since the last backward: (its site, the number it gave).
        self.item_site: tuple[Site | None, object] | None = None
        self.patches = Patches()
        self.numpy_folders: tuple[str, ...] = ()

    # ---------------------------------------------------------------- install

    def install(self) -> None:
        import torch
        import torch.optim

        self.numpy_folders = ()  # worked out at `.numpy()` calls (the script imports numpy later)
        from torch.optim.optimizer import register_optimizer_step_post_hook

        self.grad_descriptor = vars(torch._C.TensorBase)["grad"]
        self.grad_installed = False
        self.step_hook = register_optimizer_step_post_hook(self._after_step)
        optimizer = torch.optim.Optimizer
        self.patches.replace(optimizer, "add_param_group", self._watch_groups(optimizer.add_param_group))
        self.patches.replace(torch.Tensor, "numpy", self._watch_numpy(torch.Tensor.numpy))
        self.patches.replace(torch.Tensor, "item", self._watch_item(torch.Tensor.item))

    def uninstall(self) -> None:
        if self.step_hook is not None:
            self.step_hook.remove()
            self.step_hook = None
        self.patches.restore()

    def backward_finished(self) -> None:
        self.backwards += 1
        self.item_site = None

    def _after_step(self, optimizer, args, kwargs) -> None:
        """Forget this optimizer's parameters that have a gradient now; if some never had one, watch `.grad` reads."""
        pending = self.pending.get(id(optimizer))
        if not pending:
            return
        get, unconfirmed = self.grad_descriptor.__get__, self.unconfirmed
        for key, reference in list(pending.items()):
            parameter = reference()
            if parameter is None or get(parameter) is not None:
                del pending[key]
                unconfirmed.pop(key, None)
        if pending and not self.grad_installed:
            import torch

            self.grad_installed = True
            # Until now no clearing was seen: count the gradients as cleared here (a read then
            # needs a later backward to be judged), and see `zero_grad()` from now on.
            self.cleared_all = self.backwards
            for owner in (torch.optim.Optimizer, torch.nn.Module):
                self.patches.replace(owner, "zero_grad", self._watch_zero_grad(owner.zero_grad))
            self.patches.replace(torch.Tensor, "grad", self._grad_property(self.grad_descriptor))

    # ---------------------------------------------------------------- .grad

    def _grad_property(self, descriptor) -> property:
        get, put = descriptor.__get__, descriptor.__set__
        delete = descriptor.__delete__
        trained, cleared, getframe, reported = self.unconfirmed, self.cleared, sys._getframe, self.reported
        is_internal, internal_of = self.frames.is_internal, self.frames._internal
        watch = self

        def grad(tensor):
            if tensor.is_leaf or tensor.retains_grad:
                value = get(tensor)
            else:  # torch warns here: the warning names the reader's line, not this one
                value = non_leaf(tensor)
            if value is None:
                reference = trained.get(id(tensor))
                if (
                    reference is not None
                    and reference() is tensor
                    and watch.backwards > watch.cleared_all
                    and watch.backwards > cleared.get(id(tensor), 0)
                ):
                    caller = getframe(1)
                    code = caller.f_code
                    internal = is_internal.get(code)
                    if internal is None:
                        internal = internal_of(code)
                    if not internal:
                        seen = (code, caller.f_lasti, id(tensor))
                        # Once per read and parameter (a loop repeats it every step).
                        if seen not in reported and not read_is_checked(code, caller.f_lasti):
                            reported.add(seen)
                            watch.on_grad_none(tensor, (code, caller.f_lasti), watch.backwards)
            return value

        def set_grad(tensor, value):
            put(tensor, value)
            if value is None and id(tensor) in trained:
                cleared[id(tensor)] = watch.backwards

        def delete_grad(tensor):
            delete(tensor)
            if id(tensor) in trained:
                cleared[id(tensor)] = watch.backwards

        def non_leaf(tensor):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                value = get(tensor)
            for warning in caught:
                warnings.warn(warning.message, warning.category, stacklevel=3)
            return value

        return property(grad, set_grad, delete_grad, descriptor.__doc__)

    def _watch_zero_grad(self, original):
        watch = self

        def zero_grad(owner, *args, **kwargs):
            watch.cleared_all = watch.backwards
            return original(owner, *args, **kwargs)

        zero_grad.__wrapped__ = original  # type: ignore[attr-defined]
        zero_grad.__doc__ = original.__doc__
        return zero_grad

    def _watch_groups(self, original):
        trained, cleared, unconfirmed, pending = self.trained, self.cleared, self.unconfirmed, self.pending

        def forget(key: int):
            def gone(_reference) -> None:
                trained.pop(key, None)
                unconfirmed.pop(key, None)
                cleared.pop(key, None)
                for parameters in pending.values():
                    parameters.pop(key, None)

            return gone

        def add_param_group(optimizer, param_group, *args, **kwargs):
            result = original(optimizer, param_group, *args, **kwargs)
            try:
                parameters = optimizer.param_groups[-1]["params"]
            except (AttributeError, IndexError, KeyError, TypeError):
                return result
            mine = pending.setdefault(id(optimizer), {})
            for parameter in parameters:
                key = id(parameter)
                if key not in trained:
                    try:
                        trained[key] = unconfirmed[key] = mine[key] = weakref.ref(parameter, forget(key))
                    except TypeError:
                        continue
                    # Its gradient as of now counts as cleared: only a later backward is expected to fill it.
                    cleared[key] = self.backwards
            return result

        add_param_group.__wrapped__ = original  # type: ignore[attr-defined]
        add_param_group.__doc__ = original.__doc__
        return add_param_group

    # ---------------------------------------------------------------- .numpy() and .item()

    def _watch_numpy(self, original):
        getframe = sys._getframe
        watch = self

        def numpy(tensor, *args, **kwargs):
            if tensor.requires_grad and not kwargs.get("force", args[0] if args else False):
                site, direct = watch._numpy_caller(getframe(1))
                if site is not None:
                    watch.on_numpy(tensor, site, direct)
            return original(tensor, *args, **kwargs)

        numpy.__wrapped__ = original  # type: ignore[attr-defined]
        numpy.__doc__ = original.__doc__
        return numpy

    def _numpy_caller(self, frame: FrameType | None) -> tuple[Site | None, bool]:
        """The user's line that converts the tensor: the caller of `.numpy()`, or above torch's
        `__array__` and numpy's own frames (`np.mean(losses)`). A library converting it (maybe
        inside a try) is not reported."""
        if len(self.numpy_folders) < 2:  # torch's and numpy's, once numpy is imported
            import torch

            folders = [os.path.dirname(os.path.abspath(torch.__file__))]
            numpy = sys.modules.get("numpy")
            if numpy is not None and getattr(numpy, "__file__", None):
                folders.append(os.path.dirname(os.path.abspath(numpy.__file__)))
            self.numpy_folders = tuple(os.path.join(os.path.realpath(folder), "") for folder in folders)
        direct = True
        while frame is not None:
            code = frame.f_code
            if not self.frames._internal(code):
                return (code, frame.f_lasti), direct
            if not os.path.realpath(code.co_filename).startswith(self.numpy_folders):
                return None, False
            direct = False
            frame = frame.f_back
        return None, False

    def _watch_item(self, original):
        getframe = sys._getframe
        watch = self

        def item(tensor, *args, **kwargs):
            value = original(tensor, *args, **kwargs)
            if tensor.requires_grad:
                watch.item_site = (watch.frames.walk(getframe(1)), value)
            return value

        item.__wrapped__ = original  # type: ignore[attr-defined]
        item.__doc__ = original.__doc__
        return item
