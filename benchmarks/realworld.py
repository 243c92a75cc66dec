"""What gradwatch finds in the real-world corpus (tests/realworld/).

Runs `gradwatch check --format json` over every case, as a user would, and prints:

- recall per hazard class and overall: a positive case is found when an
  error or warning of one of its class's rules lies within one line of one of
  its cause lines;
- the false-positive rate: negatives (correct code) with any error or warning;
- precision of error and warning findings: a finding is true when its lines
  lie within one line of a cause line of its case (every finding on a
  negative is false).

The cases listed in tests/realworld/frozen.txt were fixed before the engine
work that they measure; cases added later are reported separately, so that
the headline figure is not tuned to them.

    python benchmarks/realworld.py             # the table
    python benchmarks/realworld.py --list      # also every miss and every false finding
    python benchmarks/realworld.py --markdown  # the table as Markdown (for the README)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from realworld_corpus import HAZARD_RULES, ROOT, Case, HeaderError, load_cases  # noqa: E402

LOUD = ("error", "warning")
FROZEN_LIST = ROOT / "frozen.txt"


def run_gradwatch(paths: list[Path], extra: list[str]) -> dict[Path, list[dict]]:
    """Every finding per file, from one `gradwatch check --format json` run."""
    command = [sys.executable, "-m", "gradwatch", "check", "--format", "json", "--exit-zero", *extra]
    result = subprocess.run(
        [*command, *map(str, paths)], capture_output=True, text=True, cwd=REPO, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"realworld: gradwatch check failed (exit {result.returncode}):\n{result.stderr}")
    by_path: dict[Path, list[dict]] = defaultdict(list)
    for finding in json.loads(result.stdout or "[]"):
        by_path[(REPO / finding["path"]).resolve()].append(finding)
    return by_path


def near_a_cause(finding: dict, case: Case) -> bool:
    return any(finding["line"] - 1 <= cause <= finding["end_line"] + 1 for cause in case.causes)


@dataclass
class Tally:
    """Figures for one set of cases."""

    found: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    missed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    noisy_negatives: list[str] = field(default_factory=list)
    quiet_negatives: int = 0
    true_findings: int = 0
    false_findings: list[str] = field(default_factory=list)

    def add(self, case: Case, findings: list[dict]) -> None:
        loud = [f for f in findings if f["severity"] in LOUD]
        for finding in loud:
            if case.positive and near_a_cause(finding, case):
                self.true_findings += 1
            else:
                self.false_findings.append(f"{case.name}:{finding['line']}: {finding['code']} {finding['message']}")
        if not case.positive:
            if loud:
                self.noisy_negatives.append(case.name)
            else:
                self.quiet_negatives += 1
            return
        rules = HAZARD_RULES[case.hazard]
        hit = any(f["code"] in rules and near_a_cause(f, case) for f in loud)
        (self.found if hit else self.missed)[case.hazard].append(case.name)

    def rows(self) -> list[tuple[str, int, int]]:
        """(hazard class, found, cases) for every class with cases, then the total."""
        classes = [h for h in HAZARD_RULES if self.found[h] or self.missed[h]]
        rows = [(h, len(self.found[h]), len(self.found[h]) + len(self.missed[h])) for h in classes]
        rows.append(("all", sum(r[1] for r in rows), sum(r[2] for r in rows)))
        return rows

    def summary(self) -> dict:
        found, cases = self.rows()[-1][1:]
        negatives = self.quiet_negatives + len(self.noisy_negatives)
        loud = self.true_findings + len(self.false_findings)
        return {
            "recall": found / cases if cases else None,
            "false_positive_rate": len(self.noisy_negatives) / negatives if negatives else None,
            "precision": self.true_findings / loud if loud else None,
            "positives": cases,
            "negatives": negatives,
            "findings": loud,
        }


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(title: str, tally: Tally, markdown: bool) -> None:
    summary = tally.summary()
    if markdown:
        print(f"**{title}**\n\n| hazard class | found | cases | recall |\n| --- | ---: | ---: | ---: |")
        for hazard, found, cases in tally.rows():
            print(f"| {hazard} | {found} | {cases} | {found / cases:.2f} |")
        print(
            f"\nPrecision of error/warning findings: {ratio(summary['precision'])} "
            f"({tally.true_findings} of {summary['findings']}); false-positive rate on the negatives: "
            f"{ratio(summary['false_positive_rate'])} ({len(tally.noisy_negatives)} of {summary['negatives']}).\n"
        )
        return
    print(title)
    print(f"  {'hazard class':<20} {'found':>6} {'cases':>6} {'recall':>7}")
    for hazard, found, cases in tally.rows():
        print(f"  {hazard:<20} {found:>6} {cases:>6} {found / cases:>7.2f}")
    print(f"  precision of error/warning findings: {ratio(summary['precision'])} "
          f"({tally.true_findings} true of {summary['findings']})")
    print(f"  false-positive rate on negatives:    {ratio(summary['false_positive_rate'])} "
          f"({len(tally.noisy_negatives)} of {summary['negatives']} negatives with an error or warning)")


def print_details(tally: Tally) -> None:
    for hazard, names in tally.missed.items():
        for name in names:
            print(f"  missed ({hazard}): {name}")
    for line in tally.false_findings:
        print(f"  false: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="also list every miss and every false finding")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--no-cross-module", action="store_true", help="passed on to gradwatch check")
    args = parser.parse_args(argv)

    try:
        cases = load_cases()
    except HeaderError as error:
        raise SystemExit(f"realworld: {error}") from None
    if not cases:
        raise SystemExit(f"realworld: no cases under {ROOT}")
    frozen = set(FROZEN_LIST.read_text().split()) if FROZEN_LIST.exists() else {c.name for c in cases}
    findings = run_gradwatch([c.path for c in cases], ["--no-cross-module"] if args.no_cross_module else [])
    tallies = {"frozen": Tally(), "added": Tally()}
    for case in cases:
        tallies["frozen" if case.name in frozen else "added"].add(case, findings.get(case.path.resolve(), []))

    print_table(f"Frozen corpus ({len(frozen)} cases)", tallies["frozen"], args.markdown)
    if args.list:
        print_details(tallies["frozen"])
    if tallies["added"].rows()[-1][2] or tallies["added"].summary()["negatives"]:
        print()
        print_table("Cases added after the corpus was frozen", tallies["added"], args.markdown)
        if args.list:
            print_details(tallies["added"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
