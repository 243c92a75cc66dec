"""Where is an imported name defined? Cross-module resolution through jedi.

gradwatch analyses one file at a time; to follow a call into another module of
the user's project it asks `ProjectIndex.definition` where the called name is
defined. jedi does the resolution with the user's interpreter and sys.path, so
`from .models import *` and re-exports in `pkg/__init__.py` are followed the
way Python would follow them.

jedi is imported only when a definition is first asked for: its import and first
inference cost seconds, which the command line and the language server's start-up
must not pay unless cross-module analysis is used.
"""

from __future__ import annotations

import functools
import hashlib
import keyword
import os
import sys
import sysconfig
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Bounds on what one index keeps alive: each jedi Script holds a whole inference state
# (every module it has read), so only a handful are kept; answers are small.
MAX_SCRIPTS = 16
MAX_ANSWERS = 4096

# The name an imported definition is bound to in the text jedi is asked about it.
_IMPORTED = "_gradwatch_imported"

_PACKAGE_FOLDERS = frozenset({"site-packages", "dist-packages", "__pypackages__"})


@dataclass(frozen=True)
class Definition:
    path: str  # absolute path of the .py file that defines the name
    line: int  # 1-based line of the `def`/`class` keyword (or of the assignment)
    column: int  # 0-based column, in characters
    kind: str  # jedi's name type: "function" | "class" | "module" | "statement" | "param" | ...
    name: str
    # Reached as an attribute of a value (`scaler.apply`), not of a class or module: a plain
    # method's first parameter is then the value, bound, and the call's arguments come after it.
    through_value: bool = False


@dataclass(frozen=True)
class _Answer:
    definition: Definition | None
    # mtime of the defining file when the answer was computed; a later mtime makes it stale.
    stamp: int | None


