"""How much work `gradwatch check` does, counted in machine instructions (valgrind).

Timings on a shared machine move by a third from one run to the next; the number
of instructions a run executes barely moves. This runs, under valgrind's
callgrind tool, each in a fresh process:
  (a) reading every file of FOLDER, and reading plus `ast.parse` of each: their
      difference is what parsing costs;
  (b) `python -m gradwatch check --jobs 1 --no-cache FOLDER` (start-up included,
      as a user runs it), with cross-module analysis and, with `--local`, without;
and prints the instructions of each, and parsing's instructions against the
check's: the counterpart of the lines-per-second ratio `bench_cli.py
--processes` measures (a target of 0.40). Instructions are not time: the
parser's C code runs more of them per cycle than the analysis' Python does, so
the ratio here is higher than the timed one. Use it to compare commits, the
timed ratio for the target. Needs valgrind (`apt-get install valgrind`); each
run takes about 50 times as long as without it.

    PYTHONPATH=server python benchmarks/bench_instructions.py path/to/code
    PYTHONPATH=server python benchmarks/bench_instructions.py path/to/code --local
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Run by (a) in a fresh process: read the files, and parse them when asked.
_PARSE_SCRIPT = """
import ast, sys, warnings
from pathlib import Path
from gradwatch.checker import UnreadableFile, read_python_file
from gradwatch.discovery import discover_python_files
texts = []
for path in discover_python_files([Path(sys.argv[1])]):
    try:
        texts.append(read_python_file(path))
    except UnreadableFile:
        pass
if sys.argv[2] == "parse":
    warnings.simplefilter("ignore")
    for text in texts:
        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
print(sum(text.count("\\n") + (not text.endswith("\\n")) for text in texts if text))
"""


def instructions(command: list[str]) -> tuple[int, str]:
    """The instructions `command` executed (its own process only), and what it printed."""
    with tempfile.TemporaryDirectory(prefix="gradwatch-bench-") as folder:
        out = os.path.join(folder, "callgrind.out")
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
            capture_output=True,
            text=True,
        )
        if done.returncode not in (0, 1) or not os.path.exists(out):
            raise SystemExit(f"bench_instructions: {' '.join(command)} failed: {done.stderr[-2000:]}")
        with open(out, encoding="utf-8", errors="replace") as file:
            summary = next((line for line in file if line.startswith("summary:")), None)
    if summary is None:
        raise SystemExit("bench_instructions: callgrind wrote no summary")
    return int(summary.split()[1]), done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="Python code to check")
    parser.add_argument("--local", action="store_true", help="also count the run with --no-cross-module")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_instructions: valgrind is not installed (apt-get install valgrind)")
    if not args.folder.is_dir():
        raise SystemExit(f"bench_instructions: {args.folder} is not a folder")
    folder = str(args.folder.resolve())
    python = sys.executable
    read, _ = instructions([python, "-c", _PARSE_SCRIPT, folder, "read"])
    read_and_parse, printed = instructions([python, "-c", _PARSE_SCRIPT, folder, "parse"])
    lines = int(re.findall(r"\d+", printed)[-1])
    parse = read_and_parse - read
    check_command = [python, "-m", "gradwatch", "check", "--jobs", "1", "--no-cache", "--exit-zero", "--quiet"]
    print(f"corpus: {folder} ({lines} lines)")
    print(f"ast.parse of every file:      {parse / 1e9:7.2f} billion instructions")
    check, _ = instructions([*check_command, folder])
    print(f"check --jobs 1 --no-cache:    {check / 1e9:7.2f} billion; ast.parse / check: {parse / check:.2f}")
    if args.local:
        local, _ = instructions([*check_command, "--no-cross-module", folder])
        print(
            f"  with --no-cross-module:     {local / 1e9:7.2f} billion; ast.parse / check: {parse / local:.2f}; "
            f"cross-module costs {check / local:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
