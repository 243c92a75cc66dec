"""Keep the user's folders from shadowing the modules gradwatch imports.

gradwatch runs inside the user's repositories. `python -m` puts the working
folder first on sys.path (and `PYTHONPATH=.`, or an empty PYTHONPATH entry,
does the same for the installed command), where a repository's own
`argparse.py`, `typing.py` or `asyncio.py` would replace the standard library
module gradwatch imports, and run. Each entry point (`gradwatch/__main__.py`,
which the installed `gradwatch` command also goes through, and
`gradwatch/lsp/__main__.py`) cleans the path before importing anything else.
This module imports only `os` and `sys`: the interpreter loaded them at
start-up, before any user folder was on the path.
"""

from __future__ import annotations

import os
import sys


def safe_search_path(path: list[str], cwd: str | None) -> list[str]:
    """`path` without the working folder ("" or its name), with the standard library first."""

    def real(entry: str) -> str:
        if cwd is None and not os.path.isabs(entry):
            return entry
        return os.path.realpath(os.path.join(cwd or "", entry))

    # gradwatch's own source folder stays (running from a checkout of gradwatch: worker
    # processes started by "spawn" import gradwatch again through this path).
    own_folder = real(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    working_folder = real(cwd) if cwd is not None else None
    kept = [entry for entry in path if entry and (real(entry) != working_folder or real(entry) == own_folder)]
    # The standard library goes before every PYTHONPATH entry, so no folder there can
    # replace one of its modules either; the order of everything else is kept (the VS Code
    # extension puts its bundled packages on PYTHONPATH to win over site-packages).
    if getattr(os, "__file__", None) is None:  # an embedded Python without library files
        return kept
    stdlib = real(os.path.dirname(os.__file__))
    in_stdlib = [entry for entry in kept if _is_stdlib_entry(real(entry), stdlib)]
    return in_stdlib + [entry for entry in kept if entry not in in_stdlib]


def _is_stdlib_entry(entry: str, stdlib: str) -> bool:
    if "site-packages" in entry or "dist-packages" in entry:
        return False
    # The folder itself, lib-dynload below it, and the zipped library beside it (python311.zip).
    zipped = os.path.join(os.path.dirname(stdlib), f"python{sys.version_info[0]}{sys.version_info[1]}.zip")
    return entry == stdlib or entry.startswith(stdlib + os.sep) or entry == zipped


def _working_folder() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # deleted under us: relative entries then mean nothing anyway
        return None


def make_search_path_safe() -> None:
    """Call first thing in an entry point, before anything but `os` and `sys` is imported."""
    sys.path[:] = safe_search_path(sys.path, _working_folder())
