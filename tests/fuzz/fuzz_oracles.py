"""What one fuzz input is checked for: crashes, stalls, bad spans, bad fixes, nondeterminism.

`examine(text)` runs the engine the ways a user does (check, each fix, `--fix`'s
rounds, the editor's diagnostics and fix-all) and returns the failures it saw.
It runs inside a worker process; the campaign enforces the hard time limit
from outside.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field

from fuzz_editor import editor_analysis, editor_fix_all
from fuzz_syntax import Lines, NodeOffsets, changed_outside, dump, inside_one_statement, parse_or_none, parses
from gradwatch import fixes as engine_fixes
from gradwatch.checker import check_source
from gradwatch.fixes import OverlappingEdits, apply_edits, fix_until_stable

# A check that uses more CPU time than this is a hang (CPU time, not wall time: a
# loaded machine must not make an input look slow). Past ABORT_SECONDS it is stopped.
HANG_SECONDS = 2.0
ABORT_SECONDS = 10.0
# Fixes on inputs this large are the same fixes as on small ones, at many times the cost.
MAX_FIX_TRIAL_CHARS = 256 * 1024
# Each fix is verified by checking the fixed text: an input with 600 findings would cost
# minutes (the CLI's --fix verifies a round at once, in a second). A spread of them is tried.
MAX_FIXED_FINDINGS = 40

# Failure kinds, in the order the summary lists them; the text is the summary's row label.
KINDS = {
    "crash": "crashes",
    "hang": f"hangs (check over {HANG_SECONDS:g} s of CPU)",
    "span_error": "span errors",
    "edit_out_of_range": "out-of-range edits",
    "fix_breaks_parsing": "fixes that break parsing",
    "safe_fix_changes_behaviour": "safe fixes that change behaviour",
    "editor_fix_all_breaks": "editor fix-all breaks code",
    "fix_changes_line_endings": "fixes that change line endings",
    "fix_leaves_finding": "fixes that leave their finding",
    "fix_loop_not_converging": "--fix rounds that never settle",
    "cli_exit_2": "CLI exit 2 (one file's content)",
    "cli_fix_breaks": "CLI --fix writes code that does not parse",
    "nondeterministic": "nondeterminism (same process)",
    "nondeterministic_hash_seed": "nondeterminism (PYTHONHASHSEED / --jobs)",
    "cached_differs": "editor re-checks that differ from a fresh check",
}
# Reported, not counted as failures.
INFO_KINDS = {
    # An exception a rule raised that the checker caught and logged: fewer findings, no crash.
    "logged_exception": "exceptions caught and logged by the checker (info)",
    # A fix the engine proposed and its verification kept from users (gradwatch.fixes.FixVerifier).
    "fix_withheld": "fixes withheld by verification (info)",
    # The harness itself failed on an input (its own bug, or a tree too deep for it to judge).
    "harness_error": "harness errors (info)",
}


@dataclass
class Failure:
    kind: str
    # Failures with the same signature are one defect; the campaign keeps a few reproducers of each.
    signature: str
    detail: str
    # The text that shows the failure, when it is not the input itself (e.g. a fixed text that crashes).
    text: str | None = None
    # The exact bytes of a file the CLI read, when they are not UTF-8 of `text`.
    data: bytes | None = None


def new_failure(kind: str, key: str, detail: str, text: str | None = None, data: bytes | None = None) -> Failure:
    """A failure whose signature is its kind and `key` (what distinguishes one defect of the kind from another)."""
    return Failure(kind, f"{kind}:{key}", detail, text, data)


@dataclass
class Examination:
    failures: list[Failure] = field(default_factory=list)
    findings: int = 0
    fix_trials: int = 0
    seconds: float = 0.0


# ---------------------------------------------------------------- running the checker


class _LoggedErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class _Run:
    result: object | None
    seconds: float  # CPU time
    error: Failure | None
    logged: list[Failure]
    aborted: bool = False


class _Overtime(BaseException):
    """Raised into a check that ran past ABORT_SECONDS (a BaseException: the engine's
    `except Exception` around each rule must not swallow it)."""


@contextlib.contextmanager
def _cpu_limit(seconds: float):
    """Interrupt the block after `seconds` of CPU time (only in the main thread, where signals go)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def overtime(signum, frame):
        raise _Overtime()

    previous = signal.signal(signal.SIGPROF, overtime)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _timed_check(text: str, what: str) -> _Run:
    handler = _LoggedErrors()
    logger = logging.getLogger("gradwatch")
    logger.addHandler(handler)
    start = time.process_time()
    aborted = False
    try:
        with _cpu_limit(ABORT_SECONDS):
            result = check_source(text)
        error = None
    except _Overtime:
        result, error, aborted = None, None, True
    except Exception as exception:  # MemoryError and RecursionError included: that is what we look for
        result, error = None, _crash(exception, what)
    finally:
        seconds = time.process_time() - start
        logger.removeHandler(handler)
    logged = [
        new_failure(
            # The analysis failing is a crash the checker survived; a rule failing costs one rule.
            "crash" if record.getMessage().startswith("internal error") else "logged_exception",
            f"{record.getMessage().split(' on ')[0]}",
            f"{what}: {record.getMessage()}\n{_format_exc_info(record.exc_info)}",
        )
        for record in handler.records
    ]
    return _Run(result, seconds, error, logged, aborted)


