"""How fast gradwatch checks real code, compared with Python's own parser.

Reads every file once, then, for several rounds in this one process, times
  (a) `ast.parse` of every file, and
  (b) `gradwatch.checker.check_source` of every file (what `gradwatch check
      --jobs 1` does per file, without reading files or printing),
and prints lines per second (median over rounds) and the ratio b/a.
`--cli` also times the whole command in-process (`main(["check", "--jobs",
"1", "--no-cache", ...])` with its output thrown away, each round starting
afresh), which adds reading files, settings lookup, fix verification and
formatting, and prints its ratio to `ast.parse`: the default command is what
the 0.40 target is about. `--cache` times that command (default options, so with
cross-module analysis) twice per round against a fresh cache folder: cold (empty
cache, entries written) and warm (an unchanged re-run reading them).
`--processes` times the command as a user runs it, a fresh process each time
(`python -m gradwatch check --jobs 1 --no-cache FOLDER`, interpreter start-up
included), with and without `--no-cross-module`, the two alternated in every
round: the cross-module run's cost against the local-only one, measured so
that neither gets a warmer machine or the other's garbage.

    PYTHONPATH=server python benchmarks/bench_cli.py               # torch's own sources
    PYTHONPATH=server python benchmarks/bench_cli.py --limit 300 --rounds 5
    PYTHONPATH=server python benchmarks/bench_cli.py path/to/code --cli
    PYTHONPATH=server python benchmarks/bench_cli.py path/to/code --cache
    PYTHONPATH=server python benchmarks/bench_cli.py path/to/code --processes --skip-check-source --rounds 5
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

TARGET_RATIO = 0.40  # lines per second against ast.parse, for the default run (issue 11)
TARGET_CROSS_COST = 1.3  # the run with cross-module analysis against the local-only one


def torch_source_folder() -> Path:
    # find_spec locates the package without importing it (importing torch takes seconds).
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bench_cli: torch is not installed; pass a folder of Python code instead")
    return Path(next(iter(spec.submodule_search_locations)))


def pick_files(folder: Path, limit: int | None) -> list[Path]:
    from gradwatch.discovery import discover_python_files

    files = sorted(discover_python_files([folder]))
    if limit is not None and limit < len(files):
        # Evenly spaced, so a small sample still spans the whole tree, not one subpackage.
        step = len(files) / limit
        files = [files[int(index * step)] for index in range(limit)]
    return files


def load(files: list[Path]) -> list[tuple[Path, str]]:
    from gradwatch.checker import UnreadableFile, read_python_file

    loaded = []
    for path in files:
        try:
            loaded.append((path, read_python_file(path)))
        except UnreadableFile:
            continue
    return loaded


def time_parse(sources: list[tuple[Path, str]]) -> float:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, text in sources:
            try:
                ast.parse(text)
            except SyntaxError:
                pass
    return time.perf_counter() - start


def time_check(sources: list[tuple[Path, str]], project_root: Path | None = None) -> tuple[float, int]:
    """check_source over every file; with `project_root`, following calls into other files
    through a fresh jedi index (so each round pays for its look-ups, as one CLI run does)."""
    from gradwatch.checker import check_source

    project = None
    start = time.perf_counter()
    if project_root is not None:
        from gradwatch.analysis.cross_module import CrossModule
        from gradwatch.analysis.project import ProjectIndex

        project = CrossModule(ProjectIndex(project_root), files_stay_unchanged=True)  # as the CLI does
    from gradwatch.analysis import module_files

    module_files.forget_all()  # each round starts holding no file, as a run does
    findings = 0
    # The order `gradwatch check --jobs 1` takes: a file whose tree another file's check read goes next.
    for index in module_files.in_check_order([str(path) for path, _ in sources]):
        path, text = sources[index]
        # names=False: the command line describes no names for the editor's hover.
        findings += len(check_source(text, str(path), project=project, names=False).findings)
    return time.perf_counter() - start, findings


def time_cli_cached(files: list[Path]) -> tuple[float, float]:
    """(cold, warm) seconds of `check --jobs 1` with the cache in a new temporary folder."""
    folder = tempfile.mkdtemp(prefix="gradwatch-bench-cache-")
    previous = os.environ.get("GRADWATCH_CACHE_DIR")
    os.environ["GRADWATCH_CACHE_DIR"] = folder
    try:
        cold = time_cli(files)
        warm = time_cli(files)
    finally:
        if previous is None:
            del os.environ["GRADWATCH_CACHE_DIR"]
        else:
            os.environ["GRADWATCH_CACHE_DIR"] = previous
        shutil.rmtree(folder, ignore_errors=True)
    return cold, warm


def time_cli(files: list[Path], *options: str) -> float:
    from gradwatch import cli
    from gradwatch.analysis import module_files
    from gradwatch.cli import main

    cli._PROJECTS.clear()  # each round starts as a run does: no other file looked up or held yet
    module_files.forget_all()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["check", "--jobs", "1", "--exit-zero", "--quiet", *options, *map(str, files)])
    return time.perf_counter() - start


def time_process(folder: Path, *options: str) -> float:
    """Seconds of `gradwatch check --jobs 1 --no-cache FOLDER` in a new process (this one's
    interpreter and environment: `PYTHONPATH=server` finds the checkout's gradwatch)."""
    command = [sys.executable, "-m", "gradwatch", "check", "--jobs", "1", "--no-cache", "--exit-zero", "--quiet"]
    start = time.perf_counter()
    done = subprocess.run([*command, *options, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench_cli: `{' '.join(command)}` failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="Python code to check (default: the installed torch package)")
    parser.add_argument("--limit", type=int, help="use at most N files, spread over the tree")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; medians are reported (default: 3)")
    parser.add_argument("--cli", action="store_true", help="also time the whole `check --jobs 1` command in-process")
    parser.add_argument(
        "--cache", action="store_true", help="also time `check --jobs 1` cold and warm (persistent cache), in-process"
    )
    parser.add_argument(
        "--processes",
        action="store_true",
        help="also time the command as fresh processes, with and without cross-module analysis, alternated",
    )
    parser.add_argument("--skip-check-source", action="store_true", help="time only what the other options ask for")
    parser.add_argument(
        "--cross-module", action="store_true", help="also time check_source following calls into other files (jedi)"
    )
    args = parser.parse_args(argv)

    folder = args.folder or torch_source_folder()
    files = pick_files(folder, args.limit)
    sources = load(files)
    lines = sum(text.count("\n") + (not text.endswith("\n")) for _, text in sources if text)
    print(f"corpus: {folder} ({len(sources)} files, {lines} lines)")
    if not lines:
        print("nothing to measure")
        return 1

    from gradwatch.collector import tune_for_analysis

    # The collector's thresholds of `gradwatch check`, for every timing here, ast.parse's included.
    tune_for_analysis()
    time_check(sources[:20])  # warm-up: lazy imports and caches are not what we measure
    parse_times, check_times, cli_times, cross_times, cold_times, warm_times = [], [], [], [], [], []
    process_times: dict[bool, list[float]] = {True: [], False: []}  # cross-module on?
    findings = cross_findings = 0
    for _ in range(args.rounds):
        parse_times.append(time_parse(sources))
        if not args.skip_check_source:
            elapsed, findings = time_check(sources)
            check_times.append(elapsed)
        if args.cross_module:
            elapsed, cross_findings = time_check(sources, folder)
            cross_times.append(elapsed)
        if args.cli:
            cli_times.append(time_cli([path for path, _ in sources], "--no-cache"))
        if args.processes:
            if args.limit is not None:
                raise SystemExit("bench_cli: --processes checks the whole folder; leave out --limit")
            process_times[False].append(time_process(folder, "--no-cross-module"))
            process_times[True].append(time_process(folder))
        if args.cache:
            # The folder itself when every file is used, as a user runs it (`gradwatch check .`).
            cold, warm = time_cli_cached([folder] if args.limit is None else [path for path, _ in sources])
            cold_times.append(cold)
            warm_times.append(warm)

    parse_rate = lines / statistics.median(parse_times)
    print(f"ast.parse:            {parse_rate:12,.0f} lines/s (median of {args.rounds})")
    if cold_times:
        cold, warm = statistics.median(cold_times), statistics.median(warm_times)
        verdict = "meets" if cold >= 10 * warm else "BELOW"
        print(
            f"check --jobs 1, cache: cold {cold:7.2f} s  warm {warm:7.2f} s  "
            f"({cold / warm:.1f}x faster warm; {verdict} the 10x target; medians of {args.rounds})"
        )
    if cli_times:
        # The whole default command (cross-module analysis on): what the ratio target is about.
        cli_rate = lines / statistics.median(cli_times)
        print(
            f"check --jobs 1 (CLI): {cli_rate:12,.0f} lines/s (median of {args.rounds}); "
            f"ratio / ast.parse: {cli_rate / parse_rate:.2f}{_verdict(cli_rate / parse_rate)}"
        )
    if process_times[True]:
        cross, local = statistics.median(process_times[True]), statistics.median(process_times[False])
        print(
            f"check --jobs 1, fresh processes: {lines / cross:,.0f} lines/s ({cross:.2f} s), ratio / ast.parse: "
            f"{lines / cross / parse_rate:.2f}{_verdict(lines / cross / parse_rate)}; "
            f"--no-cross-module {local:.2f} s; cross-module costs {cross / local:.2f}x "
            f"({'meets' if cross / local <= TARGET_CROSS_COST else 'ABOVE'} the <= {TARGET_CROSS_COST} target; "
            f"medians of {args.rounds}, the two alternated)"
        )
    if not check_times:
        return 0
    check_rate = lines / statistics.median(check_times)
    ratio = check_rate / parse_rate
    print(f"check_source:         {check_rate:12,.0f} lines/s (median of {args.rounds}; {findings} findings)")
    if cross_times:
        cost = statistics.median(cross_times) / statistics.median(check_times)
        verdict = "meets" if cost <= TARGET_CROSS_COST else "ABOVE"
        print(
            f"with cross-module:    {lines / statistics.median(cross_times):12,.0f} lines/s "
            f"(median of {args.rounds}; {cross_findings} findings; {cost:.2f}x the time of check_source, "
            f"{verdict} the <= {TARGET_CROSS_COST} target)"
        )
    print(f"ratio check_source / ast.parse: {ratio:.2f}{_verdict(ratio) if not cross_times else ''}")
    if cross_times:
        # The default run follows calls into other files: the target is for it.
        default_ratio = (lines / statistics.median(cross_times)) / parse_rate
        print(f"ratio with cross-module (the default run) / ast.parse: {default_ratio:.2f}{_verdict(default_ratio)}")
    return 0


def _verdict(ratio: float) -> str:
    return f" ({'meets' if ratio >= TARGET_RATIO else 'BELOW'} the {TARGET_RATIO:.2f} target)"


if __name__ == "__main__":
    sys.exit(main())
