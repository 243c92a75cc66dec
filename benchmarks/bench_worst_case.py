"""How long gradwatch takes on inputs built to be expensive. (A benchmark, not a test.)

Each input once took far longer than its size suggests (issue 12): a long chain
of `x = x + 1` (each result carried the set of every tensor before it), and a
file with thousands of findings (fix verification compared every fix with every
other). For each size it prints the CPU seconds of `check_source` and of the CLI
(`check` and `check --fix`, in-process, on a copy in a temporary folder), the
median of several rounds. Doubling the size should about double the time.

    PYTHONPATH=server python benchmarks/bench_worst_case.py
    PYTHONPATH=server python benchmarks/bench_worst_case.py --sizes 2000 8000 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

from gradwatch.checker import check_source
from gradwatch.cli import main


def chain(size: int) -> str:
    """`x = x + 1`, `size` times, then a backward."""
    lines = ["import torch", "x = torch.randn(3, requires_grad=True)", *["x = x + 1"] * size]
    return "\n".join([*lines, "x.sum().backward()"]) + "\n"


def many_findings(size: int) -> str:
    """`size` lines that each call `.numpy()` on a tensor that requires grad (GW108, each with a safe fix)."""
    lines = ["import torch", "x = torch.randn(3, requires_grad=True)", "y = x.sigmoid()", *["y.numpy()"] * size]
    return "\n".join(lines) + "\n"


def cpu_seconds(work) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def cli_seconds(text: str, *arguments: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.py"
        path.write_text(text)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return cpu_seconds(lambda: main(["check", "--jobs", "1", "--exit-zero", "--no-cross-module", *arguments, str(path)]))


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"CPU seconds, median of {args.rounds} rounds")
    print(f"{'input':<28}{'size':>7}{'check_source':>14}{'CLI check':>11}{'CLI --fix':>11}")
    for name, build in (("x = x + 1 chain", chain), ("one finding per line", many_findings)):
        for size in args.sizes:
            text = build(size)
            timings = [
                [
                    cpu_seconds(lambda: check_source(text)),
                    cli_seconds(text),
                    cli_seconds(text, "--fix"),
                ]
                for _ in range(args.rounds)
            ]
            medians = [statistics.median(column) for column in zip(*timings)]
            print(f"{name:<28}{size:>7}" + "".join(f"{m:>{w}.2f}" for m, w in zip(medians, (14, 11, 11))))


if __name__ == "__main__":
    main_benchmark()
