"""The project's other files, read and parsed once for both passes that look into them.

Following a call into another file first finds where the name is defined
(import_paths.py reads the top-level statements of each module on the way),
then analyses that definition (cross_module.py collects the module's imports
and classes). Both want the same file's tree, usually one right after the
other: it is parsed once and kept while the file is unchanged (modification
time and size), for the last MAX_FILES files only (a tree costs memory; the
language server keeps its own per open document).

A run over many files (`gradwatch check`) checks the project's files too: the
check of a file whose tree is held here takes that tree instead of parsing the
text again (`held_tree`), and `in_check_order` checks such a file next, while
it is still held.
"""

from __future__ import annotations

import ast
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

MAX_FILES = 16


@dataclass(frozen=True)
class ModuleFile:
    text: str
    tree: ast.Module  # with syntax errors recovered around (see parsing.py)
    parses: bool  # no syntax error


_files: OrderedDict[str, tuple[tuple[int, int], ModuleFile | None]] = OrderedDict()
_lock = threading.Lock()


def _stamp_of(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def module_file(path: str) -> ModuleFile | None:
    """The file's text and tree; None when it cannot be read (see checker.read_python_file)."""
    path = os.path.abspath(path)
    stamp = _stamp_of(path)
    if stamp is None:
        return None
    with _lock:
        cached = _files.get(path)
        if cached is not None and cached[0] == stamp:
            _files.move_to_end(path)
            return cached[1]
    read = _read(path)
    with _lock:
        _files[path] = (stamp, read)
        _files.move_to_end(path)
        while len(_files) > MAX_FILES:
            _files.popitem(last=False)
    return read


def held_tree(path: str, text: str) -> ast.Module | None:
    """The tree held for the file at `path` when it was parsed from `text` and parses."""
    with _lock:
        cached = _files.get(os.path.abspath(path))
    read = cached[1] if cached is not None else None
    if read is None or not read.parses or read.text != text:
        return None
    return read.tree


def in_check_order(paths: list[str]) -> Iterator[int]:
    """The indices of `paths`, in the order one process should check them: in turn, except
    that a file held here (read as a dependency of a file checked before it) comes first,
    the longest held first, so that its check finds its tree before it is evicted."""
    waiting: dict[str, list[int]] = {}  # path -> its indices (a path given twice is checked twice)
    for index, path in enumerate(paths):
        waiting.setdefault(os.path.abspath(path), []).append(index)
    while waiting:
        with _lock:
            held = next((path for path in _files if path in waiting), None)
        yield from waiting.pop(held if held is not None else next(iter(waiting)))


def forget_all() -> None:
    """Hold no file (a benchmark's round starts as a run does)."""
    with _lock:
        _files.clear()


def _read(path: str) -> ModuleFile | None:
    from gradwatch.checker import UnreadableFile, read_python_file
    from gradwatch.parsing import parse

    try:
        text = read_python_file(Path(path))
        parsed = parse(text)
    except (UnreadableFile, RecursionError, MemoryError, ValueError):
        return None
    return ModuleFile(text, parsed.tree, parsed.syntax_error is None)
