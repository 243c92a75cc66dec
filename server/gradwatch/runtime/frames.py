"""Where in the user's code something happened, found cheaply from the call stack.

A saved tensor is recorded on every op that saves one, so the place it was
saved is captured on a hot path: `capture` walks `sys._getframe` up to the
first frame outside torch, gradwatch and the standard library, and keeps only
that frame's code object and instruction offset (`Site`). Nothing else is
kept: holding the frame would keep its local variables (tensors) alive. Lines,
columns and source text are worked out from the code object only when a
finding is reported.

When an op runs inside an `nn.Module` that a torch container (`nn.Sequential`)
called, the first user frame is the call of the outer container, which names
no single layer; the layer's construction line (`nn.ReLU(inplace=True),`
inside the `Sequential(...)`) says more (`ModuleCalls`).
"""

from __future__ import annotations

import linecache
import os
import sys
import sysconfig
import weakref
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Tuple


def _internal_folders() -> tuple[str, ...]:
    import torch

    folders = {
        os.path.dirname(os.path.abspath(torch.__file__)),
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # gradwatch itself
    }
    # The standard library (runpy, which starts the script) and installed packages
    # (libraries the model uses) are not the user's code either.
    paths = sysconfig.get_paths()
    folders.update(paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths)
    return tuple(os.path.join(os.path.realpath(folder), "") for folder in folders)


