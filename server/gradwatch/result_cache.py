"""Per-file results kept between runs of `gradwatch check`, like ruff's cache.

Why: re-checking an unchanged repository (pre-commit, CI re-runs, the next
`gradwatch check` after fixing one file) should cost reading and hashing files,
not analysing them again.

Layout: `<project root>/.gradwatch_cache/` (the folder of the nearest
pyproject.toml; GRADWATCH_CACHE_DIR names another folder instead), holding a
`.gitignore` of `*`, a CACHEDIR.TAG, and one JSON entry per checked file under
`v1/`, named by the hash of the file's absolute path, so that `--jobs` workers
and concurrent runs never write the same entry for different files.

An entry is reused only when all of these still match:
- the run key: gradwatch's version and code, the op table, the file's settings,
  cross-module on/off, `--python` and the project root (`run_key`);
- the hash of the file's text;
- every file the check's cross-module answers came from (recorded through
  `gradwatch.analysis.dependency_log`): same kind, and the same size and mtime, or
  else the same content hash.

Entries are JSON, not pickle: a cache folder can come with a cloned repository or
an archive, and reading it must never run code. Writes go to a temporary file in
the same folder and `os.replace` it, so a reader sees a whole entry or none;
anything unreadable or malformed is a miss (and is rewritten after the check).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable

from gradwatch import __version__
from gradwatch.config import Settings
from gradwatch.findings import Finding, Fix, Related, Severity, Span, TextEdit

FOLDER_NAME = ".gradwatch_cache"
RUNTIME_FINDINGS = "runtime.json"  # what `gradwatch run` found, in the same folder (runtime/report.py)
FOLDER_ENV_VAR = "GRADWATCH_CACHE_DIR"
ENTRIES = "v1"  # bump when the entry layout changes
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# gradwatch's cache (https://bford.info/cachedir/)\n"


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def text_hash(text: str) -> str:
    return _digest(text.encode("utf-8", "surrogatepass"))


# ---------------------------------------------------------------- where


def folder_for(project_root: Path) -> Path:
    """The cache folder of a project (GRADWATCH_CACHE_DIR, when set, for every project)."""
    override = os.environ.get(FOLDER_ENV_VAR)
    return Path(override).expanduser() if override else Path(project_root) / FOLDER_NAME


def prepare(folder: Path) -> str | None:
    """Create the folder (with its .gitignore and CACHEDIR.TAG); None if it works, else why not."""
    try:
        (folder / ENTRIES).mkdir(parents=True, exist_ok=True)
        for name, content in ((".gitignore", "*\n"), ("CACHEDIR.TAG", _TAG)):
            if not (folder / name).is_file():
                write_atomically(folder / name, content)
        # A folder we may list but not write to (read-only checkout): find out now, once.
        probe = tempfile.NamedTemporaryFile(dir=folder / ENTRIES, prefix=".probe-", delete=True)
        probe.close()
    except OSError as error:
        return f"{folder}: {error.strerror or error}"
    return None


def is_cache_folder(folder: Path) -> bool:
    """Named like ours, or tagged by us: the only folders `clean` removes."""
    return folder.is_dir() and (
        folder.name == FOLDER_NAME or _read_text(folder / "CACHEDIR.TAG") == _TAG
    )


def remove(folder: Path) -> bool:
    """Delete a cache folder; False when it is not one or could not be removed."""
    if not is_cache_folder(folder) or folder.is_symlink():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


def folders_under(paths: Iterable[Path]) -> list[Path]:
    """Cache folders at or below the given folders, without descending into them."""
    found = []
    for start in paths:
        if start.name == FOLDER_NAME and start.is_dir():
            found.append(start)
            continue
        for root, dirs, _ in os.walk(start):
            if FOLDER_NAME in dirs:
                found.append(Path(root) / FOLDER_NAME)
            dirs[:] = [d for d in dirs if d not in (FOLDER_NAME, ".git", "node_modules")]
    return found


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- keys


def run_key(settings: Settings, project_root: str | None, python: str | None) -> str:
    """Everything besides the file's text that its findings depend on.
    (The mode is not part of it: only check-mode results are stored; see `cli._check_file`.)"""
    severity = sorted(
        (code, level.value if isinstance(level, Severity) else str(level)) for code, level in settings.severity.items()
    )
    described = json.dumps(
        {
            "code": code_fingerprint(),
            "select": list(settings.select),
            "ignore": list(settings.ignore),
            "severity": severity,
            "cross_module_root": project_root,  # None: cross-module analysis off
            "python": python,
        },
        sort_keys=True,
    )
    return _digest(described.encode())


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """gradwatch's version, its sources' sizes and mtimes (the version stays 0.1.0 across
    edits of an editable install) and the op tables that may be in use."""
    package = Path(__file__).resolve().parent
    parts = [__version__]
    for path in sorted(package.rglob("*.py")):
        try:
            stat = path.stat()
        except OSError:
            continue
        parts.append(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}")
    parts.append(_file_digest(package / "analysis" / "op_table.json") or "no table")
    # A table named by the environment, or probed for the installed torch, wins over the shipped one.
    from gradwatch.analysis.op_table import TABLE_ENV_VAR, user_cache_path

    named = os.environ.get(TABLE_ENV_VAR)
    if named:
        parts.append(f"{named}:{_file_digest(Path(named).expanduser())}")
    user_tables = sorted(user_cache_path("*").parent.glob(user_cache_path("*").name))
    if user_tables:
        from gradwatch.analysis.op_table import installed_torch_version

        parts.append(str(installed_torch_version()))
        parts += [f"{table}:{_file_digest(table)}" for table in user_tables]
    return _digest("\n".join(parts).encode())


def _file_digest(path: Path) -> str | None:
    try:
        return _digest(path.read_bytes())
    except OSError:
        return None


# ---------------------------------------------------------------- dependencies


@functools.lru_cache(maxsize=4096)
def _content_digest(path: str, size: int, mtime_ns: int) -> str | None:
    # Keyed by the stat as well: many entries share a dependency (a package's __init__.py).
    return _file_digest(Path(path))


def _state(path: str) -> list:
    """["f", size, mtime_ns, digest] for a file, ["d"] for a folder, ["-"] for nothing there."""
    try:
        stat = os.stat(path)
    except OSError:
        return ["-"]
    if os.path.isdir(path):
        return ["d"]
    return ["f", stat.st_size, stat.st_mtime_ns, _content_digest(path, stat.st_size, stat.st_mtime_ns)]


def _unchanged(path: str, recorded: list) -> bool:
    try:
        stat = os.stat(path)
    except OSError:
        return recorded == ["-"]
    if not recorded or recorded[0] != "f":
        return recorded == ["d"] and os.path.isdir(path)
    if [stat.st_size, stat.st_mtime_ns] == recorded[1:3]:
        return True
    # Touched (a checkout, a save without change): the content decides.
    return _content_digest(path, stat.st_size, stat.st_mtime_ns) == recorded[3]


# ---------------------------------------------------------------- entries


class Entry:
    """The cached result of one file under one run key."""

    def __init__(self, folder: str, key: str, path: Path, text: str) -> None:
        self.path = os.path.abspath(path)
        self.file = Path(folder) / ENTRIES / f"{_digest(self.path.encode('utf-8', 'surrogatepass'))}.json"
        self.key = key
        self.content = text_hash(text)
        self.started = time.time_ns()

    def load(self) -> tuple[tuple[Finding, ...], str] | None:
        """The findings stored for this text, key and unchanged dependencies, and the kind of
        fix the analysis offered before verification (see `offered_fixes`); None otherwise."""
        try:
            data = json.loads(self.file.read_bytes())
            if data["key"] != self.key or data["content"] != self.content or data["path"] != self.path:
                return None
            if not all(_unchanged(path, state) for path, state in data["dependencies"]):
                return None
            offered = data["offered_fixes"]
            if offered not in ("none", "unsafe", "safe"):
                return None
            return tuple(_finding(item) for item in data["findings"]), offered
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            return None  # missing, half-written by an old version, or corrupt: a miss

    def store(self, findings: Iterable[Finding], offered: str, dependencies: Iterable[str]) -> None:
        """Write the entry; a cache that cannot be written only costs the next run time."""
        states = [[path, _state(path)] for path in sorted(set(dependencies)) if path != self.path]
        if any(state[0] == "f" and state[2] >= self.started for _, state in states):
            return  # changed while this file was checked: the findings may predate what is recorded
        data = {
            "key": self.key,
            "path": self.path,
            "content": self.content,
            "dependencies": states,
            "findings": [_finding_data(finding) for finding in findings],
            "offered_fixes": offered,
        }
        try:
            write_atomically(self.file, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        except (OSError, ValueError):
            pass


def offered_fixes(unverified: Iterable[Finding]) -> str:
    """"safe", "unsafe" or "none": the best kind of fix the analysis offered before verification.
    `--fix` only needs the analysis when it offered a fix of a kind it would apply."""
    kinds = {fix.safe for finding in unverified for fix in finding.fixes}
    return "safe" if True in kinds else "unsafe" if kinds else "none"


def nothing_to_fix(offered: str, unsafe: bool) -> bool:
    return offered == "none" or (offered == "unsafe" and not unsafe)


def write_atomically(path: Path, content: str) -> None:
    """A reader sees the whole file or the one before: a temporary file in the same folder, renamed."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", errors="surrogatepass") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# ---------------------------------------------------------------- findings as JSON


