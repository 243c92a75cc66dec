"""A fuzz campaign: inputs made from a seed, examined in worker processes with a hard
time limit, CLI batches now and then, and every failure counted and saved.

benchmarks/fuzz.py runs a long campaign; tests/fuzz/test_fuzz.py a short one.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import shutil
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Iterator

# Imported up front, not when first needed: workers fork from this process, so a run
# uses one version of the harness even while its files are being edited.
import fuzz_inputs as inputs
from fuzz_cli import as_file_bytes, check_batch
from fuzz_generated import generated_programs
from fuzz_oracles import INFO_KINDS, KINDS, Examination, Failure, examine, new_failure

# A worker that spends more CPU time than this on one task is killed and its input
# counted as a hang (CPU time: on a loaded machine wall time says little). Past the
# wall-time limit it is killed too: a worker can also stall without computing.
EXAMINE_TIMEOUT_SECONDS = 60
GENERATE_TIMEOUT_SECONDS = 120
CLI_TIMEOUT_SECONDS = 300
WALL_TIMEOUT_FACTOR = 10
WORKER_MEMORY_BYTES = 4 * 1024**3

_MUTATIONS = {
    "delete_token": 10,
    "insert_token": 10,
    "duplicate_token": 4,
    "swap_tokens": 4,
    "truncate": 6,
    "reindent": 6,
    "splice": 4,
    "deepen": 5,
    "line_endings": 6,
    "odd_characters": 6,
}
_FILE_ENCODINGS = ["utf-8"] * 12 + ["utf-8-sig", "latin-1", "utf-16", "bad-byte"]


@dataclass
class Plan:
    seed: int
    inputs: int
    fix_trials: int = 0
    jobs: int = 2
    # Share of inputs that are hazard snippets injected into real files (more are made
    # after `inputs` while fix trials are short of `fix_trials`).
    injected_share: float = 0.3
    generated_share: float = 0.1
    generated_batch: int = 20
    huge_share: float = 0.003
    huge_bytes: int = 4 * 1024 * 1024  # the largest of them
    # One CLI batch of `cli_batch` recent inputs after every `cli_every` inputs (0: none).
    cli_every: int = 400
    cli_batch: int = 40
    # (PYTHONHASHSEED, --jobs) pairs each CLI batch compares with PYTHONHASHSEED=0 -j 1;
    # None: one pair per batch, cycling through seeds 1..7 and jobs 1 and 2.
    cli_variants: list[tuple[int, int]] | None = None
    out: Path = Path("/tmp/gradwatch-fuzz")
    corpus: Path | None = None
    reproducers_per_signature: int = 3
    progress: bool = True
    # Stop making inputs after this many minutes (0: no limit); the tasks under way finish.
    minutes: float = 0
    # How workers start: "fork" is fast; "spawn" is safe in a process that runs threads (pytest).
    start_method: str = "fork" if sys.platform.startswith("linux") else "spawn"


@dataclass
class Task:
    kind: str  # "examine", "generate" or "cli"
    number: int
    origin: str
    payload: tuple
    text: str | None = None  # the examined input, known to the campaign


@dataclass
class Summary:
    inputs: Counter = field(default_factory=Counter)  # by origin family
    findings: int = 0
    fix_trials: int = 0
    cli_batches: int = 0
    cli_files: int = 0
    failures: Counter = field(default_factory=Counter)  # by kind
    signatures: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)  # signature -> reproducer paths
    slowest: float = 0.0
    seconds: float = 0.0

    def count(self, kind: str) -> int:
        return self.failures[kind]

    def signatures_of(self, kind: str) -> list[tuple[str, int, list[str]]]:
        return [
            (signature, count, self.examples.get(signature, []))
            for signature, count in self.signatures.most_common()
            if signature.split(":", 1)[0] == kind
        ]


# ---------------------------------------------------------------- making inputs


class InputMaker:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.seeds = inputs.repository_seeds(plan.corpus)
        self.hosts = [seed for seed in self.seeds if len(seed.text) < 64 * 1024]
        self.snippets = inputs.hazard_snippets()

    def mutated(self, number: int) -> tuple[str, str]:
        rng = random.Random(f"{self.plan.seed}:{number}")
        seed = rng.choice(self.seeds)
        text = seed.text
        names = []
        for _ in range(rng.choice([1, 1, 1, 1, 2, 2, 3, 5])):
            name = rng.choices(list(_MUTATIONS), weights=list(_MUTATIONS.values()))[0]
            text = self._mutate(name, rng, text)
            names.append(name)
        if rng.random() < self.plan.huge_share:
            text = inputs.huge(rng, text, self.plan.huge_bytes)
            names.append("huge")
        return text, f"mutation:{'+'.join(names)} of {seed.name}"

    def _mutate(self, name: str, rng: random.Random, text: str) -> str:
        if name == "splice":
            return inputs.splice(rng, text, self.seeds)
        return getattr(inputs, name)(rng, text)

    def injected(self, number: int) -> tuple[str, str]:
        rng = random.Random(f"{self.plan.seed}:inject:{number}")
        code, snippet = rng.choice(self.snippets)
        context = ""
        if rng.random() < 0.7:
            snippet = inputs.in_hostile_context(rng, snippet)
            context = " in a hostile context"
        host = rng.choice(self.hosts) if rng.random() < 0.8 else inputs.Seed("(nothing)", "")
        text = inputs.inject(rng, host.text, snippet)
        if rng.random() < 0.15:
            text = inputs.line_endings(rng, text)
            context += " with other line endings"
        return text, f"injection:{code}{context} into {host.name}"


def _tasks(plan: Plan, maker: InputMaker, state: Summary) -> Iterator[Task]:
    """Inputs to examine, batches of generated programs, CLI batches; lazily, so that
    injections continue until the fix-trial target is met."""
    recent: list[tuple[str, str]] = []
    generate_every = max(1, round(plan.generated_batch / plan.generated_share)) if plan.generated_share else 0
    generators = ["torch", "grammar", "node"]
    number = 0
    batches = 0
    cli_batches = 0
    # Enough injections to reach the fix-trial target unless the engine offers almost no fixes.
    last = plan.inputs + 10 * plan.fix_trials
    while number < plan.inputs or (state.fix_trials < plan.fix_trials and number < last):
        rng = random.Random(f"{plan.seed}:plan:{number}")
        if number >= plan.inputs or rng.random() < plan.injected_share:
            text, origin = maker.injected(number)
        else:
            text, origin = maker.mutated(number)
        yield Task("examine", number, origin, (text,), text)
        if len(text) < 1024 * 1024:
            recent = (recent + [(text, origin)])[-plan.cli_batch :]
        number += 1
        if generate_every and number % generate_every == 0 and number <= plan.inputs:
            kind = generators[batches % len(generators)]
            batch_seed = plan.seed * 100_003 + batches
            yield Task("generate", batches, f"generated:{kind}", (kind, batch_seed, plan.generated_batch))
            batches += 1
        if plan.cli_every and number % plan.cli_every == 0 and recent:
            yield _cli_task(plan, number, recent)
            recent = []
            cli_batches += 1
    if plan.cli_every and recent and cli_batches == 0:
        yield _cli_task(plan, number, recent)


def _cli_task(plan: Plan, number: int, recent: list[tuple[str, str]]) -> Task:
    rng = random.Random(f"{plan.seed}:cli:{number}")
    names = [f"b{number:07d}_{index:03d}.py" for index in range(len(recent))]
    files = {name: as_file_bytes(text, rng.choice(_FILE_ENCODINGS)) for name, (text, _) in zip(names, recent)}
    origins = {name: origin for name, (_, origin) in zip(names, recent)}
    if plan.cli_variants is not None:
        variants = plan.cli_variants
    else:
        index = number // max(plan.cli_every, 1)
        variants = [(1 + index % 7, 1 + index % 2)]
    return Task("cli", number, "cli batch", (files, variants, origins))


# ---------------------------------------------------------------- workers


def _worker(connection, scratch: str) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the campaign, which stops the workers
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    import logging

    logging.getLogger("gradwatch").propagate = False  # logged exceptions are collected, not printed
    while True:
        try:
            task: Task | None = connection.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            connection.send(_perform(task, scratch))
        except Exception as error:  # a bug of the harness: the input is kept, the worker goes on
            failure = new_failure("harness_error", f"{type(error).__name__}", traceback.format_exc())
            connection.send([failure] if task.kind == "cli" else Examination(failures=[failure]))


def _perform(task: Task, scratch: str):
    if task.kind == "examine":
        return examine(task.payload[0])
    if task.kind == "generate":
        results = []
        for program in generated_programs(*task.payload):
            Path(scratch).write_text(program, encoding="utf-8", errors="surrogatepass")
            examination = examine(program)
            results.append((program if examination.failures else None, examination))
        return results
    files, variants, _ = task.payload
    return check_batch(files, variants, Path(scratch).with_suffix(".cli"))


class _Slot:
    def __init__(self, context, out: Path, index: int) -> None:
        self.context, self.out, self.index = context, out, index
        self.task: Task | None = None
        self.started = 0.0
        self._start()

    def _start(self) -> None:
        self.scratch = str(self.out / f".worker-{self.index}-{os.getpid()}.py")
        self.connection, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child, self.scratch), daemon=True)
        self.process.start()
        child.close()

    def give(self, task: Task) -> None:
        self.task, self.started = task, time.monotonic()
        self.cpu_at_start = _cpu_seconds(self.process.pid)
        self.connection.send(task)

    def restart(self) -> None:
        self.process.kill()
        self.process.join()
        self.connection.close()
        self._start()

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except OSError:
            pass
        self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def overdue(self, now: float) -> str | None:
        """Why the task has run too long, or None."""
        limits = {"examine": EXAMINE_TIMEOUT_SECONDS, "generate": GENERATE_TIMEOUT_SECONDS}
        limit = limits.get(self.task.kind, CLI_TIMEOUT_SECONDS)
        cpu = _cpu_seconds(self.process.pid)
        if self.task.kind != "cli" and cpu is not None and self.cpu_at_start is not None:
            # The CLI's time is spent in its own subprocesses: only wall time counts for it.
            if cpu - self.cpu_at_start > limit:
                return f"{cpu - self.cpu_at_start:.0f} s of CPU time without an answer: worker killed"
        wall_limit = limit * (WALL_TIMEOUT_FACTOR if self.task.kind != "cli" else 1)
        if now - self.started > wall_limit:
            return f"no answer after {now - self.started:.0f} s: worker killed"
        return None

    def current_text(self) -> str | None:
        if self.task.text is not None:
            return self.task.text
        try:
            return Path(self.scratch).read_text(encoding="utf-8", errors="surrogatepass")
        except OSError:
            return None


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used, from /proc; None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------- the campaign


class Campaign:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.summary = Summary()
        self.saved: Counter = Counter()
        plan.out.mkdir(parents=True, exist_ok=True)

    def run(self) -> Summary:
        start = time.monotonic()
        maker = InputMaker(self.plan)
        tasks = _tasks(self.plan, maker, self.summary)
        context = multiprocessing.get_context(self.plan.start_method)
        slots = [_Slot(context, self.plan.out, i) for i in range(max(1, self.plan.jobs))]
        last_progress = 0.0
        exhausted = False
        try:
            while True:
                if self.plan.minutes and time.monotonic() - start > self.plan.minutes * 60:
                    exhausted = True
                for slot in slots:
                    if slot.task is None and not exhausted:
                        task = next(tasks, None)
                        if task is None:
                            exhausted = True
                        else:
                            slot.give(task)
                busy = [slot for slot in slots if slot.task is not None]
                if not busy:
                    break
                ready = wait([slot.connection for slot in busy], timeout=1.0)
                now = time.monotonic()
                for slot in busy:
                    if slot.connection in ready:
                        self._collect(slot)
                    elif (why := slot.overdue(now)) is not None:
                        self._killed(slot, why)
                if self.plan.progress and now - last_progress > 5:
                    last_progress = now
                    self._progress(now - start)
        except KeyboardInterrupt:  # Ctrl-C: report what was found so far
            print("interrupted: the summary covers the inputs examined so far", file=sys.stderr)
        finally:
            for slot in slots:
                slot.stop()
                Path(slot.scratch).unlink(missing_ok=True)
        self.summary.seconds = time.monotonic() - start
        if self.plan.progress:
            self._progress(self.summary.seconds)
        return self.summary

    def _collect(self, slot: _Slot) -> None:
        task = slot.task
        try:
            answer = slot.connection.recv()
        except (EOFError, OSError):
            slot.process.join(timeout=1)
            code = slot.process.exitcode
            self._record_failure(
                new_failure("crash", f"worker died (exit {code})", "the worker process died"),
                task.origin,
                slot.current_text(),
            )
            if task.kind != "cli":
                self._count_input(task.origin)
            slot.restart()
            slot.task = None
            return
        slot.task = None
        if task.kind == "examine":
            self._record(answer, task.origin, task.text)
        elif task.kind == "generate" and isinstance(answer, list):
            for program, examination in answer:
                self._record(examination, task.origin, program)
        elif task.kind == "generate":  # the generator itself failed
            self._record(answer, task.origin, None)
        else:
            origins = task.payload[2]
            self.summary.cli_batches += 1
            self.summary.cli_files += len(task.payload[0])
            for failure in answer:
                name = next((n for n in origins if failure.detail.startswith(n) or f" {n}" in failure.detail), None)
                self._record_failure(failure, f"cli batch: {origins.get(name, '?')}", None)

    def _killed(self, slot: _Slot, why: str) -> None:
        task = slot.task
        text = slot.current_text()
        slot.restart()
        slot.task = None
        self._record_failure(new_failure("hang", f"{task.kind} killed", why), task.origin, text)
        if task.kind != "cli":
            self._count_input(task.origin)

    def _count_input(self, origin: str) -> None:
        self.summary.inputs[origin.split(":", 1)[0] if not origin.startswith("generated") else origin] += 1

    def _record(self, examination: Examination, origin: str, text: str | None) -> None:
        self._count_input(origin)
        self.summary.findings += examination.findings
        self.summary.fix_trials += examination.fix_trials
        self.summary.slowest = max(self.summary.slowest, examination.seconds)
        for failure in examination.failures:
            self._record_failure(failure, origin, text)

    def _record_failure(self, failure: Failure, origin: str, text: str | None) -> None:
        self.summary.failures[failure.kind] += 1
        self.summary.signatures[failure.signature] += 1
        if self.saved[failure.signature] >= self.plan.reproducers_per_signature:
            return
        self.saved[failure.signature] += 1
        path = self._save(failure, origin, failure.text if failure.text is not None else text)
        self.summary.examples.setdefault(failure.signature, []).append(str(path))

    def _save(self, failure: Failure, origin: str, text: str | None) -> Path:
        folder = self.plan.out / failure.kind
        folder.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", failure.signature.split(":", 1)[-1]).strip("-")[:80] or "input"
        path = folder / f"{slug}-{self.saved[failure.signature]}.py"
        if failure.data:
            path.write_bytes(failure.data)
        elif text is not None:
            path.write_bytes(text.encode("utf-8", "surrogatepass"))
        else:
            path.write_bytes(b"")
        path.with_suffix(".txt").write_text(
            f"kind: {failure.kind}\nsignature: {failure.signature}\nfrom: {origin}\nrun seed: {self.plan.seed}\n"
            f"replay: python benchmarks/fuzz.py --replay {path}\n\n{failure.detail}\n",
            encoding="utf-8",
            errors="replace",
        )
        return path

    def _progress(self, elapsed: float) -> None:
        s = self.summary
        done = sum(s.inputs.values())
        failures = ", ".join(f"{kind} {n}" for kind, n in sorted(s.failures.items()) if kind in KINDS) or "no failures"
        print(
            f"[{elapsed:6.0f} s] {done}/{self.plan.inputs} inputs, {s.fix_trials}/{self.plan.fix_trials} fix trials,"
            f" {s.cli_batches} CLI batches, {done / max(elapsed, 1e-9):.0f} inputs/s; {failures}",
            file=sys.stderr,
            flush=True,
        )


# ---------------------------------------------------------------- reporting


def summary_table(summary: Summary) -> str:
    rows = [("inputs", sum(summary.inputs.values()), "")]
    for origin, count in sorted(summary.inputs.items()):
        rows.append((f"  {origin}", count, ""))
    rows += [
        ("findings", summary.findings, ""),
        ("fix trials", summary.fix_trials, ""),
        (f"CLI batches ({summary.cli_files} files)", summary.cli_batches, ""),
        ("slowest check (s of CPU)", f"{summary.slowest:.2f}", ""),
        ("", "", ""),
        ("failure kind", "count", "distinct"),
    ]
    for kind, label in {**KINDS, **INFO_KINDS}.items():
        rows.append((label, summary.count(kind), len(summary.signatures_of(kind)) or ""))
    width = max(len(str(row[0])) for row in rows)
    lines = [f"{label:<{width}}  {count!s:>8}  {distinct!s:>8}" for label, count, distinct in rows]
    return "\n".join(lines) + "\n"


def failure_list(summary: Summary, per_kind: int = 10) -> str:
    lines = []
    for kind in list(KINDS) + list(INFO_KINDS):
        signatures = summary.signatures_of(kind)
        if not signatures:
            continue
        lines.append(f"{KINDS.get(kind) or INFO_KINDS[kind]}:")
        for signature, count, examples in signatures[:per_kind]:
            lines.append(f"  {count:6}  {signature}  {examples[0] if examples else ''}")
    return "\n".join(lines) + ("\n" if lines else "")


def clean_output_folder(out: Path) -> None:
    """Remove the reproducers of an earlier run (only the folders this module writes)."""
    for kind in list(KINDS) + list(INFO_KINDS):
        shutil.rmtree(out / kind, ignore_errors=True)