def _format_exc_info(exc_info) -> str:
    if not exc_info or exc_info[1] is None:
        return ""
    return "".join(traceback.format_exception(*exc_info)[-6:])


def _crash(exception: BaseException, what: str) -> Failure:
    frames = traceback.extract_tb(exception.__traceback__)
    ours = [frame for frame in frames if "gradwatch" in frame.filename]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    site = f"{where.filename.rsplit('/', 1)[-1]}:{where.name}" if where else "?"
    tail = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__)[-8:])
    return new_failure("crash", f"{type(exception).__name__}:{site}", f"{what} raised\n{tail}")


def _check(text: str, what: str, examination: Examination):
    """check_source(text), with crashes, stalls and logged exceptions recorded; the result or None."""
    run = _timed_check(text, what)
    if run.aborted:
        examination.failures.append(
            new_failure(
                "hang",
                "slow check",
                f"{what} stopped after {run.seconds:.1f} s of CPU time ({len(text)} characters)",
                None if what == "check" else text,
            )
        )
    elif run.seconds > HANG_SECONDS:
        # One slow run can be a cold cache or a noisy neighbour; a second one is the input.
        again = _timed_check(text, what)
        if again.seconds > HANG_SECONDS:
            examination.failures.append(
                new_failure(
                    "hang",
                    "slow check",
                    f"{what} took {run.seconds:.2f} s, then {again.seconds:.2f} s of CPU ({len(text)} characters)",
                    None if what == "check" else text,
                )
            )
    examination.seconds = max(examination.seconds, run.seconds)
    for failure in run.logged:
        failure.text = None if what == "check" else text
        examination.failures.append(failure)
    if run.error is not None:
        run.error.text = None if what == "check" else text
        examination.failures.append(run.error)
    return run.result


# ---------------------------------------------------------------- the examination


def examine(text: str, *, fixes: bool = True, editor: bool = True) -> Examination:
    examination = Examination()
    result = _check(text, "check", examination)
    if result is None or any(f.kind == "hang" for f in examination.failures):
        return examination  # every further step would re-check it: the stall is reported once
    examination.findings = len(result.findings)
    _check_determinism(text, result, examination)
    _check_cached_recheck(text, result, examination)
    _check_editor_diagnostics(text, examination)
    lines = Lines(text)
    _check_spans(result, lines, examination)
    if not fixes or len(text) > MAX_FIX_TRIAL_CHARS or not any(f.fixes for f in result.findings):
        return examination
    original = parse_or_none(text)
    original_dump = dump(original) if original is not None else None
    offered = _offered_fixes(text, result, examination)
    for finding in _spread(result.findings, MAX_FIXED_FINDINGS):
        for fix in offered(finding):
            examination.fix_trials += 1
            _try_fix(text, lines, (original, original_dump), result, finding, fix, examination)
    if any(fix.safe for finding in result.findings for fix in finding.fixes):
        _check_fix_rounds(text, original is not None, examination)
        if editor:
            _check_editor_fix_all(text, original is not None, examination)
    return examination