@dataclass(frozen=True)
class Location:
    """A resolved site: 1-based lines, 0-based columns, and the source text it covers."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    text: str

    def short(self) -> str:
        return f"{display_path(self.path)}:{self.line}"


# An instruction in user code: (code object, byte offset of the instruction). A
# plain tuple, made on the hot path; `resolve` turns it into a Location when reported.
Site = Tuple[CodeType, int]


def resolve(site: Site | None) -> Location | None:
    if site is None:
        return None
    code, offset = site
    line = end_line = code.co_firstlineno
    column = end_column = 0
    if hasattr(code, "co_positions"):  # Python 3.11+: the expression's columns too
        for index, position in enumerate(code.co_positions()):
            if index == offset // 2:
                line, end_line, column, end_column = (
                    position[0] or line,
                    position[1] or position[0] or line,
                    position[2] or 0,
                    position[3] or 0,
                )
                break
    else:  # Python 3.10: the line only, quoted whole
        for start, end, number in code.co_lines():
            if start <= offset < end and number is not None:
                line = end_line = number
                break
    text = _text(code.co_filename, line, end_line, column, end_column)
    return Location(code.co_filename, line, column, end_line, end_column, text)


def _text(path: str, line: int, end_line: int, column: int, end_column: int) -> str:
    lines = [linecache.getline(path, number).rstrip("\n") for number in range(line, end_line + 1)]
    if not lines or not any(lines):
        return ""
    if len(lines) == 1:
        piece = lines[0][column:end_column] if end_column > column else lines[0][column:]
    else:
        piece = "\n".join([lines[0][column:], *lines[1:-1], lines[-1][:end_column]])
    piece = " ".join(piece.split())
    return piece if len(piece) <= 80 else piece[:77] + "..."


def display_path(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith(os.pardir) else relative


class Frames:
    """Finds the first user frame; remembers per code object whether it is internal.

    Module calls are tracked on a stack (`ModuleCalls`): each call in progress
    carries the site that names it, worked out once when the call starts.
    """

    def __init__(self) -> None:
        self.internal_folders = _internal_folders()
        self.is_internal: dict[CodeType, bool] = {}
        self.modules = ModuleCalls(self)

    def _internal(self, code: CodeType) -> bool:
        known = self.is_internal.get(code)
        if known is None:
            path = code.co_filename
            known = path.startswith("<frozen") or os.path.realpath(path).startswith(self.internal_folders)
            self.is_internal[code] = known
        return known

    def capture(self, depth: int = 1) -> Site | None:
        """The site that names what the caller's `depth`-th caller is doing: the first
        user frame, or the innermost module call in progress (see ModuleCalls)."""
        return self.walk(sys._getframe(depth + 1))

    def walk(self, frame: FrameType | None) -> Site | None:
        is_internal = self.is_internal
        modules = self.modules
        while frame is not None:
            code = frame.f_code
            internal = is_internal.get(code)
            if internal is None:
                internal = self._internal(code)
            if not internal:
                return (code, frame.f_lasti)
            # torch's `_call_impl` runs only under our wrapper (one frame up): stop here,
            # one frame early (each frame object a walk touches is an allocation).
            if code is modules.inner_call_code or code is modules.call_code:
                stack = modules.stack
                return stack[-1] if stack else None
            frame = frame.f_back
        return None

    def construction_site(self, module) -> Site | None:
        """The line that built `module`: above torch's frames and the module's own `__init__`s
        (a user-defined module's `super().__init__()` is not where it was built)."""
        frame: FrameType | None = sys._getframe(2)
        while frame is not None:
            code = frame.f_code
            if not self._internal(code) and not (code.co_name == "__init__" and frame.f_locals.get("self") is module):
                return (code, frame.f_lasti)
            frame = frame.f_back
        return None


# In `ModuleCalls.fast`: the innermost module call may run user code; walk the stack.
SLOW = object()


class ModuleCalls:
    """Which `nn.Module` calls are in progress, each with the site that names it.

    A module the user's code calls (`self.fc(x)`, `critic(actor(s))`) is named
    by that call. A module a torch container calls (a layer of `nn.Sequential`)
    is named by the line that constructed it (`nn.ReLU(inplace=True),` inside
    the `Sequential(...)`), since the container's call names no single layer.
    A walk up from an op stops at the innermost module call, so it costs a few
    frames however deep the model is (measured: cheaper overall than walking
    to the user's frame, even though every module call pays for the stack).
    Construction sites are indexed by `id(module)` next to a weak reference that
    confirms the module is still the same object (a WeakKeyDictionary lookup
    costs more than the rest of a module call's bookkeeping).

    Inside a call of a module whose `forward` is torch's own and that has no
    forward hooks, no user code runs (short of a user function handed to the
    module), so the ops there and the modules it calls are named without
    looking at a single frame (`fast`): the pack hook reads the site off the
    stack, and a module called from there is named by its construction line.
    Looking at frames is what costs: each frame a walk touches is made into a
    frame object.
    """

    def __init__(self, frames: Frames) -> None:
        self.frames = frames
        self.stack: list[Site | None] = []
        # Parallel to `stack`: the same site when the call is of a module whose `forward` is
        # torch's and that has no forward hooks (no user code can run inside it, so every op
        # in it is named by that site without walking the stack), else SLOW.
        self.fast: list[object] = []
        self.torch_forward: dict[type, bool] = {}
        self.sites: dict[int, tuple[weakref.ref, Site]] = {}
        # id() of the modules called, and of those whose output was in a graph at least once
        # (their parameters could get a gradient: if none came, the output was just unused).
        # Kept only for the modules in `watched` (those owning parameters the optimizer steps
        # that had no gradient yet, see gradients.py): one set lookup per call for the others.
        self.called: set[int] = set()
        self.in_graph: set[int] = set()
        self.watched: set[int] = set()
        self.call_code: CodeType | None = None  # our wrapper of Module.__call__ (or of _call_impl)
        self.inner_call_code: CodeType | None = None  # torch's _call_impl, which it calls
        self.originals: dict[str, object] = {}

    def install(self) -> None:
        import torch
        from torch.nn.modules import module as module_module
        from torch.nn.modules.module import Module

        # The wrapper replaces `Module.__call__` (torch's `_wrapped_call_impl`, a trampoline to
        # `_call_impl` or the compiled version): it takes the trampoline's place, so a module
        # call costs no extra Python frame. On a torch laid out otherwise, it wraps `_call_impl`.
        via_call = vars(Module).get("__call__") is vars(Module).get("_wrapped_call_impl") and hasattr(
            Module, "_compiled_call_impl"
        )
        wrapped_name = "__call__" if via_call else "_call_impl"
        self.originals = {"__init__": Module.__init__, wrapped_name: getattr(Module, wrapped_name)}
        # torch's global hooks (dicts changed in place): user code that runs in every call.
        global_pre, global_post = module_module._global_forward_pre_hooks, module_module._global_forward_hooks
        global_backward_pre, global_backward = module_module._global_backward_pre_hooks, module_module._global_backward_hooks
        tracing = torch._C._get_tracing_state
        original_init, original_call = Module.__init__, Module._call_impl
        frames, sites, stack = self.frames, self.sites, self.stack
        is_internal, walk, getframe = frames.is_internal, frames.walk, sys._getframe
        push, pop, called, in_graph, watched = stack.append, stack.pop, self.called.add, self.in_graph.add, self.watched
        fast_stack = self.fast
        push_fast, pop_fast = fast_stack.append, fast_stack.pop
        torch_forward, slow = self.torch_forward, SLOW
        trampoline = Module._wrapped_call_impl.__code__
        remember = self._remember
        forward_is_torchs = self._forward_is_torchs

        def __init__(module, *args, **kwargs):
            original_init(module, *args, **kwargs)
            remember(module, frames.construction_site(module))

        def _call_impl(module, *args, **kwargs):
            key = id(module)
            if fast_stack and fast_stack[-1] is not slow:
                # Called from inside a torch module (a layer of `nn.Sequential`, the attention
                # of a transformer layer): no user frame in between, so no frame is looked at.
                built = sites.get(key)
                site = built[1] if built is not None and built[0]() is module else stack[-1]
            else:
                caller = getframe(1)
                if caller.f_code is trampoline:
                    caller = caller.f_back
                code = caller.f_code
                internal = is_internal.get(code)
                if internal is None:
                    internal = frames._internal(code)
                if not internal:
                    site = (code, caller.f_lasti)
                else:
                    built = sites.get(key)
                    site = built[1] if built is not None and built[0]() is module else walk(caller)
            push(site)
            fast = torch_forward.get(type(module))
            if fast is None:
                fast = forward_is_torchs(type(module))
            hooked = module._forward_hooks or module._forward_pre_hooks or global_pre or global_post
            push_fast(slow if hooked or not fast else site)
            try:
                compiled = module._compiled_call_impl if via_call else None
                if compiled is not None:  # module.compile()
                    result = compiled(*args, **kwargs)
                elif (
                    hooked
                    or module._backward_hooks
                    or module._backward_pre_hooks
                    or global_backward_pre
                    or global_backward
                    or tracing()
                ):
                    result = original_call(module, *args, **kwargs)
                else:
                    # What `_call_impl` does without hooks, one Python frame fewer per module call.
                    result = module.forward(*args, **kwargs)
            finally:
                pop()
                pop_fast()
            if key in watched:
                called(key)
                if getattr(result, "requires_grad", False):
                    in_graph(key)
            return result

        for wrapper, original in ((__init__, original_init), (_call_impl, self.originals[wrapped_name])):
            wrapper.__wrapped__ = original  # type: ignore[attr-defined]
            wrapper.__doc__ = original.__doc__
        self.call_code = _call_impl.__code__
        self.inner_call_code = original_call.__code__
        Module.__init__ = __init__
        setattr(Module, wrapped_name, _call_impl)

    def _forward_is_torchs(self, cls: type) -> bool:
        forward = getattr(getattr(cls, "forward", None), "__code__", None)
        fast = forward is not None and self.frames._internal(forward)
        self.torch_forward[cls] = fast
        return fast

    def _remember(self, module, site: Site | None) -> None:
        if site is None:
            return
        key = id(module)
        sites = self.sites

        def forget(_reference, key=key) -> None:
            sites.pop(key, None)

        try:
            sites[key] = (weakref.ref(module, forget), site)
        except TypeError:  # not weak-referenceable
            pass

    def uninstall(self) -> None:
        from torch.nn.modules.module import Module

        for name, original in self.originals.items():
            setattr(Module, name, original)
        self.originals = {}
        self.call_code = self.inner_call_code = None
        self.stack.clear()
        self.fast.clear()
