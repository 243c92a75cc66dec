"""`python -m gradwatch` and the installed `gradwatch` command: the CLI (and `gradwatch serve`)."""

import os
import sys

from gradwatch.search_path import make_search_path_safe

make_search_path_safe()  # before anything else is imported: see gradwatch.search_path

from gradwatch.cli import EXIT_ERROR, main as run_command  # noqa: E402


def main() -> int:
    code = run_command()
    if sys.argv[1:2] == ["check"]:
        _exit_without_teardown(code)
    return code


def _exit_without_teardown(code: int) -> None:
    """End a `gradwatch check` now that its output is written. A normal exit frees every
    object the run kept (parsed trees and summaries of other files): 5% of a run over a
    repository. `check` runs no user code and registers no exit handler; a pool of
    processes (`--jobs`) is shut down before `run_command` returns."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # the reader left (`gradwatch check | head`) or closed them
        code = code or EXIT_ERROR
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
