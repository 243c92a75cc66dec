"""What gets analysed and when: programs, their analyses, debounce and the worker pool.

A *program* is what the engine reads in one go: a Python file, or all code
cells of a notebook in order. Each part of it that the editor knows as a
document (the file, or one cell) is a *segment*. Results are mapped back into
the segment they fall in, so a cell gets its own diagnostics.

Analysis runs in a worker thread so the event loop keeps answering requests.
A result is used only if the program's *state* (which open of the document,
its versions and edits, the settings generation) is still the current one;
otherwise it is dropped and, if the editor asked for it, the analysis runs
again on the latest text. A run that turns stale is cancelled at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable, Hashable

from lsprotocol import types

from gradwatch.analysis.scope_cache import ScopeCache
from gradwatch.checker import check_source
from gradwatch.config import Settings
from gradwatch.findings import Finding, NameState, Span
from gradwatch.lsp import convert

log = logging.getLogger(__name__)

# How long the edits must pause before a program's cross-module pass starts (after its own
# diagnostics were published): long enough for a keystroke already on its way, far shorter
# than a pause anyone notices.
FOLLOW_UP_DELAY_SECONDS = 0.05


@dataclass(frozen=True)
class Segment:
    uri: str
    version: int | None
    # Program line (1-based) of this segment's first line.
    first_line: int
    # The segment's own text, split into lines; positions are converted against these.
    lines: tuple[str, ...]

    @property
    def last_line(self) -> int:
        return self.first_line + len(self.lines) - 1


@dataclass(frozen=True)
class Program:
    key: str  # the document's URI, or the notebook's
    text: str
    segments: tuple[Segment, ...]
    settings: Settings
    enabled: bool
    path: str | None
    # Changes whenever anything that affects the result changes; see Analyser.
    state: Hashable
    notebook: bool = False
    # Follows calls into the workspace's other files (a CrossModule); None: off.
    project: object | None = None

    def locate(self, span: Span) -> tuple[Segment, Span] | None:
        """The segment a span starts in and the span in that segment's own lines."""
        for segment in self.segments:
            if segment.first_line <= span.line <= segment.last_line:
                offset = segment.first_line - 1
                if span.end_line <= segment.last_line:
                    local = Span(span.line - offset, span.column, span.end_line - offset, span.end_column)
                else:  # a span running into the next cell is cut at the end of this one
                    last = len(segment.lines)
                    local = Span(span.line - offset, span.column, last, len(segment.lines[-1]))
                return segment, local
        return None


def single_document_program(
    uri: str, version: int | None, text: str, settings: Settings, enabled: bool, path: str | None, state: Hashable
) -> Program:
    segment = Segment(uri, version, 1, tuple(convert.split_lines(text)))
    return Program(uri, text, (segment,), settings, enabled, path, state)


@dataclass(frozen=True)
class LocatedFinding:
    finding: Finding
    uri: str
    span: Span  # in the document `uri`
    diagnostic: types.Diagnostic


@dataclass(frozen=True)
class LocatedName:
    name: NameState
    uri: str
    span: Span


@dataclass
class Analysis:
    program: Program
    findings: list[LocatedFinding] = field(default_factory=list)
    names: list[LocatedName] = field(default_factory=list)
    failed: bool = False
    calls_other_files: bool = False

    def diagnostics_for(self, uri: str) -> list[types.Diagnostic]:
        return [item.diagnostic for item in self.findings if item.uri == uri]

    def findings_in(self, uri: str) -> list[LocatedFinding]:
        return [item for item in self.findings if item.uri == uri]

    def segment(self, uri: str) -> Segment | None:
        for segment in self.program.segments:
            if segment.uri == uri:
                return segment
        return None

    def coder(self, uri: str, encoding: str) -> convert.LineCoder | None:
        segment = self.segment(uri)
        return None if segment is None else convert.LineCoder(segment.lines, encoding)


# CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state
# (gh-106905): two threads inside ast.parse/compile at once can fail with a spurious
# SystemError, and that version would be published without diagnostics. Every engine run
# of the server holds this lock; anything else in the process that parses must too.
ENGINE_LOCK = threading.Lock()


