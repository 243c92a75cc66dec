"""Following calls into the project's other files.

jedi (through `ProjectIndex`) says where an imported name is defined; gradwatch's
own interpreter then analyses that definition once: an `nn.Module` subclass
becomes the same `ModuleClass` a local class would be (so `model = Net()` trains
parameters), and a function gets the summary `summaries.function_summary` makes
(its cuts and in-place changes cite the line in the other file).

Summaries are cached per definition and the defining file's modification time.
Anything that fails (unreadable file, syntax error, jedi trouble) means "unknown".
"""

from __future__ import annotations

import ast
import os
import threading
from pathlib import Path

from gradwatch.analysis.imports import canonical
from gradwatch.analysis.project import Definition, ProjectIndex
from gradwatch.analysis.summaries import (
    FunctionSummary,
    apply_summary,
    function_summary,
)
from gradwatch.analysis.values import (
    ModuleClass,
    TorchRef,
)
from gradwatch.source import SourceText


class CrossModule:
    def __init__(self, index: ProjectIndex, files_stay_unchanged: bool = False) -> None:
        """`files_stay_unchanged` (one CLI run, not an editor session): each imported name
        is looked up once per importing folder."""
        self.index = index
        self._summaries: dict = {}
        self._local_modules: dict = {}
        self._answers: dict[tuple[str, str], Definition | None] | None = {} if files_stay_unchanged else None
        self._lock = threading.Lock()

    # -- at a call site --------------------------------------------------------

    def value_for_call(self, ev, node: ast.Call, state, imported: str):
        """A ModuleClass, a value, or None (unknown) for a call of `imported`, a name imported
        from another module (its dotted import path, relative ones with leading dots)."""
        path = ev.facts.path
        if path is None or not self._may_be_in_project(imported, path):
            return None
        definition = self._asked_jedi(ev, node, path, imported)
        if definition is None:
            return None
        if definition.kind == "torch":  # a project module re-exporting a torch API
            return TorchRef(canonical(definition.name))
        summary = self._summary(definition)
        if isinstance(summary, ModuleClass):
            return summary
        if isinstance(summary, FunctionSummary):
            return apply_summary(ev, summary, node, state)
        return None

    def _may_be_in_project(self, imported: str, path: str) -> bool:
        """Cheap checks before asking jedi: is the calling file the user's, and can the
        imported module be one of theirs (a relative import, or a top-level module or
        package that sits in the project folder, the file's folder or `src/`)?"""
        if not self.index.is_user_file(path):
            return False
        if imported.startswith("."):
            return True
        top = imported.split(".", 1)[0]
        folders = {Path(path).resolve().parent}
        if self.index.root is not None:
            folders |= {self.index.root, self.index.root / "src"}
        key = (top, frozenset(folders))
        if key not in self._local_modules:
            self._local_modules[key] = any(
                (folder / f"{top}.py").is_file() or (folder / top).is_dir() for folder in folders
            )
        return self._local_modules[key]

    def _asked_jedi(self, ev, node: ast.Call, path: str, imported: str) -> Definition | None:
        """jedi's answer; while files stay unchanged, asked once per imported name and importing
        folder: every call of `timm.layers.to_2tuple` there names the same definition (or none).
        (Asking costs jedi a parse of the calling file: 0.1-0.3 s.)"""
        if self._answers is None:
            return self._definition(ev, node, path, same_file_too=False)
        key = (imported, os.path.dirname(os.path.abspath(path)))
        with self._lock:
            known = key in self._answers
        if not known:
            definition = self._definition(ev, node, path, same_file_too=True)
            with self._lock:
                self._answers[key] = definition
        definition = self._answers[key]
        if definition is not None and os.path.abspath(definition.path) == os.path.abspath(path):
            return None  # the local pass handles this file's own definitions
        return definition

    def _definition(self, ev, node: ast.Call, path: str, same_file_too: bool) -> Definition | None:
        func = node.func
        if isinstance(func, ast.Name):
            line, column = func.lineno, ev.source.char_column(func.lineno, func.col_offset)
        elif isinstance(func, ast.Attribute):
            line = func.end_lineno
            column = ev.source.char_column(line, func.end_col_offset) - len(func.attr)
        else:
            return None
        definition = self.index.definition(path, ev.source.text, line, column, torch_names=True)
        if definition is not None and definition.kind == "torch":
            return definition
        if definition is None or not self.index.is_user_file(definition.path):
            return None
        if not same_file_too and os.path.abspath(definition.path) == os.path.abspath(path):
            return None  # the local pass handles this file's own definitions
        return definition

    # -- summaries of definitions ----------------------------------------------

    def _summary(self, definition: Definition):
        try:
            stamp = os.stat(definition.path).st_mtime_ns
        except OSError:
            return None
        key = (definition.path, definition.line, definition.name, stamp)
        with self._lock:
            if key not in self._summaries:
                try:
                    self._summaries[key] = _summarise(definition)
                except Exception:  # a file we cannot analyse tells us nothing
                    self._summaries[key] = None
            return self._summaries[key]


def _summarise(definition: Definition):
    from gradwatch.analysis.interpreter import Interpreter
    from gradwatch.checker import read_python_file
    from gradwatch.parsing import parse

    text = read_python_file(Path(definition.path))
    parsed = parse(text)
    target = next(
        (
            n
            for n in ast.walk(parsed.tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.lineno == definition.line
            and n.name == definition.name
        ),
        None,
    )
    if target is None:
        return None
    source = SourceText(text)
    interpreter = Interpreter(source, collect_names=False)
    interpreter.facts.path = definition.path
    interpreter.collect_globals(parsed.tree)
    if isinstance(target, ast.ClassDef):
        value = interpreter.globals.get(target.name)
        if value is None:
            value = interpreter.class_value(target)
        return value if isinstance(value, ModuleClass) else None
    return function_summary(interpreter, target, definition.path)