def _spread(items: list, most: int) -> list:
    """At most `most` of `items`, evenly spread over them (the first and the last kept)."""
    if len(items) <= most:
        return items
    return [items[round(i * (len(items) - 1) / (most - 1))] for i in range(most)]


def fingerprint(result) -> str:
    """Everything a user can see of a check's result, as one string."""
    parts = []
    for f in result.findings:
        parts.append(
            repr(
                (
                    f.code,
                    str(f.severity),
                    f.message,
                    f.span,
                    [(r.span, r.message, r.path) for r in f.related],
                    [(x.title, x.safe, [(e.span, e.new_text) for e in x.edits]) for x in f.fixes],
                )
            )
        )
    parts += [repr((n.span, n.name, n.description)) for n in getattr(result, "names", [])]
    return "\n".join(parts)


def _offered_fixes(text: str, result, examination: Examination):
    """finding -> the fixes users are offered: those the engine's verification passes, where
    the engine verifies (the CLI and the editor only show those); the withheld ones are counted."""
    verifier_class = getattr(engine_fixes, "FixVerifier", None)
    if verifier_class is None:
        return lambda finding: finding.fixes

    def check(current: str):
        checked = _check(current, "check during fix verification", examination)
        return [] if checked is None else checked.findings

    verifier = verifier_class(text, check, result.findings)

    def offered(finding):
        passed = []
        for fix in finding.fixes:
            why = verifier.problem(finding, fix)
            if why is None:
                passed.append(fix)
            else:
                key = f"{finding.code}:{'safe' if fix.safe else 'unsafe'}:{why}"
                detail = f"withheld: {why}\n{_describe(finding, fix)}"
                examination.failures.append(new_failure("fix_withheld", key, detail))
        return passed

    return offered


def _check_determinism(text: str, result, examination: Examination) -> None:
    # Half the cost of an input: done for every input with findings, and one in four of the others.
    if not result.findings and zlib.crc32(text.encode("utf-8", "surrogatepass")) % 4:
        return
    again = _check(text, "second check", examination)
    if again is None:
        return
    first, second = fingerprint(result), fingerprint(again)
    if first != second:
        detail = _first_difference(first, second)
        examination.failures.append(
            new_failure("nondeterministic", f"{_codes_in(detail)}", f"two checks differ:\n{detail}")
        )


def _check_cached_recheck(text: str, result, examination: Examination, pick: int | None = None) -> None:
    """The editor re-checks a document with what it kept of the version before (ScopeCache):
    an earlier version made by changing one line (`pick`; a name typed at its end, or the
    line gone) must not change what the next check of `text` reports."""
    if pick is None and not result.findings and zlib.crc32(text.encode("utf-8", "surrogatepass")) % 4:
        return
    from gradwatch.analysis.scope_cache import ScopeCache

    lines = text.splitlines(keepends=True)
    if not lines:
        return
    if pick is None:
        pick = zlib.crc32(text.encode("utf-8", "surrogatepass")) % len(lines)
    line = lines[pick]
    typed = re.sub(r"(\w)(\W*)$", r"\1x\2", line, count=1)
    for earlier, how in (
        ("".join(lines[:pick] + [typed] + lines[pick + 1 :]), f"`x` typed at the end of line {pick + 1}"),
        ("".join(lines[:pick] + lines[pick + 1 :]), f"line {pick + 1} deleted"),
    ):
        cache = ScopeCache()
        try:
            check_source(earlier, cache=cache)
            cached = check_source(text, cache=cache)
        except Exception as exception:
            examination.failures.append(_crash(exception, f"a re-check after {how}"))
            return
        first, second = fingerprint(result), fingerprint(cached)
        if first != second:
            detail = _first_difference(first, second)
            examination.failures.append(
                new_failure(
                    "cached_differs",
                    _codes_in(detail),
                    f"checked after a version with {how}, the result differs from a fresh check:\n{detail}",
                )
            )
            return


