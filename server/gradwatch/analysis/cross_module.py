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
from collections import OrderedDict
from dataclasses import dataclass, replace

from gradwatch.analysis import dependency_log
from gradwatch.analysis.import_paths import UNDECIDED, ImportPaths
from gradwatch.analysis.imports import canonical
from gradwatch.analysis.module_files import module_file
from gradwatch.analysis.project import Definition, ProjectIndex
from gradwatch.analysis.summaries import (
    FunctionSummary,
    apply_summary,
    function_summary,
)
from gradwatch.analysis.syntax import inner_statements
from gradwatch.analysis.values import (
    ModuleClass,
    TorchRef,
)
from gradwatch.source import SourceText

MAX_MODULES = 32


class CrossModule:
    def __init__(self, index: ProjectIndex, files_stay_unchanged: bool = False) -> None:
        """`files_stay_unchanged` (one CLI run, not an editor session): each imported name
        is looked up once per importing folder, and a file's classes are worked out when
        first asked for (one thread asks)."""
        self.index = index
        self.paths = ImportPaths(index.root)
        self._summaries: dict = {}
        self._modules: OrderedDict[tuple[str, int], _Module] = OrderedDict()
        self._answers: dict[tuple[str, str], tuple] | None = {} if files_stay_unchanged else None
        self._one_thread = files_stay_unchanged
        self._lock = threading.Lock()
        self._absolute_paths: dict[str, str] = {}  # a checked file's path as given -> absolute

    @property
    def identity(self) -> int:
        """Stable for this project (wrappers that pass attributes on give the same)."""
        return id(self)

    # -- at a call site --------------------------------------------------------

    def value_for_call(self, ev, node: ast.Call, state, imported: str):
        """A ModuleClass, a value, or None (unknown) for a call of `imported`, a name imported
        from another module (its dotted import path, relative ones with leading dots)."""
        path = ev.facts.path
        if path is None:
            return None
        if not self.index.is_user_file(path):
            return None
        definition, consulted = self._definition(node, path, imported)
        dependency_log.note_all(consulted)  # for the persistent cache
        if definition is None:
            return None
        dependency_log.note_all((definition.path,))  # made absolute by _looked_up
        if definition.kind == "torch":  # a project module re-exporting a torch API
            return TorchRef(canonical(definition.name))
        summary = self._summary(definition)
        if isinstance(summary, ModuleClass):
            return summary
        if isinstance(summary, FunctionSummary):
            bound = 1 if summary.binds_self and definition.through_value else 0
            return apply_summary(ev, summary, node, state, bound)
        return None

    def _definition(self, node: ast.Call, path: str, imported: str) -> tuple[Definition | None, frozenset]:
        """Where `imported` is defined, found by path (import_paths.py) or, when that cannot
        decide, by jedi (None for this file's own definitions: the local pass handles those),
        and the files the answer depends on (absolute paths). While files stay unchanged, asked once per
        imported name and importing folder: every call of `timm.layers.to_2tuple` there names
        the same definition (or none)."""
        absolute = self._absolute_paths.get(path)
        if absolute is None:
            absolute = self._absolute_paths[path] = os.path.abspath(path)
        if self._answers is None:
            definition, consulted = self._looked_up(node, path, imported)
        else:
            key = (imported, os.path.dirname(absolute))
            with self._lock:
                known = key in self._answers
            if not known:
                answer = self._looked_up(node, path, imported)
                with self._lock:
                    self._answers[key] = answer
            definition, consulted = self._answers[key]
        if definition is not None and definition.path == absolute:
            return None, consulted
        return definition, consulted

    def _looked_up(self, node: ast.Call, path: str, imported: str) -> tuple[Definition | None, frozenset]:
        definition, consulted = self.paths.definition(path, imported)
        if definition is UNDECIDED:
            # jedi does not say which files it went through: those the search by path read
            # before it gave up are the best guess.
            definition = self.index.imported_definition(path, imported, torch_names=True)
            if definition is not None and isinstance(node.func, ast.Attribute):
                # What path search leaves to jedi is mostly an attribute of a value (an instance),
                # rarely a class bound in a branch: a method's `self` counts as passed.
                definition = replace(definition, through_value=True)
        if definition is not None and definition.kind != "torch" and not self.index.is_user_file(definition.path):
            definition = None
        if definition is not None:
            definition = replace(definition, path=os.path.abspath(definition.path))
        return definition, frozenset(map(os.path.abspath, consulted))

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
                    self._summaries[key] = self._summarise(definition, stamp)
                except Exception:  # a file we cannot analyse tells us nothing
                    self._summaries[key] = None
            return self._summaries[key]

    def _summarise(self, definition: Definition, stamp: int):
        module = self._module(definition.path, stamp)
        target = module.definitions.get((definition.line, definition.name))
        if isinstance(target, ast.ClassDef):
            value = module.interpreter.globals.get(target.name)
            if value is None:  # not a top-level class: worked out here, not by whichever thread asks first
                value = module.interpreter.class_value(target)
            if isinstance(value, ModuleClass) and value.init is not None:
                # Now, while this file's interpreter is held (a class keeps only a weak
                # reference to it): later, the file may have left MAX_MODULES.
                value.init.worked_out()
            return value if isinstance(value, ModuleClass) else None
        if target is None:
            return None
        method = id(target) in module.methods
        return function_summary(module.interpreter.sharing_module(), target, definition.path, method)

    def _module(self, path: str, stamp: int) -> _Module:
        """The file parsed, with its imports and classes collected: once per version of the
        file while it is among the last MAX_MODULES used (a file often defines several of
        the names a project imports)."""
        key = (path, stamp)
        module = self._modules.get(key)
        if module is None:
            module = self._modules[key] = _Module.read(path, all_classes_now=not self._one_thread)
            if len(self._modules) > MAX_MODULES:
                self._modules.popitem(last=False)
        self._modules.move_to_end(key)
        return module


@dataclass
class _Module:
    interpreter: object  # an Interpreter whose globals are the file's
    definitions: dict  # (line, name) -> the def or class there
    methods: frozenset  # id() of the defs directly in a class body

    @staticmethod
    def read(path: str, all_classes_now: bool) -> _Module:
        """`all_classes_now`: work out every class of the file now (several threads, the
        language server's, may ask for them), not each when first asked for (a CLI run
        asks for few of a file's classes)."""
        from gradwatch.analysis.interpreter import Interpreter

        read = module_file(path)
        if read is None:
            raise ValueError(f"cannot read {path}")
        tree = read.tree
        interpreter = Interpreter(SourceText(read.text), collect_names=False, path=path)
        interpreter.collect_globals(tree)
        if all_classes_now:
            interpreter.work_out_classes(interpreter.module_classes)
        definitions = {
            (node.lineno, node.name): node
            for node in inner_statements(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        }
        methods = frozenset(
            id(item) for node in definitions.values() if isinstance(node, ast.ClassDef) for item in node.body
        )
        return _Module(interpreter, definitions, methods)
