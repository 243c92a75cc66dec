"""What `ProjectIndex.definition` costs on tests/project_fixture (jedi, with torch installed).

Prints, for a user-defined name (`features`, from helpers.py) and a torch name
(`torch.randn`, resolved to None):
  cold       first call in a fresh process (jedi import + environment + first inference),
             with jedi's on-disk cache as it is, and with an empty cache (XDG_CACHE_HOME
             pointed at a new folder);
  warm       median of N calls in one process after a first call, each with a new text
             (a trailing comment changes), so every call builds a new jedi Script: what an
             editor pays after each keystroke;
  cached     median of N repeated calls with the same text and position (answer cache hit);
and definitions per second for warm and cached calls.

    PYTHONPATH=server python benchmarks/bench_jedi.py
    PYTHONPATH=server python benchmarks/bench_jedi.py --rounds 50
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "project_fixture"
TRAIN = FIXTURE / "train.py"

# (label, word, text on the line where it occurs, expected definition file or None)
QUERIES = [
    ("features (user function)", "features", "loss = features(", "helpers.py"),
    ("torch.randn (-> None)", "randn", "torch.randn(8", None),
]


def position(text: str, word: str, line_containing: str) -> tuple[int, int]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line_containing in line:
            return number, line.index(word, line.index(line_containing))
    raise SystemExit(f"bench_jedi: no line contains {line_containing!r} in {TRAIN}")


def check(found, expected_file: str | None) -> None:
    # A benchmark of wrong answers would be meaningless: stop loudly instead.
    got = None if found is None else Path(found.path).name
    if got != expected_file:
        raise SystemExit(f"bench_jedi: expected {expected_file}, got {found}")


def cold_child(word: str, line_containing: str) -> None:
    """Runs in the fresh process: times import + construction + the first definition()."""
    started = time.perf_counter()
    from gradwatch.analysis.project import ProjectIndex

    text = TRAIN.read_text(encoding="utf-8")
    index = ProjectIndex(FIXTURE)
    found = index.definition(str(TRAIN), text, *position(text, word, line_containing))
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "file": None if found is None else Path(found.path).name}))


def run_cold(word: str, line_containing: str, expected: str | None, cache_folder: str | None) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    if cache_folder is not None:
        env["XDG_CACHE_HOME"] = cache_folder
    result = subprocess.run(
        [sys.executable, __file__, "--cold-child", word, line_containing],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["file"] != expected:
        raise SystemExit(f"bench_jedi: cold run expected {expected}, got {report['file']}")
    return report["seconds"]


def measure_warm(rounds: int) -> dict[str, tuple[float, float]]:
    from gradwatch.analysis.project import ProjectIndex

    text = TRAIN.read_text(encoding="utf-8")
    index = ProjectIndex(FIXTURE)
    results = {}
    for label, word, line_containing, expected in QUERIES:
        line, column = position(text, word, line_containing)
        check(index.definition(str(TRAIN), text, line, column), expected)
        fresh = []
        for round_number in range(rounds):
            edited = f"{text}# edit {label} {round_number}\n"
            started = time.perf_counter()
            found = index.definition(str(TRAIN), edited, line, column)
            fresh.append(time.perf_counter() - started)
            check(found, expected)
        cached = []
        for _ in range(rounds):
            started = time.perf_counter()
            index.definition(str(TRAIN), text, line, column)
            cached.append(time.perf_counter() - started)
        results[label] = (statistics.median(fresh), statistics.median(cached))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="calls per warm median (default 20)")
    parser.add_argument("--cold-child", nargs=2, metavar=("WORD", "LINE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cold_child:
        cold_child(*args.cold_child)
        return

    print(f"python {sys.version.split()[0]}, fixture {FIXTURE.relative_to(ROOT)}")
    for label, word, line_containing, expected in QUERIES:
        cached_cold = run_cold(word, line_containing, expected, None)
        with tempfile.TemporaryDirectory() as empty:
            empty_cold = run_cold(word, line_containing, expected, empty)
        print(f"cold  {label:28s} {cached_cold:7.2f} s (jedi cache kept)   {empty_cold:7.2f} s (empty cache)")
    for label, (fresh, cached) in measure_warm(args.rounds).items():
        print(
            f"warm  {label:28s} {fresh * 1000:7.1f} ms median of {args.rounds} (new text each call)"
            f" = {1 / fresh:6.0f}/s;  cached {cached * 1e6:6.1f} us = {1 / cached:8.0f}/s"
        )


if __name__ == "__main__":
    main()
