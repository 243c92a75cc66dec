"""Garbage-collector settings for analysing many files in one process.

Python's collector runs a young-generation pass every 700 net allocations of
container objects. `ast.parse` makes several such objects per token, and a run
with cross-module analysis keeps a large, long-lived heap (jedi's and parso's
caches, other files' trees), so each of those frequent passes, and the older
generations' passes they trigger, walk more and more objects. Measured with
`benchmarks/bench_cli.py --cross-module` on whole repositories (Python 3.11,
2-core machine): the default thresholds cost about a third of the cross-module
run on timm and Lightning, and make `ast.parse` itself twice as slow after it;
at 200,000 / 30 / 30 (mypy's choice for its own builds) peak memory grows by
about 5 MB. Cycles are still collected, just in larger batches.
"""

from __future__ import annotations

import gc

ANALYSIS_THRESHOLDS = (200_000, 30, 30)


def tune_for_analysis() -> None:
    """Collect less often: for the `check` command, its worker processes and the language server."""
    gc.set_threshold(*ANALYSIS_THRESHOLDS)
