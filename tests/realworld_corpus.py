"""The real-world corpus (tests/realworld/): reading case headers and running cases on torch.

Shared by tests/test_realworld.py (torch confirms every header) and
benchmarks/realworld.py (what gradwatch finds in the cases).
"""

from __future__ import annotations

import functools
import json
import os
import re
import runpy
import signal
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent / "realworld"

# Hazard class -> the rule codes that report it (see tests/realworld/README.md).
HAZARD_RULES: dict[str, frozenset[str]] = {
    "inplace-saved": frozenset({"GW201", "GW204"}),
    "no-graph": frozenset({"GW101"}),
    "backward-twice": frozenset({"GW106"}),
    "non-scalar": frozenset({"GW112"}),
    "numpy": frozenset({"GW108"}),
    "integer-grad": frozenset({"GW109"}),
    "grad-not-required": frozenset({"GW103", "GW107"}),
    "inplace-leaf": frozenset({"GW202"}),
    "nonleaf-grad": frozenset({"GW104", "GW111"}),
    "silent-cut": frozenset({"GW102", "GW105", "GW110", "GW113", "GW204"}),
    "requires-grad-flag": frozenset({"GW110"}),
    "training-loop": frozenset({"GW301", "GW302"}),
}

_HEADER = re.compile(r"#\s*(source|hazard|cause|expect):\s*(.*?)\s*$")


class HeaderError(ValueError):
    pass


@dataclass(frozen=True)
class Expectation:
    kind: str  # "raises", "assert" or "runs"
    error_type: str = ""
    text: str = ""


@dataclass(frozen=True)
class Case:
    path: Path
    source: str
    hazard: str  # a key of HAZARD_RULES, or "none" for a negative
    causes: tuple[int, ...]
    expect: Expectation

    @property
    def positive(self) -> bool:
        return self.hazard != "none"

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.stem}"


def parse_case(path: Path) -> Case:
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = _HEADER.match(line)
        if not match:
            break
        fields[match.group(1)] = match.group(2)
    missing = {"source", "hazard", "expect"} - fields.keys()
    if missing:
        raise HeaderError(f"{path}: header lacks {', '.join(sorted(missing))}")
    hazard = fields["hazard"]
    if hazard != "none" and hazard not in HAZARD_RULES:
        raise HeaderError(f"{path}: unknown hazard {hazard!r}")
    parts = [part for part in re.split(r"[,\s]+", fields.get("cause", "")) if part]
    if not all(part.isdigit() for part in parts):
        raise HeaderError(f"{path}: cause is a list of line numbers, not {fields['cause']!r}")
    causes = tuple(int(part) for part in parts)
    if hazard != "none" and not causes:
        raise HeaderError(f"{path}: a positive case names its cause lines")
    return Case(path, fields["source"], hazard, causes, parse_expect(path, fields["expect"]))


def parse_expect(path: Path, text: str) -> Expectation:
    if text in ("assert", "runs"):
        return Expectation(text)
    error_type, sep, message = text.partition(":")
    if not sep or not error_type.isidentifier() or not message.strip():
        raise HeaderError(f"{path}: expect is `ErrorType: text`, `assert` or `runs`, not {text!r}")
    return Expectation("raises", error_type, message.strip())


def load_cases() -> list[Case]:
    paths = sorted(ROOT.glob("positive/*.py")) + sorted(ROOT.glob("negative/*.py"))
    return [parse_case(path) for path in paths]


@dataclass(frozen=True)
class Outcome:
    """How a case ended when run: the exception it raised, if any."""

    error_type: str | None
    message: str

    def describe(self) -> str:
        return f"{self.error_type}: {self.message}" if self.error_type else "ran cleanly"


def run_case(path: Path, timeout: float = 60.0) -> Outcome:
    """Run one case as `__main__` in a forked child of this process (torch is
    imported once, each case gets a fresh interpreter state) and report how it ended."""
    _preload()
    path = path.resolve()

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        outcome = _run_here(path)
        with os.fdopen(write_end, "w") as pipe:
            json.dump({"error_type": outcome.error_type, "message": outcome.message}, pipe)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        signal.signal(signal.SIGALRM, _timed_out)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            data = pipe.read()
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            data = json.dumps({"error_type": "Timeout", "message": f"ran longer than {timeout} s"})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    os.waitpid(pid, 0)
    if not data:
        return Outcome("Crash", "the case's process died without a result")
    result = json.loads(data)
    return Outcome(result["error_type"], result["message"])


@functools.cache
def _preload() -> None:
    """Import what cases import, once, before forking: each child then starts with it
    (torch.optim alone takes seconds to import)."""
    import numpy  # noqa: F401
    import torch
    import torch.nn.functional  # noqa: F401
    import torch.optim  # noqa: F401

    torch.set_num_threads(1)
    # The first optimizer step imports a large part of torch lazily: pay it here, once.
    layer = torch.nn.Linear(2, 1)
    for optimizer in (torch.optim.SGD(layer.parameters(), lr=0.1), torch.optim.Adam(layer.parameters())):
        layer(torch.randn(3, 2)).sum().backward()
        optimizer.step()


def _timed_out(signum, frame):
    raise TimeoutError


def _run_here(path: Path) -> Outcome:
    sys.argv = [str(path)]
    os.chdir(path.parent)
    devnull = open(os.devnull, "w")
    sys.stdout = devnull
    warnings.simplefilter("ignore")
    try:
        runpy.run_path(str(path), run_name="__main__")
    except BaseException as error:  # the outcome under test, whatever it is
        first_line = (str(error).splitlines() or [""])[0]
        return Outcome(type(error).__name__, first_line)
    return Outcome(None, "")


def confirms(expect: Expectation, outcome: Outcome) -> bool:
    """Does torch do what the header said?"""
    if expect.kind == "raises":
        return outcome.error_type == expect.error_type and expect.text in outcome.message
    return outcome.error_type is None


if __name__ == "__main__":
    # python tests/realworld_corpus.py [CASE.py ...]: check headers and run cases on torch.
    chosen = [parse_case(Path(arg)) for arg in sys.argv[1:]] or load_cases()
    failures = 0
    for case in chosen:
        outcome = run_case(case.path)
        ok = confirms(case.expect, outcome)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {case.name}: {outcome.describe()}")
    print(f"{len(chosen) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)
