"""Findings of `gradwatch run` (`.gradwatch_cache/runtime.json`) shown next to the static ones.

`gradwatch run` writes its findings, with absolute paths, to the cache folder
of the project root of the script it ran (the folder of the nearest
pyproject.toml, else the script's own folder). For a document the server
reads that file and the one at the root of each workspace folder.

A runtime finding names lines of the text that ran. When a runtime.json is
(re)loaded, the text of every file it names is read from disk and kept (a
file saved after the runtime.json was written is not: its lines may have
moved): the findings for a file are shown only while the document's text is
that text.
The first edit hides them (an undo back to it shows them again); a new run
replaces them.

Reading is cheap when nothing changed: one stat per runtime.json, compared
with the (mtime, size, inode) it had when loaded. A missing, unreadable,
corrupt or oversized file counts as no findings and is logged once per
version of the file. Nothing here runs code.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from lsprotocol import types

from gradwatch.findings import Finding, Related, Severity, Span
from gradwatch.lsp import convert
from gradwatch.result_cache import FOLDER_NAME, RUNTIME_FINDINGS

log = logging.getLogger(__name__)

WATCH_PATTERN = f"**/{FOLDER_NAME}/{RUNTIME_FINDINGS}"
SOURCE = "gradwatch (runtime)"

MAX_BYTES = 8 * 1024 * 1024  # a bigger runtime.json is not ours to parse on the event loop
MAX_FINDINGS = 5000
MAX_SOURCE_BYTES = 8 * 1024 * 1024  # a cited file larger than this is not snapshotted (its findings are dropped)
# A line's end, whatever its length: LineCoder clamps columns into the line.
LINE_END = 1 << 30


def _normal(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _same_text(a: str, b: str) -> bool:
    return a == b or a.replace("\r\n", "\n") == b.replace("\r\n", "\n")


@dataclass
class _Loaded:
    """One runtime.json as last read."""

    signature: tuple | None
    # Normalised path of a cited file -> its findings (spans in that file).
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    # Normalised path -> the file's text when this runtime.json was read.
    texts: dict[str, str] = field(default_factory=dict)


def _signature(path: str) -> tuple | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size, status.st_ino)


def _read_text(path: str, written_ns: int) -> str | None:
    """The file's text, unless it is too big or was saved after the runtime.json was written."""
    try:
        status = os.stat(path)
        if status.st_size > MAX_SOURCE_BYTES:
            return None
        if status.st_mtime_ns > written_ns:
            log.info("%s changed after the run: its runtime findings are not shown", path)
            return None
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _int(value, default: int | None = None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def parse_item(item) -> tuple[str, Finding] | None:
    """One JSON object of runtime.json as (absolute path, Finding); None if it is not one."""
    if not isinstance(item, dict):
        return None
    path, code, message = item.get("path"), item.get("code"), item.get("message")
    line, column = _int(item.get("line")), _int(item.get("column"), 1)
    if not (isinstance(path, str) and os.path.isabs(path) and isinstance(code, str) and isinstance(message, str)):
        return None
    if line is None or line < 1:
        return None
    end_line = _int(item.get("end_line"), line)
    end_column = _int(item.get("end_column"), None)
    column = max(column - 1, 0)
    if end_line < line:
        end_line = line
    end = max(end_column - 1, 0) if end_column is not None else LINE_END
    if end_line == line and end <= column:
        end = LINE_END
    try:
        severity = Severity(item.get("severity"))
    except ValueError:
        severity = Severity.ERROR
    related = []
    for cited in item.get("related") or []:
        if not isinstance(cited, dict):
            continue
        cited_path, cited_line = cited.get("path"), _int(cited.get("line"))
        if not isinstance(cited_path, str) or not os.path.isabs(cited_path) or cited_line is None or cited_line < 1:
            continue
        cited_column = max((_int(cited.get("column"), 1) or 1) - 1, 0)
        text = cited.get("message") if isinstance(cited.get("message"), str) else ""
        related.append(Related(Span(cited_line, cited_column, cited_line, LINE_END), text, cited_path))
    from gradwatch.rules import rule_by_code

    rule = rule_by_code(code)
    span = Span(line, column, end_line, end)
    return path, Finding(code, severity, message, span, tuple(related), rule_name=rule.name if rule else "")


def load(path: str, signature: tuple | None) -> _Loaded:
    """Read one runtime.json; never raises (a bad file is logged and counts as empty)."""
    loaded = _Loaded(signature)
    if signature is None:
        return loaded
    try:
        if signature[1] > MAX_BYTES:
            log.warning("ignoring %s: %d bytes is more than %d", path, signature[1], MAX_BYTES)
            return loaded
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError, RecursionError) as error:
        log.warning("ignoring %s: %s", path, error)
        return loaded
    if not isinstance(data, list):
        log.warning("ignoring %s: not a JSON list of findings", path)
        return loaded
    if len(data) > MAX_FINDINGS:
        log.warning("%s: reading only the first %d of %d findings", path, MAX_FINDINGS, len(data))
    unreadable: set[str] = set()
    for item in data[:MAX_FINDINGS]:
        parsed = parse_item(item)
        if parsed is None:
            continue
        cited, finding = parsed
        key = _normal(cited)
        if key in unreadable:
            continue
        if key not in loaded.texts:
            text = _read_text(cited, signature[0])
            if text is None:  # gone, changed since, or too big: nothing tells the findings' lines are right
                unreadable.add(key)
                continue
            loaded.texts[key] = text
        loaded.findings.setdefault(key, []).append(finding)
    count = sum(map(len, loaded.findings.values()))
    log.info("read %d runtime findings for %d files from %s", count, len(loaded.findings), path)
    return loaded


