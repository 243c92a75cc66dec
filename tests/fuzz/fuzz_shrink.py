"""Make a reproducer small: drop lines, then characters, while the same failure remains.

Candidates run in a worker process with the campaign's hard time limit, so a
reproducer of a hang or a crash that kills the process can be shrunk too.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from pathlib import Path

from fuzz_campaign import Task, _Slot

# Kinds that examine() alone can show again (the CLI kinds need a whole batch).
SHRINKABLE = {
    "crash",
    "hang",
    "span_error",
    "edit_out_of_range",
    "fix_breaks_parsing",
    "safe_fix_changes_behaviour",
    "editor_fix_all_breaks",
    "fix_changes_line_endings",
    "fix_leaves_finding",
    "fix_loop_not_converging",
    "nondeterministic",
    "logged_exception",
}


class _Judge:
    """Does a text still show the failure with `signature`?"""

    def __init__(self, out: Path, signature: str) -> None:
        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self.slot = _Slot(context, out, 99)
        self.signature = signature
        self.kind = signature.split(":", 1)[0]

    def __call__(self, text: str) -> bool:
        self.slot.give(Task("examine", 0, "shrink", (text,), text))
        while not self.slot.connection.poll(1.0):
            if self.slot.overdue(time.monotonic()) is not None:
                self.slot.restart()
                self.slot.task = None
                return self.kind == "hang"
        try:
            examination = self.slot.connection.recv()
        except (EOFError, OSError):
            self.slot.restart()
            self.slot.task = None
            return self.signature.startswith("crash:worker died")
        self.slot.task = None
        return any(f.signature == self.signature for f in examination.failures)

    def close(self) -> None:
        self.slot.stop()
        Path(self.slot.scratch).unlink(missing_ok=True)


def shrink(text: str, signature: str, out: Path, seconds: float = 60) -> str:
    """A smaller text that still fails with `signature` (the text itself if none is found in time)."""
    judge = _Judge(out, signature)
    deadline = time.monotonic() + seconds
    try:
        if not judge(text):
            return text
        pieces = text.splitlines(keepends=True)
        pieces = _reduce(pieces, judge, deadline)
        if len("".join(pieces)) < 2000:
            pieces = _reduce(list("".join(pieces)), judge, deadline)
        return "".join(pieces)
    finally:
        judge.close()


def _reduce(pieces: list[str], judge: _Judge, deadline: float) -> list[str]:
    """Remove runs of pieces, halving the run length when no run can go (a simple ddmin)."""
    size = max(1, len(pieces) // 2)
    while size >= 1 and time.monotonic() < deadline:
        removed = False
        start = 0
        while start < len(pieces) and time.monotonic() < deadline:
            candidate = pieces[:start] + pieces[start + size :]
            if candidate and judge("".join(candidate)):
                pieces = candidate
                removed = True
            else:
                start += size
        if not removed:
            size //= 2
    return pieces