class AnalysisCancelled(BaseException):
    """Raised inside a run whose result can no longer be used (newer text, closed document).

    A BaseException, so that the engine's `except Exception` guards (a failing rule, a
    callee it cannot analyse) let it through instead of carrying on with stale work.
    """


class _CancellableCache:
    """The run's scope cache, which the engine asks before analysing each function: the
    checkpoint where a stale run stops. Anything else goes to the cache itself."""

    def __init__(self, cache: ScopeCache, cancelled: threading.Event) -> None:
        self._cache = cache
        self._cancelled = cancelled

    def get(self, key, usable=lambda entry: True):
        if self._cancelled.is_set():
            raise AnalysisCancelled
        return self._cache.get(key, usable)

    def __getattr__(self, name: str):
        return getattr(self._cache, name)


class _CancellableProject:
    """The cross-module resolver, checking for cancellation before each call into it (each
    may cost a jedi look-up, seconds on a large file)."""

    def __init__(self, project: object, cancelled: threading.Event) -> None:
        self._project = project
        self._cancelled = cancelled

    def __getattr__(self, name: str):
        attribute = getattr(self._project, name)
        if not callable(attribute):
            return attribute

        def checked(*args, **kwargs):
            if self._cancelled.is_set():
                raise AnalysisCancelled
            return attribute(*args, **kwargs)

        return checked


def analyse_program(
    program: Program,
    encoding: str,
    scopes: ScopeCache | None = None,
    cancelled: threading.Event | None = None,
) -> Analysis | None:
    """Run the engine and map its results into the program's documents (runs in a worker thread).

    Returns None when `cancelled` was set before the run finished: its result would be stale.
    """
    analysis = Analysis(program)
    if not program.enabled:
        return analysis
    cancelled = cancelled if cancelled is not None else threading.Event()
    # A fresh cache when the caller keeps none: it still gives the run its checkpoints.
    cache = _CancellableCache(scopes if scopes is not None else ScopeCache(), cancelled)
    project = _CancellableProject(program.project, cancelled) if program.project is not None else None
    try:
        with ENGINE_LOCK:
            if cancelled.is_set():  # went stale while queued behind another run
                return None
            result = check_source(
                program.text, path=program.path, settings=program.settings, cache=cache, project=project
            )
    except AnalysisCancelled:
        return None
    except Exception:
        # No diagnostics is better than stale ones; the traceback goes to the log.
        log.exception("analysis of %s failed", program.key)
        analysis.failed = True
        return analysis
    analysis.calls_other_files = result.calls_other_files
    coders = {segment.uri: convert.LineCoder(segment.lines, encoding) for segment in program.segments}
    for finding in result.findings:
        located = program.locate(finding.span)
        if located is None:
            continue
        segment, span = located
        related = []
        for item in finding.related:
            if item.path is not None:
                elsewhere = convert.location_in_file(item.path, item.span, encoding)
                if elsewhere is not None:
                    related.append(types.DiagnosticRelatedInformation(location=elsewhere, message=item.message))
                continue
            where = program.locate(item.span)
            if where is None:
                continue
            related.append(
                types.DiagnosticRelatedInformation(
                    location=types.Location(uri=where[0].uri, range=coders[where[0].uri].range(where[1])),
                    message=item.message,
                )
            )
        diagnostic = convert.diagnostic(finding, coders[segment.uri].range(span), related)
        analysis.findings.append(LocatedFinding(finding, segment.uri, span, diagnostic))
    for name in result.names:
        located = program.locate(name.span)
        if located is not None:
            analysis.names.append(LocatedName(name, located[0].uri, located[1]))
    return analysis


