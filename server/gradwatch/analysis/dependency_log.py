"""Which other files a check's cross-module answers came from.

The persistent cache (`gradwatch.result_cache`) may reuse a file's findings only
while every file they were derived from is unchanged. With cross-module analysis
those include the files `CrossModule` followed an import into. `CrossModule` calls
`note` as it resolves a call; while a check runs inside `recording()`, the paths
are collected, otherwise the calls cost one lookup. The editor's scope cache records
the same way what each function's analysis read, and replays it only while those
files are unchanged (cached_scopes.py).

Recorded for `from pkg.sub import f` (or `from .sub import f`): every module file
the search by path (import_paths.py) read or looked for along the re-exports and
star imports it followed (absent ones too: creating `pkg/sub.py` later changes
the answer), and the file that defines `f`. Where that search leaves the answer
to jedi, the files jedi went through past it are not known.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from typing import Iterable, Iterator


_current: ContextVar[set[str] | None] = ContextVar("gradwatch_dependency_reads", default=None)


@contextlib.contextmanager
def recording() -> Iterator[set[str]]:
    """Collect, into the set yielded, the absolute paths the checks run inside read or looked for.
    Recordings nest: what an inner one collects, the one around it collects too."""
    outer = _current.get()
    paths: set[str] = set()
    token = _current.set(paths)
    try:
        yield paths
    finally:
        _current.reset(token)
        if outer is not None:
            outer |= paths


def note(path: str) -> None:
    """A file whose content an answer was derived from (e.g. the one defining a called function)."""
    paths = _current.get()
    if paths is not None:
        paths.add(os.path.abspath(path))


def note_all(absolute_paths: Iterable[str]) -> None:
    """`note` for each of these paths, already absolute."""
    paths = _current.get()
    if paths is not None:
        paths.update(absolute_paths)
