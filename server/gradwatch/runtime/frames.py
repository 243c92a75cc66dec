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
    """

    def __init__(self, frames: Frames) -> None:
        self.frames = frames
        self.stack: list[Site | None] = []
        self.sites: dict[int, tuple[weakref.ref, Site]] = {}
        # id() of every module called so far, and of those whose output was in a graph at least
        # once (their parameters could get a gradient: if none came, the output was just unused).
        self.called: set[int] = set()
        self.in_graph: set[int] = set()
        self.call_code: CodeType | None = None  # our wrapper of Module._call_impl
        self.inner_call_code: CodeType | None = None  # the original it calls
        self.originals: dict[str, object] = {}

    def install(self) -> None:
        from torch.nn.modules.module import Module

        self.originals = {"__init__": Module.__init__, "_call_impl": Module._call_impl}
        original_init, original_call = Module.__init__, Module._call_impl
        frames, sites, stack = self.frames, self.sites, self.stack
        is_internal, walk, getframe = frames.is_internal, frames.walk, sys._getframe
        push, pop, called, in_graph = stack.append, stack.pop, self.called.add, self.in_graph.add
        trampoline = Module._wrapped_call_impl.__code__
        remember = self._remember

        def __init__(module, *args, **kwargs):
            original_init(module, *args, **kwargs)
            remember(module, frames.construction_site(module))

        def _call_impl(module, *args, **kwargs):
            called(id(module))
            caller = getframe(1)
            if caller.f_code is trampoline:
                caller = caller.f_back
            code = caller.f_code
            internal = is_internal.get(code)
            if internal is None:
                internal = frames._internal(code)
            if not internal:
                push((code, caller.f_lasti))
            else:
                built = sites.get(id(module))
                push(built[1] if built is not None and built[0]() is module else walk(caller))
            try:
                result = original_call(module, *args, **kwargs)
            finally:
                pop()
            if getattr(result, "requires_grad", False):
                in_graph(id(module))
            return result

        for wrapper, original in ((__init__, original_init), (_call_impl, original_call)):
            wrapper.__wrapped__ = original  # type: ignore[attr-defined]
            wrapper.__doc__ = original.__doc__
        self.call_code = _call_impl.__code__
        self.inner_call_code = original_call.__code__
        Module.__init__ = __init__
        Module._call_impl = _call_impl

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