def _span_data(span: Span) -> list[int]:
    return [span.line, span.column, span.end_line, span.end_column]


def _span(data: list) -> Span:
    line, column, end_line, end_column = (int(value) for value in data)
    return Span(line, column, end_line, end_column)


def _finding_data(finding: Finding) -> dict:
    return {
        "code": finding.code,
        "severity": finding.severity.value,
        "message": finding.message,
        "span": _span_data(finding.span),
        "related": [[_span_data(r.span), r.message, r.path] for r in finding.related],
        "fixes": [
            [fix.title, fix.safe, [[_span_data(edit.span), edit.new_text] for edit in fix.edits]]
            for fix in finding.fixes
        ],
        "rule_name": finding.rule_name,
    }


def _finding(data: dict) -> Finding:
    return Finding(
        code=str(data["code"]),
        severity=Severity(data["severity"]),
        message=str(data["message"]),
        span=_span(data["span"]),
        related=tuple(Related(_span(span), str(message), path) for span, message, path in data["related"]),
        fixes=tuple(
            Fix(str(title), tuple(TextEdit(_span(span), str(text)) for span, text in edits), bool(safe))
            for title, safe, edits in data["fixes"]
        ),
        rule_name=str(data["rule_name"]),
    )


# ---------------------------------------------------------------- a run's plan


