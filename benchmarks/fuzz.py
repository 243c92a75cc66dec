"""The long fuzz run: mutated real files, generated programs and injected hazards through
check_source, every fix, the editor's fix-all and the CLI.

    python benchmarks/fuzz.py --inputs 100000 --fix-trials 20000 --seed 1 --jobs 2
    python benchmarks/fuzz.py --corpus ~/.cache/gradwatch/sweep --inputs 20000   # more seed files
    python benchmarks/fuzz.py --replay /tmp/gradwatch-fuzz/crash/X.py            # re-examine reproducers
    python benchmarks/fuzz.py --inputs 5000 --shrink                             # and shrink one of each

Progress goes to stderr, the summary table to stdout (also after Ctrl-C or --minutes). Every failure is saved
under --out (default /tmp/gradwatch-fuzz) as KIND/NAME.py, the input, and
KIND/NAME.txt, what failed on it; at most a few per distinct failure. The
exit status is 1 when any failure was found. tests/fuzz/test_fuzz.py runs a
short fixed-seed campaign of the same harness in CI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for folder in (REPO / "server", REPO / "tests" / "fuzz"):
    sys.path.insert(0, str(folder))

from fuzz_campaign import Campaign, Plan, clean_output_folder, failure_list, summary_table  # noqa: E402
from fuzz_oracles import KINDS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="fuzzed inputs (default: 100000)")
    parser.add_argument("--fix-trials", type=int, default=20_000, help="fixes to apply and judge (default: 20000)")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed: the same seed makes the same inputs")
    parser.add_argument("--jobs", "-j", type=int, default=2, help="worker processes (default: 2)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/gradwatch-fuzz"), help="where reproducers go")
    parser.add_argument("--corpus", type=Path, help="a folder of more Python files to mutate (e.g. a sweep cache)")
    parser.add_argument("--minutes", type=float, default=0, help="stop making inputs after this long (0: no limit)")
    parser.add_argument("--cli-every", type=int, default=400, help="a CLI batch after every N inputs (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the reproducers of an earlier run in --out")
    parser.add_argument("--shrink", action="store_true", help="after the run, shrink one reproducer per failure")
    parser.add_argument("--shrink-seconds", type=float, default=60, help="time to shrink each (default: 60)")
    parser.add_argument("--replay", type=Path, nargs="+", metavar="FILE", help="only examine these files and report")
    args = parser.parse_args(argv)

    if args.replay:
        return _replay(args.replay)
    if not args.keep:
        clean_output_folder(args.out)
    plan = Plan(
        seed=args.seed,
        inputs=args.inputs,
        fix_trials=args.fix_trials,
        jobs=args.jobs,
        out=args.out,
        corpus=args.corpus.expanduser() if args.corpus else None,
        cli_every=args.cli_every,
        minutes=args.minutes,
    )
    summary = Campaign(plan).run()
    print(summary_table(summary))
    print(failure_list(summary))
    print(f"reproducers: {args.out}")
    if args.shrink:
        _shrink_all(summary, args.out, args.shrink_seconds)
    return 1 if any(summary.count(kind) for kind in KINDS) else 0


def _replay(files: list[Path]) -> int:
    from fuzz_oracles import examine

    failed = False
    for path in files:
        text = path.read_bytes().decode("utf-8", "surrogatepass")
        examination = examine(text)
        counts = f"{examination.findings} findings, {examination.fix_trials} fix trials"
        print(f"{path}: {counts}, slowest check {examination.seconds:.2f} s of CPU")
        for failure in examination.failures:
            failed = failed or failure.kind in KINDS
            print(f"  {failure.kind}: {failure.signature}\n    " + failure.detail.replace("\n", "\n    "))
    return 1 if failed else 0


def _shrink_all(summary, out: Path, seconds: float) -> None:
    from fuzz_shrink import SHRINKABLE, shrink

    for signature, examples in sorted(summary.examples.items()):
        if signature.split(":", 1)[0] not in SHRINKABLE or not examples:
            continue
        path = Path(examples[0])
        text = path.read_bytes().decode("utf-8", "surrogatepass")
        small = shrink(text, signature, out, seconds)
        target = path.with_suffix(".min.py")
        target.write_bytes(small.encode("utf-8", "surrogatepass"))
        print(f"shrunk {signature}: {len(text)} -> {len(small)} characters: {target}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
