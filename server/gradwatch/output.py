"""Findings as text (for people), JSON (for scripts) and SARIF 2.1.0 (for code scanning).

Columns are shown 1-based everywhere; end columns are exclusive, so a finding
that covers `x.add_(1)` at the start of a line reads column 1 to 10.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence, TextIO

from gradwatch.findings import Finding, Fix, Severity, Span
from gradwatch.fixes import choose_fix

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"

SARIF_LEVELS = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFORMATION: "note",
    Severity.HINT: "note",
}


@dataclass(frozen=True)
class FileReport:
    """The findings in one file. `path` is what the user sees: relative to the
    working folder when the file is under it, else absolute."""

    path: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class RuleInfo:
    """What `gradwatch rules`, `explain` and SARIF say about a rule."""

    code: str
    name: str
    severity: Severity
    summary: str
    documentation: str


SYNTAX_ERROR_INFO = RuleInfo(
    code="GW001",
    name="syntax-error",
    severity=Severity.ERROR,
    summary="The file does not parse; gradwatch skips the function or class that holds the error.",
    documentation=(
        "# GW001 syntax-error\n\n"
        "Default severity: error\n\n"
        "## What it detects\n\n"
        "Python cannot parse the file. gradwatch reports the first syntax error once, leaves out\n"
        "the function or class that contains it and still checks the rest of the file, so a\n"
        "half-typed function does not hide hazards elsewhere.\n\n"
        "## Fix\n\n"
        "Correct the syntax; the skipped block is analysed again on the next run.\n"
    ),
)


ANALYSIS_SKIPPED_INFO = RuleInfo(
    code="GW002",
    name="analysis-skipped",
    severity=Severity.INFORMATION,
    summary="gradwatch did not analyse the file (too large, too costly, too deeply nested, or an internal error).",
    documentation=(
        "# GW002 analysis-skipped\n\n"
        "Default severity: information\n\n"
        "## What it detects\n\n"
        "Nothing in your code: it says that gradwatch gave up on this file, so the file has\n"
        "no findings other than syntax errors. The message says why:\n\n"
        "- the file is larger than 512 KiB (not even parsed: no syntax errors either);\n"
        "- its analysis needs more than 12,000 steps (statement runs, loops and followed\n"
        "  calls included; the largest file of 720,000 lines of real PyTorch code needs\n"
        "  about 3,400), which bounds the time any file can take;\n"
        "- the code is nested hundreds of levels deep (typically generated code), or the\n"
        "  analysis ran out of memory;\n"
        "- an internal error: a gradwatch bug. The message names it, and the traceback is\n"
        "  on stderr (CLI) or in the server's output channel, to report.\n\n"
        "## Fix\n\n"
        "None needed. Ignore the code (`ignore = [\"GW002\"]`) to silence it.\n"
    ),
)


def rule_catalogue() -> list[RuleInfo]:
    """Every rule, sorted by code, including the built-in syntax error code."""
    from gradwatch.rules import all_rules

    infos = {
        rule.code: RuleInfo(rule.code, rule.name, rule.severity, rule.summary, rule.documentation())
        for rule in all_rules()
    }
    infos.setdefault(SYNTAX_ERROR_INFO.code, SYNTAX_ERROR_INFO)
    infos.setdefault(ANALYSIS_SKIPPED_INFO.code, ANALYSIS_SKIPPED_INFO)
    return [infos[code] for code in sorted(infos)]


# ---------------------------------------------------------------- text


def use_color(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if "NO_COLOR" in os.environ:
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_SEVERITY_COLORS = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[1;33m",
    Severity.INFORMATION: "\x1b[1;36m",
    Severity.HINT: "\x1b[1;34m",
}


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color else text


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_text(
    reports: Sequence[FileReport],
    *,
    color: bool = False,
    fix_markers: bool = False,
    unsafe_fixes: bool = False,
    summary: bool = True,
) -> str:
    """ruff-like lines: `path:line:col: CODE message`, causal chain indented below.

    `fix_markers` adds a `fix available` line under fixable findings (meant
    for a terminal; piped output stays one finding per line plus notes).
    """
    lines: list[str] = []
    for report in reports:
        for finding in report.findings:
            location = _paint(f"{report.path}:{finding.span.line}:{finding.span.column + 1}:", _BOLD, color)
            code = _paint(finding.code, _SEVERITY_COLORS[finding.severity], color)
            lines.append(f"{location} {code} {finding.message}")
            for related in finding.related:
                where = _display_path(related.path) if related.path else report.path
                note = f"  {where}:{related.span.line}:{related.span.column + 1}: note: {related.message}"
                lines.append(_paint(note, _DIM, color))
            if fix_markers:
                marker = _fix_marker(finding, unsafe_fixes)
                if marker:
                    lines.append(_paint(f"  {marker}", _DIM, color))
    if summary:
        lines.append(summary_line(reports, unsafe_fixes=unsafe_fixes))
    return "\n".join(lines) + "\n" if lines else ""


def _fix_marker(finding: Finding, unsafe_fixes: bool) -> str | None:
    fix = choose_fix(finding, unsafe_fixes)
    if fix is not None:
        return f"fix available: {fix.title}"
    if finding.fixes:
        return f"unsafe fix available with --unsafe-fixes: {finding.fixes[0].title}"
    return None


def fixable_counts(reports: Iterable[FileReport], unsafe_fixes: bool = False) -> tuple[int, int]:
    """(findings `--fix` would fix, findings only `--fix --unsafe-fixes` would fix)."""
    fixable = unsafe_only = 0
    for report in reports:
        for finding in report.findings:
            if choose_fix(finding, unsafe_fixes) is not None:
                fixable += 1
            elif finding.fixes:
                unsafe_only += 1
    return fixable, unsafe_only


def summary_line(reports: Sequence[FileReport], unsafe_fixes: bool = False) -> str:
    total = sum(len(report.findings) for report in reports)
    if total == 0:
        return "All checks passed!"
    fixable, unsafe_only = fixable_counts(reports, unsafe_fixes)
    extra = f", {unsafe_only} more with --unsafe-fixes" if unsafe_only else ""
    return f"Found {_plural(total, 'finding')} ({fixable} fixable with --fix{extra})."


def statistics(reports: Sequence[FileReport], unsafe_fixes: bool = False) -> list[dict]:
    """Counts per rule code, most frequent first."""
    counts: Counter[str] = Counter()
    fixable: Counter[str] = Counter()
    names: dict[str, str] = {}
    for report in reports:
        for finding in report.findings:
            counts[finding.code] += 1
            names.setdefault(finding.code, finding.rule_name)
            if choose_fix(finding, unsafe_fixes) is not None:
                fixable[finding.code] += 1
    ordered = sorted(counts, key=lambda code: (-counts[code], code))
    return [
        {"code": code, "name": names[code], "count": counts[code], "fixable": fixable[code]}
        for code in ordered
    ]


def format_statistics_text(rows: Sequence[dict]) -> str:
    if not rows:
        return ""
    width = max(len(str(row["count"])) for row in rows)
    lines = [
        f"{row['count']:>{width}}  {row['code']}  {'[*] ' if row['fixable'] else '    '}{row['name']}".rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- JSON


def _columns(span: Span) -> dict:
    return {
        "line": span.line,
        "column": span.column + 1,
        "end_line": span.end_line,
        "end_column": span.end_column + 1,
    }


def fix_to_json(fix: Fix) -> dict:
    return {
        "title": fix.title,
        "edits": [{**_columns(edit.span), "new_text": edit.new_text} for edit in fix.edits],
    }


def finding_to_json(path: str, finding: Finding) -> dict:
    return {
        "path": path,
        **_columns(finding.span),
        "code": finding.code,
        "severity": finding.severity.value,
        "message": finding.message,
        "fix": fix_to_json(finding.fix) if finding.fix is not None else None,
    }


def format_json(reports: Sequence[FileReport]) -> str:
    items = [finding_to_json(report.path, finding) for report in reports for finding in report.findings]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- SARIF


def _display_path(path: str) -> str:
    """A path relative to the current folder when it lies inside it (as the CLI shows checked files)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def _uri(path: str) -> dict:
    """A relative path is resolved against %SRCROOT% (the folder gradwatch ran in)."""
    posix = path.replace(os.sep, "/")
    if os.path.isabs(path):
        return {"uri": "file://" + (posix if posix.startswith("/") else "/" + posix)}
    return {"uri": posix, "uriBaseId": "%SRCROOT%"}


