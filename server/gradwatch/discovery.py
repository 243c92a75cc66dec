"""Which files `gradwatch check PATH...` looks at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

# Folders that hold installed, generated or vendored code: not the user's to fix.
SKIPPED_FOLDER_NAMES = frozenset({"node_modules", "__pycache__", "site-packages", "build", "dist"})
PYTHON_SUFFIX = ".py"


class PathNotFound(Exception):
    """A path named on the command line does not exist."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"path not found: {path}")
        self.path = path


def is_skipped_folder(folder: Path) -> bool:
    """Hidden folders, virtual environments and build/vendor folders are not searched."""
    name = folder.name
    if name.startswith(".") or name in SKIPPED_FOLDER_NAMES:
        return True
    # Any virtual environment, whatever its name, has a pyvenv.cfg at its root.
    return (folder / "pyvenv.cfg").is_file()


def _walk(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        # Pruning `dirs` in place stops os.walk from descending; sorting keeps the order stable.
        dirs[:] = sorted(d for d in dirs if not is_skipped_folder(root_path / d))
        for name in sorted(files):
            if name.endswith(PYTHON_SUFFIX):
                yield root_path / name


def discover_python_files(paths: Iterable[Path], on_skip: Callable[[Path, str], None] | None = None) -> list[Path]:
    """The files to check under `paths`, each once, in a stable order.

    A file named explicitly is always checked, whatever its extension (a
    script without `.py`); a folder named explicitly is searched even if its
    own name would be skipped inside a walk. A symlink met in a folder that
    points outside every path given is left out and passed to `on_skip` with
    the reason: `--fix` would otherwise write files the user never named.
    Raises PathNotFound.
    """
    paths = list(paths)
    for path in paths:
        if not path.exists():
            raise PathNotFound(path)
    roots = {_real(path) for path in paths}
    found: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        candidates = [path] if not path.is_dir() else _walk(path)
        for candidate in candidates:
            key = _real(candidate)
            problem = _outside_or_broken(candidate, key, roots)
            if problem is not None:
                if on_skip is not None:
                    on_skip(candidate, f"skipped: {problem}")
                continue
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def _outside_or_broken(candidate: Path, real: Path, roots: set[Path]) -> str | None:
    """Why a file found in a walk (whose real path is `real`) must not be checked (or written
    by --fix), or None."""
    if not os.path.exists(candidate):  # dangling, or a loop of links
        return "broken symbolic link"
    # Its own path or a folder above it among the roots: a set lookup per level, not a scan of
    # the roots per file (pre-commit names every file: that scan was quadratic).
    if roots.isdisjoint((real, *real.parents)):
        return f"symbolic link to {real}, outside the paths being checked"
    return None


def _real(path: Path) -> Path:
    # os.path.realpath, not Path.resolve: the latter raises RuntimeError on a symlink loop.
    return Path(os.path.realpath(path))
