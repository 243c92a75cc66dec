"""The one entry point the CLI and the language server share: text in, findings out."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from gradwatch.analysis.budget import AnalysisTooLarge
from gradwatch.analysis.interpreter import analyse
from gradwatch.analysis.module_files import held_tree
from gradwatch.analysis.scope_cache import ScopeCache

if TYPE_CHECKING:
    from gradwatch.analysis.cross_module import CrossModule
from gradwatch.config import Settings
from gradwatch.file_io import RefusedFile, read_bounded
from gradwatch.findings import CheckResult, Finding, Severity, Span
from gradwatch.parsing import parse
from gradwatch.rules import all_rules
from gradwatch.source import SourceText

log = logging.getLogger("gradwatch")

SYNTAX_ERROR_CODE = "GW001"
ANALYSIS_SKIPPED_CODE = "GW002"
# Larger files are not analysed: parsing alone would take over half a second per MiB
# (the largest file of the repository sweep has 240 KB, checked in 0.2 s).
MAX_FILE_BYTES = 512 * 1024

_SUPPRESSION = re.compile(
    r"#\s*(?:noqa|gradwatch:\s*ignore)(?P<codes>\s*[:\[]\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*\]?)?",
    re.IGNORECASE,
)


class UnreadableFile(Exception):
    """A file that is not Python text (binary, not UTF-8, too large); the message says which."""


def read_python_file(path: Path) -> str:
    # Size and file type are checked before reading: a FIFO or /dev/zero named `*.py` must
    # cost one skipped file, not a hung run or every byte of memory.
    try:
        data = read_bounded(path, MAX_FILE_BYTES)
    except RefusedFile as error:
        raise UnreadableFile(f"skipped: {error}") from error
    except OSError as error:
        raise UnreadableFile(f"cannot read: {error.strerror or error}") from error
    if b"\x00" in data:
        raise UnreadableFile("skipped: binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"skipped: not UTF-8 text (byte {error.start})") from error


def check_source(
    text: str,
    path: str | None = None,
    settings: Settings | None = None,
    cache: ScopeCache | None = None,
    project: CrossModule | None = None,
    names: bool = True,
) -> CheckResult:
    """Findings for one file. `cache` (one per open document) lets unchanged functions skip
    re-analysis; `project` follows calls into the project's other files (needs `path`);
    `names`: describe each tensor name for the editor's hover (`CheckResult.names`)."""
    settings = settings or Settings()
    source = SourceText(text)
    if len(text) > MAX_FILE_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        skipped = [_analysis_skipped(source, "gradwatch does not analyse files larger than 512 KiB")]
        return CheckResult(findings=skipped if settings.enabled(ANALYSIS_SKIPPED_CODE) else [])
    # Another file's check may have read this one (a dependency) and hold its tree.
    parsed_before = held_tree(path, text) if project is not None and path is not None else None
    parsed = parse(text, cache.parsed_chunks if cache is not None else None, parsed_before, source.lines if text else None)
    findings: list[Finding] = []
    if parsed.syntax_error is not None and settings.enabled(SYNTAX_ERROR_CODE):
        span, message = parsed.syntax_error
        findings.append(Finding(SYNTAX_ERROR_CODE, Severity.ERROR, message, span, rule_name="syntax-error"))
    facts, skipped_because = None, None
    try:
        facts = analyse(
            parsed.tree,
            source,
            collect_names=names,
            cache=cache,
            path=path,
            resolver=project,
            recovered_lines=parsed.recovered_lines,
        )
    except AnalysisTooLarge as error:
        skipped_because = f"it needs {error}"
    except RecursionError:
        # parse() keeps trees shallow enough for the analysis; should an input still
        # exhaust the stack or memory, it costs this file's findings, not the run.
        skipped_because = "the code is nested too deeply"
    except MemoryError:
        skipped_because = "it ran out of memory"
    except Exception as error:  # a bug of ours: it costs this file's findings, said so, not the run
        log.exception("internal error in the analysis of %s", path or "<text>")
        skipped_because = f"internal error {type(error).__name__}: please report it"
    if skipped_because is not None and settings.enabled(ANALYSIS_SKIPPED_CODE):
        message = f"gradwatch could not analyse this file ({skipped_because}); only syntax errors are reported"
        findings.append(_analysis_skipped(source, message))
    for rule in all_rules() if facts is not None else ():
        if not settings.enabled(rule.code) or rule.code in (SYNTAX_ERROR_CODE, ANALYSIS_SKIPPED_CODE):
            continue
        try:
            findings.extend(rule().check(facts))
        except Exception:  # a broken rule must not take the others down
            log.exception("rule %s failed on %s; skipped", rule.code, path or "<text>")
    findings = _unique(findings)
    findings = [f for f in findings if not _suppressed(f, source)]
    findings = [_with_severity(f, settings) for f in findings]
    findings.sort(key=_total_order)
    if facts is None:
        return CheckResult(findings=findings)
    return CheckResult(findings=findings, names=facts.names, calls_other_files=facts.calls_other_files)


def _analysis_skipped(source: SourceText, message: str) -> Finding:
    return Finding(
        ANALYSIS_SKIPPED_CODE,
        Severity.INFORMATION,
        message,
        Span(1, 0, 1, len(source.line(1))),
        rule_name="analysis-skipped",
    )


def _unique(findings: list[Finding]) -> list[Finding]:
    """One finding per code and span; of several, the same one whatever order they came in."""
    kept: dict[tuple, Finding] = {}
    for finding in findings:
        key = (finding.code, finding.span)
        if key not in kept or _total_order(finding) < _total_order(kept[key]):
            kept[key] = finding
    return list(kept.values())


def _total_order(finding: Finding) -> tuple:
    # Everything a user sees, so that output never depends on the order in which the
    # analysis (sets, hash seeds) produced the findings.
    return (
        finding.sort_key(),
        finding.span,
        finding.message,
        finding.severity.value,
        tuple((r.span, r.message, r.path or "") for r in finding.related),
        tuple((f.title, f.safe, tuple((e.span, e.new_text) for e in f.edits)) for f in finding.fixes),
    )


def _with_severity(finding: Finding, settings: Settings) -> Finding:
    severity = settings.severity_for(finding.code, finding.severity)
    if severity is finding.severity:
        return finding
    from dataclasses import replace

    return replace(finding, severity=severity)


def suppressed_codes(line_text: str) -> set[str] | None:
    """Codes a `# noqa: ...` / `# gradwatch: ignore[...]` comment names; empty set = all."""
    match = _SUPPRESSION.search(line_text)
    if match is None:
        return None
    codes = match.group("codes")
    if not codes:
        return set()
    return {c.upper() for c in re.findall(r"[A-Za-z]+[0-9]+", codes)}


def _suppressed(finding: Finding, source: SourceText) -> bool:
    codes = suppressed_codes(source.line(finding.span.line))
    return codes is not None and (not codes or finding.code in codes)