class Plan:
    """Which cache folder and run key each file of one `gradwatch check` run uses.

    A file's folder is that of its project (the nearest pyproject.toml), else of the
    checked paths' common folder (the current one when they are all inside it). A folder
    that cannot be written means no cache for its files, said once through `on_problem`.
    """

    def __init__(self, paths: Iterable[Path], cwd: str, on_problem) -> None:
        self.fallback = _common_root([os.path.abspath(p) for p in paths], cwd)
        self.on_problem = on_problem
        self._roots: dict[str, Path] = {}
        self._usable: dict[Path, bool] = {}
        self._keys: dict[tuple, str] = {}

    def locate(self, path: Path, settings: Settings, project_root: str | None, python: str | None):
        """(cache folder, run key) for one file, or (None, None) when its cache cannot be used."""
        folder = folder_for(self._project_root(path))
        if folder not in self._usable:
            problem = prepare(folder)
            self._usable[folder] = problem is None
            if problem is not None:
                self.on_problem(f"cannot use the cache folder ({problem}); checking without it")
        if not self._usable[folder]:
            return None, None
        # Settings hold a dict (not hashable); the resolver shares one object per pyproject.
        memo = (id(settings), project_root, python)
        if memo not in self._keys:
            self._keys[memo] = run_key(settings, project_root, python)
        return str(folder), self._keys[memo]

    def _project_root(self, path: Path) -> Path:
        from gradwatch.config import find_pyproject

        parent = os.path.dirname(os.path.abspath(path))
        if parent not in self._roots:
            pyproject = find_pyproject(Path(parent))
            self._roots[parent] = pyproject.parent if pyproject else self.fallback
        return self._roots[parent]


def _common_root(paths: list[str], cwd: str) -> Path:
    folders = [p if os.path.isdir(p) else os.path.dirname(p) for p in paths] or [cwd]
    try:
        common = os.path.commonpath(folders + [cwd])
    except ValueError:  # different drives
        common = ""
    if common == os.path.abspath(cwd):
        return Path(cwd)
    try:
        return Path(os.path.commonpath(folders))
    except ValueError:
        return Path(cwd)


def clean(paths: Iterable[Path]) -> list[Path]:
    """Remove the cache folders under `paths` (and GRADWATCH_CACHE_DIR's, when set); the removed."""
    candidates = folders_under(paths)
    override = os.environ.get(FOLDER_ENV_VAR)
    if override:
        candidates.append(Path(override).expanduser())
    removed = []
    for folder in dict.fromkeys(candidates):
        if remove(folder):
            removed.append(folder)
    return removed