def _first_difference(first: str, second: str) -> str:
    a, b = first.splitlines(), second.splitlines()
    for x, y in zip(a, b):
        if x != y:
            return f"- {x}\n+ {y}"
    return f"{len(a)} lines against {len(b)} lines"


def _codes_in(text: str) -> str:
    return ",".join(sorted(set(re.findall(r"GW\d{3}", text)))) or "?"


def _check_spans(result, lines: Lines, examination: Examination) -> None:
    for finding in result.findings:
        spans = [("finding", finding.span)]
        spans += [("related", r.span) for r in finding.related if r.path is None]
        for which, span in spans:
            problem = lines.problem(span)
            if problem:
                examination.failures.append(
                    new_failure(
                        "span_error",
                        f"{finding.code}:{which}",
                        f"{finding.code} {which} span {span}: {problem}\nmessage: {finding.message}",
                    )
                )


# ---------------------------------------------------------------- one fix


def _describe(finding, fix) -> str:
    edits = "\n".join(f"  {e.span} -> {e.new_text!r}" for e in fix.edits)
    kind = "safe" if fix.safe else "unsafe"
    return f"{finding.code} at {finding.span}: {finding.message}\nfix ({kind}): {fix.title}\n{edits}"


def _try_fix(text, lines: Lines, parsed, result, finding, fix, examination: Examination) -> None:
    original, original_dump = parsed
    if not fix.edits:
        return
    what = _describe(finding, fix)
    signature = f"{finding.code}:{'safe' if fix.safe else 'unsafe'}:{_title_shape(fix.title)}"
    for edit in fix.edits:
        problem = lines.problem(edit.span)
        if problem:
            examination.failures.append(
                new_failure("edit_out_of_range", f"{signature}", f"edit {edit.span}: {problem}\n{what}")
            )
            return
    try:
        fixed = apply_edits(text, fix.edits)
    except OverlappingEdits as error:
        examination.failures.append(new_failure("edit_out_of_range", f"{signature}", f"{error}\n{what}"))
        return
    low = min(lines.offset(e.span.line, e.span.column) for e in fix.edits)
    high = max(lines.offset(e.span.end_line, e.span.end_column) for e in fix.edits)
    if original is not None and not inside_one_statement(original, NodeOffsets(text), low, high):
        examination.failures.append(
            new_failure("edit_out_of_range", f"outside statement:{signature}", f"edits leave their statement\n{what}")
        )
    if _line_endings_changed(text, fixed):
        examination.failures.append(
            new_failure("fix_changes_line_endings", f"{signature}", f"the fix adds another line ending\n{what}")
        )
    fixed_tree = parse_or_none(fixed) if original is not None else None
    if original is not None and fixed_tree is None:
        examination.failures.append(
            new_failure("fix_breaks_parsing", signature, f"{what}\n--- fixed text around the edit:\n{_around(fixed, low)}")
        )
        return
    if fix.safe and fixed_tree is not None and original_dump is not None:
        why = changed_outside(original, original_dump, text, fixed_tree, fixed, low, high)
        if why:
            examination.failures.append(
                new_failure(
                    "safe_fix_changes_behaviour",
                    f"{signature}",
                    f"{why}\n{what}\n--- fixed text around the edit:\n{_around(fixed, low)}",
                )
            )
    after = _check(fixed, "check of the fixed text", examination)
    if after is not None and _reported_again(finding, lines, low, high, after, Lines(fixed), len(fixed) - len(text)):
        examination.failures.append(
            new_failure("fix_leaves_finding", signature, f"{finding.code} is still reported after the fix\n{what}")
        )


def judge_fix(text: str, finding, fix) -> list[Failure]:
    """The failures of one fix of a finding reported for `text` (what each fix trial checks)."""
    examination = Examination()
    result = _check(text, "check", examination)
    original = parse_or_none(text)
    parsed = (original, dump(original) if original is not None else None)
    _try_fix(text, Lines(text), parsed, result, finding, fix, examination)
    return examination.failures