class ProjectIndex:
    """Resolves names to their definitions inside one user project.

    `root` bounds what counts as the user's code (None: the folder of each file asked
    about). `python` is the interpreter (or virtualenv folder) whose sys.path jedi
    searches; when it is unusable, `problem` says why and jedi's default environment
    (the one running gradwatch) is used instead. jedi runs `python`: with `safe`, only
    after jedi's safe-environment check (a system Python, or a virtualenv made from one)
    passes, for an interpreter that the user did not name themselves.
    """

    def __init__(self, root: str | Path | None = None, python: str | None = None, *, safe: bool = False) -> None:
        self.root: Path | None = Path(root).resolve() if root is not None else None
        self.python = python
        self.safe = safe
        self.problem: str | None = None
        # One lock for every jedi call and cache change: jedi's caches are not thread-safe.
        self._lock = threading.RLock()
        self._environment: Any = None
        self._projects: dict[Path, Any] = {}
        self._scripts: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._answers: OrderedDict[tuple[str, str, int, int], _Answer] = OrderedDict()
        self._excluded_roots = _interpreter_library_folders()
        self._user_files: dict[str, bool] = {}
        self._virtualenv_folders: dict[tuple, bool] = {}  # (folder, root) -> whether a virtualenv holds it
        if python is not None:
            self._environment = self._open_environment(python)

    # -- public API ---------------------------------------------------------------

    def definition(self, path: str, text: str, line: int, column: int, torch_names: bool = False) -> Definition | None:
        """See the class docstring. With `torch_names`, a name that resolves into torch's own
        Python sources (a project wrapper re-exporting `torch.nn.functional.relu`) comes back
        as a Definition of kind "torch" whose `name` is torch's full dotted name."""
        if not isinstance(text, str) or "\x00" in text:
            return None  # binary content: nothing jedi could resolve
        if line < 1 or column < 0:
            return None
        file_path = os.path.abspath(path)
        text_hash = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        key = (file_path, text_hash, line, column, torch_names)
        with self._lock:
            cached = self._answers.get(key)
            if cached is not None:
                if _still_current(cached):
                    self._answers.move_to_end(key)
                    return cached.definition
                # A module the answer depends on changed on disk: every kept inference state
                # may hold its old content, so start them all afresh.
                self._scripts.clear()
                del self._answers[key]
            try:
                answer = self._resolve(file_path, text, text_hash, line, column, torch_names)
            except Exception:  # noqa: BLE001 - jedi may fail in any way; resolution is optional
                # jedi missing, a jedi bug on odd input, a crashed environment subprocess:
                # cross-module resolution is a refinement, never a reason to fail a check.
                return None
            self._answers[key] = answer
            if len(self._answers) > MAX_ANSWERS:
                self._answers.popitem(last=False)
            return answer.definition

    def imported_definition(self, path: str, imported: str, torch_names: bool = False) -> Definition | None:
        """`definition` of `imported`, a dotted import path (relative ones with leading dots)
        as the file at `path` imports it, asked in a two-line text that imports it and names
        it: the file's own text would cost jedi a parse of the whole file (0.1 to 0.4 s for a
        training script), and the caller already knows what the name is bound to. The path
        still places relative imports and jedi's search path."""
        level = len(imported) - len(imported.lstrip("."))
        parts = imported[level:].split(".")
        if not all(part.isidentifier() and not keyword.iskeyword(part) for part in parts):
            return None
        if level:
            module, first, rest = "." * level, parts[0], parts[1:]
        elif len(parts) >= 2:
            module, first, rest = parts[0], parts[1], parts[2:]
        else:
            return None  # a top-level module: no function or class
        named = ".".join([_IMPORTED, *rest])
        text = f"from {module} import {first} as {_IMPORTED}\n{named}\n"
        return self.definition(path, text, 2, len(named) - len(named.rpartition(".")[2]), torch_names)

    def is_user_file(self, path: str) -> bool:
        """Inside `root` (when set) and not part of an installed package, a virtualenv or the stdlib.
        Asked at every call into another file: each path's answer is kept (it resolves symlinks)."""
        answer = self._user_files.get(path)
        if answer is None:
            answer = self._user_files[path] = self._is_user_file(Path(path), self.root)
        return answer

    def clear(self) -> None:
        """Forget every answer, e.g. after the editor reports files created or deleted."""
        with self._lock:
            self._answers.clear()
            self._scripts.clear()
            self._user_files.clear()
            self._virtualenv_folders.clear()

    # -- jedi ---------------------------------------------------------------------

    def _open_environment(self, python: str) -> Any:
        location = Path(python)
        if not location.exists():
            self.problem = f"python interpreter {python!r} does not exist; using the default environment"
            return None
        if location.is_file() and not os.access(location, os.X_OK):
            self.problem = f"python interpreter {python!r} is not executable; using the default environment"
            return None
        try:
            import jedi
        except ImportError:
            self.problem = "jedi is not installed; cross-module resolution is off"
            return None
        try:
            # Unless `safe`: the interpreter was named by the user (the command line, or settings
            # the language server trusts), and the check would reject e.g. a conda Python they own.
            return jedi.create_environment(str(location), safe=self.safe)
        except Exception as error:  # noqa: BLE001 - any failure means "not usable"
            self.problem = f"python interpreter {python!r} is not usable ({error}); using the default environment"
            return None

    def _project_for(self, root: Path) -> Any:
        project = self._projects.get(root)
        if project is None:
            # The environment jedi.Script would pick itself when given none.
            environment = self._environment or _jedi().api.environment.get_cached_default_environment()
            project = _safe_project(root, environment, self._excluded_roots)
            self._projects[root] = project
        return project

    def _script_for(self, file_path: str, text: str, text_hash: str) -> Any:
        key = (file_path, text_hash)
        script = self._scripts.get(key)
        if script is not None:
            self._scripts.move_to_end(key)
            return script
        jedi = _jedi()

        # Earlier versions of this file will not be asked about again.
        for old in [k for k in self._scripts if k[0] == file_path]:
            del self._scripts[old]
        root = self.root or Path(file_path).parent
        script = jedi.Script(text, path=file_path, project=self._project_for(root), environment=self._environment)
        self._scripts[key] = script
        if len(self._scripts) > MAX_SCRIPTS:
            self._scripts.popitem(last=False)
        return script

    def _resolve(
        self, file_path: str, text: str, text_hash: str, line: int, column: int, torch_names: bool = False
    ) -> _Answer:
        lines = text.splitlines() or [""]
        # jedi raises on positions outside the text; an editor can ask just after an edit.
        if line > len(lines) or column > len(lines[line - 1]):
            return _Answer(None, None)
        script = self._script_for(file_path, text, text_hash)
        names = script.goto(line, column, follow_imports=True, follow_builtin_imports=False)
        root = self.root or Path(file_path).parent
        for name in names:
            definition = self._definition_from(name, root, torch_names)
            if definition is not None:
                return _Answer(definition, _mtime(definition.path))
        return _Answer(None, None)

    def _definition_from(self, name: Any, root: Path, torch_names: bool = False) -> Definition | None:
        module_path = name.module_path
        if module_path is None or module_path.suffix != ".py":
            return None  # builtins, compiled modules, stubs
        if torch_names and name.type in ("function", "class") and _in_torch(module_path):
            full_name = name.full_name or ""
            if full_name.startswith("torch."):
                return Definition(os.path.abspath(module_path), name.line or 1, 0, "torch", full_name)
        if not self._is_user_file(module_path, root):
            return None
        if name.type == "module":
            line, column = 1, 0
        else:
            # The statement's start, not the name's: for `def f` that is the `def` keyword,
            # which is where Python's ast puts FunctionDef.lineno/col_offset.
            start = name.get_definition_start_position()
            if start is None:
                if name.line is None:
                    return None
                start = (name.line, name.column)
            line, column = start
            if name.type == "function":
                column = _async_keyword_column(name.get_line_code(), column)
        return Definition(
            path=os.path.abspath(module_path),
            line=line,
            column=column,
            kind=name.type,
            name=name.name,
        )

    # -- what counts as the user's code ---------------------------------------------

    def _is_user_file(self, path: Path, root: Path | None) -> bool:
        try:
            resolved = path.resolve()
        except OSError:
            return False
        if root is not None and not resolved.is_relative_to(root):
            return False
        if _PACKAGE_FOLDERS.intersection(resolved.parts):
            return False
        if any(resolved.is_relative_to(folder) for folder in self._excluded_roots):
            return False
        if self._environment is not None:
            prefix = Path(getattr(self._environment, "path", "") or "/nonexistent")
            if any(resolved.is_relative_to(folder) for folder in _library_folders_under(prefix)):
                return False
        key = (resolved.parent, root)
        if key not in self._virtualenv_folders:  # the files of a folder share the answer
            self._virtualenv_folders[key] = _inside_virtualenv(resolved.parent, root)
        return not self._virtualenv_folders[key]


