"""How much analysis one file may cost: a bound on steps, so that no input stalls the checker.

A step is one statement run (loops and followed calls run theirs again), plus
one per HISTORY_PER_STEP saved ops in the history of each tensor an op makes (a
chain of thousands of dependent ops costs quadratic time). The most any file of
the repository sweep needed is about 3,400 steps. Counting steps, not seconds,
keeps the answer the same on every machine and every run.
"""

from __future__ import annotations

MAX_ANALYSIS_STEPS = 12_000
HISTORY_PER_STEP = 256


class AnalysisTooLarge(Exception):
    """The file needs more than MAX_ANALYSIS_STEPS steps: it gets no findings but syntax errors."""


class StepBudget:
    def __init__(self) -> None:
        self.taken = 0

    def take(self, steps: int) -> None:
        self.taken += steps
        if self.taken > MAX_ANALYSIS_STEPS:
            raise AnalysisTooLarge(f"more than {MAX_ANALYSIS_STEPS:,} analysis steps")