def _title_shape(title: str) -> str:
    return re.sub(r"`[^`]*`", "`…`", title)


def _reported_again(finding, lines: Lines, low: int, high: int, after, fixed_lines: Lines, delta: int) -> bool:
    """Is `finding` reported in the fixed text where its code went? (Another finding of the
    same rule elsewhere, which the fixed one may have hidden, does not count.)"""

    def moved(offset: int) -> int:
        if offset <= low:
            return offset
        return offset + delta if offset >= high else low

    start = moved(lines.offset(finding.span.line, finding.span.column))
    end = moved(lines.offset(finding.span.end_line, finding.span.end_column))
    for other in after.findings:
        if other.code == finding.code and fixed_lines.problem(other.span) is None:
            other_start = fixed_lines.offset(other.span.line, other.span.column)
            other_end = fixed_lines.offset(other.span.end_line, other.span.end_column)
            if other_start <= end and start <= other_end:
                return True
    return False


def _around(text: str, offset: int, lines: int = 3) -> str:
    start = text.rfind("\n", 0, offset)
    for _ in range(lines):
        start = text.rfind("\n", 0, max(start, 0))
    end = offset
    for _ in range(lines + 1):
        found = text.find("\n", end + 1)
        end = len(text) if found < 0 else found
    return text[max(start + 1, 0) : end]


def _line_endings_changed(before: str, after: str) -> bool:
    """The fix brought a line ending the file did not use (e.g. \\n into a \\r\\n file)."""

    def kinds(text: str) -> set[str]:
        return set(re.findall(r"\r\n|\r(?!\n)|(?<!\r)\n", text))

    used = kinds(before)
    return bool(used) and not kinds(after) <= used


# ---------------------------------------------------------------- --fix rounds and editor fix-all


def _check_fix_rounds(text: str, text_parses: bool, examination: Examination) -> None:
    """What `gradwatch check --fix` does: safe fixes, re-check, until nothing changes."""

    def findings(current: str):
        result = _check(current, "check during --fix rounds", examination)
        return [] if result is None else result.findings

    outcome = fix_until_stable(text, findings)
    if text_parses and not parses(outcome.text):
        examination.failures.append(
            new_failure("cli_fix_breaks", "fix_until_stable", "--fix rounds left code that does not parse", outcome.text),
        )
        return
    # All the rounds --fix allows were not enough: a fix that keeps coming back.
    again = fix_until_stable(outcome.text, findings)
    if again.fixed:
        codes = ",".join(sorted({f.code for f in outcome.findings if any(x.safe for x in f.fixes)}))
        examination.failures.append(
            new_failure(
                "fix_loop_not_converging",
                f"{codes}",
                f"after {outcome.fixed} fixes, --fix run again fixes {again.fixed} more ({codes})",
            )
        )


def _check_editor_fix_all(text: str, text_parses: bool, examination: Examination) -> None:
    """The editor's "fix all" code action, computed as the language server does, applied as an editor would."""
    try:
        new_text = editor_fix_all(text)
    except Exception as exception:
        failure = _crash(exception, "editor fix-all")
        examination.failures.append(failure)
        return
    if new_text is None:
        return
    if text_parses and not parses(new_text):
        examination.failures.append(
            new_failure("editor_fix_all_breaks", "does not parse", "fix-all left code that does not parse")
        )
    if _line_endings_changed(text, new_text):
        examination.failures.append(
            new_failure("fix_changes_line_endings", "editor fix-all", "fix-all changed line endings")
        )


def _check_editor_diagnostics(text: str, examination: Examination) -> None:
    # Positions become UTF-16 columns here: only text that is not ASCII can trip the conversion,
    # so the others (whose conversion is the identity) are sampled.
    if text.isascii() and zlib.crc32(text.encode("utf-8")) % 8:
        return
    try:
        analysis = editor_analysis(text)
    except Exception as exception:
        examination.failures.append(_crash(exception, "the editor's analysis"))
        return
    if analysis is not None and analysis.failed:
        examination.failures.append(
            new_failure("crash", "editor analysis failed", "the language server's analysis failed (see its log)")
        )