def _jedi() -> Any:
    """jedi, imported on first use and set never to import the user's code."""
    import jedi

    # Modules named here are imported instead of read (jedi's default: "gi"), and a
    # project's own `gi.py` on the path would be the one imported.
    jedi.settings.auto_import_modules = []
    return jedi


def _safe_project(root: Path, environment: Any, interpreter_libraries: tuple[Path, ...]) -> Any:
    """A jedi Project that finds modules along the environment's whole sys.path but imports
    compiled modules only from the interpreter's library folders.

    jedi cannot read a compiled extension, so it imports it (its code runs) from any folder
    of its "base" sys.path; that path holds PYTHONPATH entries and the folders .pth files
    add (editable installs), often the project itself: a cloned repository's `.so` would run
    as soon as a name is resolved through it.
    """
    sys_path = [entry for entry in environment.get_sys_path() if entry]
    libraries = interpreter_libraries + _library_folders_under(Path(environment.path))
    trusted = [entry for entry in sys_path if _may_hold_compiled_modules(Path(entry), root, libraries)]
    return _safe_project_class()(root, environment, sys_path, trusted)


@functools.lru_cache(maxsize=None)
def _safe_project_class() -> type:
    jedi = _jedi()

    class SafeProject(jedi.Project):
        def __init__(self, root: Path, environment: Any, sys_path: list[str], trusted: list[str]) -> None:
            # sys_path given explicitly, so jedi's "base" sys.path serves one purpose only:
            # the folders compiled modules may be imported from.
            super().__init__(root, sys_path=sys_path, load_unsafe_extensions=False)
            self._environment = environment  # what Project.get_environment() hands to jedi.Script
            self._trusted_sys_path = trusted

        def _get_base_sys_path(self, inference_state: Any) -> list[str]:
            return self._trusted_sys_path

    return SafeProject


def _may_hold_compiled_modules(folder: Path, root: Path, libraries: tuple[Path, ...]) -> bool:
    """The interpreter's own library folders, and installed-package folders outside the project."""
    resolved = Path(os.path.realpath(folder))
    if any(resolved.is_relative_to(library) for library in libraries):
        return True
    if resolved.is_relative_to(root):
        return False
    return bool(_PACKAGE_FOLDERS.intersection(resolved.parts))


def _async_keyword_column(line_code: str, def_column: int) -> int:
    # jedi starts an `async def` at `def`; ast starts AsyncFunctionDef at `async`.
    before = line_code[:def_column].rstrip()
    if before.endswith("async") and (len(before) == 5 or not before[-6].isidentifier()):
        return len(before) - 5
    return def_column


def _still_current(answer: _Answer) -> bool:
    if answer.definition is None:
        return True
    return _mtime(answer.definition.path) == answer.stamp


def _in_torch(path: Path) -> bool:
    """Inside the installed torch package (`.../site-packages/torch/...`)."""
    parts = path.parts
    return any(parts[i] in _PACKAGE_FOLDERS and parts[i + 1] == "torch" for i in range(len(parts) - 1))


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _interpreter_library_folders() -> tuple[Path, ...]:
    """The stdlib folders of the Python running gradwatch (and of the one it was made from)."""
    folders = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            folders.add(Path(value).resolve())
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        folders.update(_library_folders_under(Path(prefix)))
    return tuple(sorted(folders))


def _library_folders_under(prefix: Path) -> tuple[Path, ...]:
    # A prefix like /usr may well contain the user's project, so only its lib folders count.
    candidates = [prefix / "Lib", prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"]
    lib = prefix / "lib"
    if lib.is_dir():
        try:
            candidates.extend(child for child in lib.iterdir() if child.name.startswith("python"))
        except OSError:
            pass
    return tuple(candidate.resolve() for candidate in candidates)


def _inside_virtualenv(folder: Path, root: Path | None) -> bool:
    """True when a folder between `folder` and `root` (exclusive) is a virtualenv or conda env.

    The root itself is not checked: a project created with `python -m venv .` is still
    the user's project.
    """
    for candidate in (folder, *folder.parents):
        if root is not None and (candidate == root or not candidate.is_relative_to(root)):
            return False
        if (candidate / "pyvenv.cfg").is_file() or (candidate / "conda-meta").is_dir():
            return True
    return False