def _region(span: Span) -> dict:
    return {
        "startLine": span.line,
        "startColumn": span.column + 1,
        "endLine": span.end_line,
        "endColumn": span.end_column + 1,
    }


def _sarif_rule(info: RuleInfo) -> dict:
    return {
        "id": info.code,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": info.summary},
        "help": {"text": info.documentation, "markdown": info.documentation},
        "defaultConfiguration": {"level": SARIF_LEVELS[info.severity]},
    }


def _sarif_fix(path: str, fix: Fix) -> dict:
    return {
        "description": {"text": fix.title},
        "artifactChanges": [
            {
                "artifactLocation": _uri(path),
                "replacements": [
                    {"deletedRegion": _region(edit.span), "insertedContent": {"text": edit.new_text}}
                    for edit in fix.edits
                ],
            }
        ],
    }


def _sarif_result(path: str, finding: Finding, rule_index: dict[str, int]) -> dict:
    result: dict = {
        "ruleId": finding.code,
        "level": SARIF_LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": {"artifactLocation": _uri(path), "region": _region(finding.span)}}],
    }
    if finding.code in rule_index:
        result["ruleIndex"] = rule_index[finding.code]
    if finding.related:
        result["relatedLocations"] = [
            {
                "id": number,
                "message": {"text": related.message},
                "physicalLocation": {
                    "artifactLocation": _uri(_display_path(related.path) if related.path else path),
                    "region": _region(related.span),
                },
            }
            for number, related in enumerate(finding.related, start=1)
        ]
    if finding.fixes:
        result["fixes"] = [_sarif_fix(path, fix) for fix in finding.fixes]
    return result


def to_sarif(reports: Sequence[FileReport], rules: Sequence[RuleInfo], version: str) -> dict:
    """One SARIF log with one run, in the subset GitHub code scanning reads."""
    rule_index = {info.code: index for index, info in enumerate(rules)}
    results = [
        _sarif_result(report.path, finding, rule_index) for report in reports for finding in report.findings
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gradwatch",
                        "version": version,
                        "semanticVersion": version,
                        "rules": [_sarif_rule(info) for info in rules],
                    }
                },
                # Our columns count characters (code points), not UTF-16 units: say so.
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def format_sarif(reports: Sequence[FileReport], rules: Sequence[RuleInfo], version: str) -> str:
    return json.dumps(to_sarif(reports, rules, version), indent=2, ensure_ascii=False) + "\n"
