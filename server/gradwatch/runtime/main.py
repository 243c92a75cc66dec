"""`gradwatch run [--stop] [--output PATH] [--] script.py [args...]`.

The script runs as `python script.py args...` would run it: `sys.argv` is
`[script, *args]`, `__name__` is "__main__", its folder comes first on
`sys.path`, its exit code is ours, and if it raises, its traceback is printed
as Python prints it (without the frames of gradwatch and runpy that started
it). Findings go to stderr as they happen and, at the end, to the JSON file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

USAGE = "usage: gradwatch run [--stop] [--output PATH] [--] script.py [args...]"
HELP = f"""{USAGE}

Run a Python script under the autograd sentinel: an in-place write that
clobbers a tensor saved for backward (GW201), a write through `.data` to one
(GW204), a backward through a graph an earlier backward freed (GW106),
parameters the optimizer steps that never get a gradient and `.grad` reads
that are None on them after a backward (GW102, GW104), `.numpy()` on a tensor
that requires grad (GW108) and a backward from a tensor without graph, with
the `.item()` that cut it (GW101) are reported with the lines involved.

options:
  --stop         stop at the first write that clobbers a saved tensor
  --output PATH  write the findings as JSON here (default:
                 .gradwatch_cache/runtime.json in the project root)
"""


class _Arguments:
    def __init__(self) -> None:
        self.stop = False
        self.output: str | None = None
        self.script: str | None = None
        self.rest: list[str] = []


def parse(argv: Sequence[str]) -> _Arguments:
    """Options up to the script; everything after the script is the script's."""
    parsed = _Arguments()
    items = list(argv)
    while items:
        item = items.pop(0)
        if item == "--":
            break
        if item in ("-h", "--help"):
            print(HELP, end="")
            raise SystemExit(0)
        if item == "--stop":
            parsed.stop = True
        elif item == "--output" or item.startswith("--output="):
            value = item.partition("=")[2] if "=" in item else (items.pop(0) if items else "")
            if not value:
                raise SystemExit(_usage_error("--output needs a path"))
            parsed.output = value
        elif item.startswith("-") and item != "-":
            raise SystemExit(_usage_error(f"unknown option {item}"))
        else:
            items.insert(0, item)
            break
    if not items:
        raise SystemExit(_usage_error("the script to run is missing"))
    parsed.script, parsed.rest = items[0], items[1:]
    return parsed


def _usage_error(message: str) -> int:
    print(f"{USAGE}\ngradwatch run: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    try:
        arguments = parse(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else 2
    script = Path(arguments.script)
    if not script.is_file():
        print(f"gradwatch run: error: no such file: {script}", file=sys.stderr)
        return 2
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        print("gradwatch run: error: torch is not installed in this interpreter", file=sys.stderr)
        return 2
    from gradwatch.runtime.report import Report, default_output, write_json
    from gradwatch.runtime.sentinel import Sentinel

    report = Report()
    output = Path(arguments.output) if arguments.output else default_output(script)
    try:
        exit_code = run_script(script, arguments.rest, Sentinel(report, stop=arguments.stop))
    finally:
        try:
            write_json(report.to_json(), output)
        except OSError as error:
            print(f"gradwatch run: cannot write {output}: {error}", file=sys.stderr)
    return exit_code


def run_script(script: Path, args: list[str], sentinel) -> int:
    """Run `script` as `__main__` under `sentinel`; the exit code Python would give."""
    import runpy

    sys.argv = [str(script), *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        with sentinel:
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_request:
        return _exit_code(exit_request.code)
    except BaseException as error:  # the script's own failure: shown as Python shows it
        _print_traceback(error)
        return 130 if isinstance(error, KeyboardInterrupt) else 1
    finally:
        sys.stdout.flush()
    return 0


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_traceback(error: BaseException) -> None:
    import traceback

    # gradwatch's frames and runpy's (frozen in 3.11+, a file before) that started the script.
    runpy_file = os.path.join(os.path.dirname(os.path.abspath(traceback.__file__)), "runpy.py")
    ours = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "<frozen runpy>", runpy_file)
    summary = traceback.TracebackException.from_exception(error)
    _drop_our_frames(summary, ours, set())
    sys.stderr.write("".join(summary.format()))
    sys.stderr.flush()


def _drop_our_frames(summary, ours: tuple[str, ...], done: set[int]) -> None:
    if summary is None or id(summary) in done:
        return
    done.add(id(summary))
    import traceback

    kept = [frame for frame in summary.stack if not frame.filename.startswith(ours)]
    summary.stack = traceback.StackSummary.from_list(kept)
    _drop_our_frames(summary.__cause__, ours, done)
    _drop_our_frames(summary.__context__, ours, done)
