"""Runtime findings: printed to stderr as they happen, written as JSON at the end.

The JSON has the shape `gradwatch check --format json` writes (one object per
finding, see gradwatch.output.finding_to_json) so the editor reads both the
same way, plus `"source": "runtime"` and the `related` lines (the saving line,
the earlier backward) that make a runtime finding worth reading. Paths are
absolute: the file is read later, from another working folder.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from gradwatch.findings import Finding, Related, Severity, Span
from gradwatch.output import finding_to_json
from gradwatch.result_cache import FOLDER_NAME, RUNTIME_FINDINGS, write_atomically
from gradwatch.runtime.frames import Location, display_path



def span_of(location: Location) -> Span:
    return Span(location.line, location.column, location.end_line, location.end_column)


class Report:
    """Collects findings once each (a loop repeats the same hazard every step)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.findings: list[tuple[str, Finding]] = []
        self.seen: set[tuple] = set()

    def add(
        self,
        code: str,
        severity: Severity,
        message: str,
        where: Location,
        related: tuple[tuple[Location, str], ...] = (),
    ) -> bool:
        """Record and print a finding; False if the same one was already reported."""
        key = (code, where.path, where.line, tuple((r.path, r.line) for r, _ in related))
        if key in self.seen:
            return False
        self.seen.add(key)
        finding = Finding(
            code,
            severity,
            message,
            span_of(where),
            tuple(Related(span_of(r), text, os.path.abspath(r.path)) for r, text in related),
        )
        self.findings.append((os.path.abspath(where.path), finding))
        print(
            f"gradwatch: {display_path(where.path)}:{where.line}:{where.column + 1}: {code} {message}",
            file=self.stream,
            flush=True,
        )
        return True

    def to_json(self) -> list[dict]:
        items = []
        for path, finding in self.findings:
            item = finding_to_json(path, finding)
            item["source"] = "runtime"
            item["related"] = [
                {"path": r.path, "line": r.span.line, "column": r.span.column + 1, "message": r.message}
                for r in finding.related
            ]
            items.append(item)
        return items


def project_root(script: Path) -> Path:
    """The folder of the nearest pyproject.toml above the script, else the script's folder."""
    from gradwatch.config import find_pyproject

    pyproject = find_pyproject(script)
    return pyproject.parent if pyproject is not None else Path(os.path.realpath(script)).parent


def default_output(script: Path) -> Path:
    folder = project_root(script) / FOLDER_NAME
    return folder / RUNTIME_FINDINGS


def write_json(items: list[dict], path: Path) -> None:
    """Write atomically (a reader never sees half a file); a new cache folder ignores itself in git."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if folder.name == FOLDER_NAME and not (folder / ".gitignore").exists():
        write_atomically(folder / ".gitignore", "*\n")
    write_atomically(path, json.dumps(items, indent=2, ensure_ascii=False) + "\n")