@dataclass(eq=False)
class _Run:
    """One analysis in flight."""

    program: Program
    # The same program with cross-module analysis, to run once this one is published; None
    # when this run is that cross-module pass.
    then: Program | None
    # Set when the result can no longer be used: the run stops at its next checkpoint.
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class _Slot:
    timer: asyncio.TimerHandle | None = None
    # The cross-module pass of the last published program, waiting for a pause in the edits.
    follow_up: tuple[asyncio.TimerHandle, Program] | None = None
    runs: list[_Run] = field(default_factory=list)
    waiters: list[asyncio.Future] = field(default_factory=list)
    # Per-function results of the last run: an edit re-analyses only what it touched.
    scopes: ScopeCache = field(default_factory=ScopeCache)
    cross_module_scopes: ScopeCache = field(default_factory=ScopeCache)


class Analyser:
    """Debounced, off-loop analysis with a cache of the latest analysis per program.

    `build(key)` snapshots the program now (on the event loop) or returns None
    if it is gone; `state_of(key)` is the cheap part of that snapshot used to
    tell whether a finished analysis is still current; `publish(analysis)` is
    called with every current analysis.

    Runs go to one worker thread, in order (see ENGINE_LOCK). A run whose state is
    no longer current is cancelled as soon as that is known (an edit, a settings
    change, a close), so a new version never waits for stale work beyond the
    engine's next checkpoint (the next function, or the next call into another file).
    """

    def __init__(
        self,
        build: Callable[[str], Program | None],
        state_of: Callable[[str], Hashable | None],
        publish: Callable[[Analysis], None],
        encoding: Callable[[], str],
    ) -> None:
        self._build = build
        self._state_of = state_of
        self._publish = publish
        self._encoding = encoding
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradwatch-analysis")
        self._slots: dict[str, _Slot] = {}
        self._cache: dict[str, Analysis] = {}

    def schedule(self, key: str, delay_seconds: float = 0.0) -> None:
        """Analyse `key` after `delay_seconds`; a later call restarts the delay (debounce)."""
        slot = self._slots.setdefault(key, _Slot())
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = None
        self._abandon_stale(slot, key)
        if delay_seconds <= 0:
            self._start(key)
        else:
            slot.timer = asyncio.get_running_loop().call_later(delay_seconds, self._start, key)

    def abandon_stale(self, key: str) -> None:
        """The program changed without a new analysis being scheduled: stop work on older states."""
        slot = self._slots.get(key)
        if slot is not None:
            self._abandon_stale(slot, key)

    def cached(self, key: str) -> Analysis | None:
        """The analysis of exactly the current state, or None (never runs the analysis)."""
        analysis = self._cache.get(key)
        if analysis is not None and analysis.program.state == self._state_of(key):
            return analysis
        return None

    def pending(self, key: str) -> bool:
        """Is an analysis of the current state on its way (a debounce timer set, or a run under way)?"""
        slot = self._slots.get(key)
        if slot is None:
            return False
        if slot.timer is not None:
            return True
        state = self._state_of(key)
        return any(run.program.state == state and not run.cancelled.is_set() for run in slot.runs)

    def latest(self, key: str) -> Analysis | None:
        """The last published analysis, current or not."""
        return self._cache.get(key)

    async def current(self, key: str) -> Analysis | None:
        """The analysis of the current state, waiting for (and if need be starting) it."""
        analysis = self.cached(key)
        if analysis is not None or self._state_of(key) is None:
            return analysis
        slot = self._slots.setdefault(key, _Slot())
        waiter = asyncio.get_running_loop().create_future()
        slot.waiters.append(waiter)
        if slot.timer is None:
            self._start(key)  # does nothing if a run of this state is under way
        return await waiter

    def forget(self, key: str) -> Analysis | None:
        """The program was closed: stop its work and drop its cache; returns the last analysis."""
        slot = self._slots.pop(key, None)
        if slot is not None:
            if slot.timer is not None:
                slot.timer.cancel()
            self._drop_follow_up(slot)
            for run in slot.runs:
                run.cancelled.set()
            self._wake(slot, None)
        return self._cache.pop(key, None)

    def keys(self) -> list[str]:
        return list(self._slots)

    def tracks(self, key: str) -> bool:
        """Was `key` scheduled since it was opened (and not forgotten)?"""
        return key in self._slots

    def shutdown(self) -> None:
        for slot in self._slots.values():
            self._drop_follow_up(slot)
            for run in slot.runs:
                run.cancelled.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _abandon_stale(self, slot: _Slot, key: str) -> None:
        state = self._state_of(key)
        for run in slot.runs:
            if run.program.state != state:
                run.cancelled.set()
        if slot.follow_up is not None and slot.follow_up[1].state != state:
            self._drop_follow_up(slot)

    @staticmethod
    def _drop_follow_up(slot: _Slot) -> None:
        if slot.follow_up is not None:
            slot.follow_up[0].cancel()
            slot.follow_up = None

    def _start(self, key: str) -> None:
        slot = self._slots.get(key)
        if slot is None:
            return
        slot.timer = None
        state = self._state_of(key)
        if any(run.program.state == state and not run.cancelled.is_set() for run in slot.runs):
            return  # its result will answer for this state
        try:
            program = self._build(key)
        except Exception:
            log.exception("cannot read %s for analysis", key)
            program = None
        if program is None:
            self._wake(slot, None)
            return
        self._abandon_stale(slot, key)
        # What the file proves on its own is published first; following calls into other
        # files (jedi, seconds when cold) comes after, as a second publish.
        self._submit(key, slot, _Run(replace(program, project=None), then=program))

    def _submit(self, key: str, slot: _Slot, run: _Run) -> None:
        slot.runs.append(run)
        # Each pass reuses its own per-function cache: the cross-module pass's entries
        # depend on the other files they read too (cached_scopes.py).
        scopes = slot.scopes if run.then is not None else slot.cross_module_scopes
        future = asyncio.get_running_loop().run_in_executor(
            self._pool, analyse_program, run.program, self._encoding(), scopes, run.cancelled
        )
        future.add_done_callback(partial(self._finished, key, slot, run))

    def _finished(self, key: str, slot: _Slot, run: _Run, future: asyncio.Future) -> None:
        if run in slot.runs:
            slot.runs.remove(run)
        if self._slots.get(key) is not slot or future.cancelled():
            return  # closed meanwhile (and perhaps opened again: that is another slot)
        try:
            analysis = future.result()
        except Exception:
            log.exception("analysis of %s failed", key)
            analysis = Analysis(run.program, failed=True)
        if analysis is None or run.program.state != self._state_of(key):
            # Cancelled, or the program moved on while we worked: this result is stale.
            if slot.timer is None and not slot.runs and slot.waiters:
                self._start(key)
            return
        previous = self._cache.get(key)
        self._cache[key] = analysis
        self._wake(slot, analysis)
        # A cross-module run that found nothing more is not published again.
        unchanged = (
            run.then is None
            and previous is not None
            and previous.program.state == run.program.state
            and [f.diagnostic for f in previous.findings] == [f.diagnostic for f in analysis.findings]
        )
        if not unchanged:
            try:
                self._publish(analysis)
            except Exception:
                log.exception("publishing diagnostics for %s failed", key)
        if run.then is not None and run.then.project is not None and analysis.calls_other_files:
            # Not at once: the next keystroke, often already on its way, would have to cancel
            # it, and wait for it to notice (bench_lsp: 11-36 ms per edit). After a pause.
            self._drop_follow_up(slot)
            later = asyncio.get_running_loop().call_later(FOLLOW_UP_DELAY_SECONDS, self._follow_up, key, slot)
            slot.follow_up = (later, run.then)

    def _follow_up(self, key: str, slot: _Slot) -> None:
        # A newer state drops a waiting pass (_abandon_stale), but not every change of state
        # comes with one (the settings' generation): the state is checked again here.
        _, program = slot.follow_up
        slot.follow_up = None
        if self._slots.get(key) is slot and program.state == self._state_of(key):
            self._submit(key, slot, _Run(program, then=None))

    @staticmethod
    def _wake(slot: _Slot, analysis: Analysis | None) -> None:
        waiters, slot.waiters = slot.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(analysis)
