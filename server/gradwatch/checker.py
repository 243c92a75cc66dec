"""The one entry point the CLI and the language server share: text in, findings out."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from gradwatch.analysis.interpreter import analyse
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
MAX_FILE_BYTES = 4 * 1024 * 1024

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
) -> CheckResult:
    """Findings for one file. `cache` (one per open document) lets unchanged functions skip
    re-analysis; `project` follows calls into the project's other files (needs `path`)."""
    settings = settings or Settings()
    source = SourceText(text)
    parsed = parse(text)
    facts = analyse(parsed.tree, source, cache=cache, path=path, resolver=project)
    findings: list[Finding] = []
    if parsed.syntax_error is not None and settings.enabled(SYNTAX_ERROR_CODE):
        span, message = parsed.syntax_error
        findings.append(Finding(SYNTAX_ERROR_CODE, Severity.ERROR, message, span, rule_name="syntax-error"))
    for rule in all_rules():
        if not settings.enabled(rule.code) or rule.code == SYNTAX_ERROR_CODE:
            continue
        try:
            findings.extend(rule().check(facts))
        except Exception:  # a broken rule must not take the others down
            log.exception("rule %s failed on %s; skipped", rule.code, path or "<text>")
    findings = _unique(findings)
    findings = [f for f in findings if not _suppressed(f, source)]
    findings = [_with_severity(f, settings) for f in findings]
    findings.sort(key=Finding.sort_key)
    return CheckResult(findings=findings, names=facts.names, calls_other_files=facts.calls_other_files)


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: dict[tuple, Finding] = {}
    for finding in findings:
        seen.setdefault((finding.code, finding.span), finding)
    return list(seen.values())


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