def project_root(path: str) -> str:
    """Where `gradwatch run` of `path` writes by default (see gradwatch.runtime.report.project_root)."""
    from gradwatch.config import find_pyproject

    pyproject = find_pyproject(Path(path))
    return str(pyproject.parent) if pyproject is not None else os.path.dirname(os.path.realpath(path))


class RuntimeFindings:
    """The runtime.json files the server knows of, re-read when they change."""

    def __init__(self) -> None:
        self._files: dict[str, _Loaded] = {}
        self._roots: dict[str, str] = {}  # document path -> its project root (stats to find; cached)

    def forget_roots(self) -> None:
        """A pyproject.toml or the workspace folders changed: project roots may have moved."""
        self._roots.clear()

    def candidates(self, path: str, folders: Iterable[str]) -> list[str]:
        """The runtime.json files that may hold findings for the file `path`."""
        root = self._roots.get(path)
        if root is None:
            root = self._roots[path] = project_root(path)
        found = [os.path.join(root, FOLDER_NAME, RUNTIME_FINDINGS)]
        for folder in folders:
            candidate = os.path.join(folder, FOLDER_NAME, RUNTIME_FINDINGS)
            if candidate not in found:
                found.append(candidate)
        return found

    def refresh(self, runtime_file: str) -> bool:
        """Re-read `runtime_file` if it changed since it was read; True if it did."""
        signature = _signature(runtime_file)
        loaded = self._files.get(runtime_file)
        if loaded is not None and loaded.signature == signature:
            return False
        if loaded is None and signature is None:
            return False
        self._files[runtime_file] = load(runtime_file, signature)
        return True

    def known(self) -> list[str]:
        return list(self._files)

    def findings_for(self, path: str, text: str, folders: Iterable[str]) -> list[Finding]:
        """Runtime findings for the file `path` whose document now reads `text` (none once it was edited)."""
        key = _normal(path)
        found: list[Finding] = []
        for runtime_file in self.candidates(path, folders):
            self.refresh(runtime_file)
            loaded = self._files.get(runtime_file)
            if loaded is None or key not in loaded.findings or not _same_text(loaded.texts[key], text):
                continue
            found += [finding for finding in loaded.findings[key] if finding not in found]
        return found


def diagnostics(findings: list[Finding], uri: str, text: str, encoding: str) -> list[types.Diagnostic]:
    """LSP diagnostics for runtime findings in the document `uri` that reads `text`."""
    coder = convert.LineCoder(convert.split_lines(text), encoding)
    own = _normal(convert_uri_path(uri)) if uri.startswith("file:") else None
    result = []
    for finding in findings:
        related = []
        for item in finding.related:
            if own is not None and item.path is not None and _normal(item.path) == own:
                location = types.Location(uri=uri, range=coder.range(item.span))
            else:
                location = convert.location_in_file(item.path, item.span, encoding) if item.path else None
            if location is not None:
                related.append(types.DiagnosticRelatedInformation(location=location, message=item.message))
        diagnostic = convert.diagnostic(finding, coder.range(finding.span), related)
        diagnostic.source = SOURCE
        result.append(diagnostic)
    return result


def convert_uri_path(uri: str) -> str:
    from pygls.uris import to_fs_path

    return to_fs_path(uri) or uri
