"""Following calls into the project's other files.

jedi (through `ProjectIndex`) says where an imported name is defined; gradwatch's
own interpreter then analyses that definition once and summarises it:

- a class that subclasses `nn.Module` becomes the same `ModuleClass` a local class
  would be (so `model = Net()` trains parameters);
- a function is run with each argument a tensor that requires grad. If every value
  it returns has no graph (it detaches, calls `.item()`, computes under
  `torch.no_grad()`), callers get a value without a graph, and the cut cites the
  line in the other file. If it modifies an argument in place, callers see that
  in-place change on what they passed.

Summaries are cached per definition and the defining file's modification time.
Anything that fails (unreadable file, syntax error, jedi trouble) means "unknown".
"""

from __future__ import annotations

import ast
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from gradwatch.analysis.project import Definition, ProjectIndex
from gradwatch.analysis.values import (
    NO,
    UNKNOWN_VALUE,
    YES,
    Constant,
    GradSource,
    ModuleClass,
    Reason,
    Tensor,
    new_storage,
)
from gradwatch.source import SourceText


@dataclass(frozen=True)
class FunctionSummary:
    name: str
    path: str
    # Cuts that every returned value carries when the function returns a value without a graph.
    returns_cut: tuple = ()
    returns_number: bool = False  # the value returned is a Python number (`.item()`)
    # Argument index -> (the in-place op's name, e.g. "sub_", and where it happens).
    mutates: tuple[tuple[int, str, Reason], ...] = ()


class CrossModule:
    def __init__(self, index: ProjectIndex) -> None:
        self.index = index
        self._summaries: dict = {}
        self._local_modules: dict = {}
        self._lock = threading.Lock()

    # -- at a call site --------------------------------------------------------

    def value_for_call(self, ev, node: ast.Call, state, imported: str):
        """A ModuleClass, a value, or None (unknown) for a call of `imported`, a name imported
        from another module (its dotted import path, relative ones with leading dots)."""
        path = ev.facts.path
        if path is None or not self._may_be_in_project(imported, path):
            return None
        definition = self._definition(ev, node, path)
        if definition is None:
            return None
        summary = self._summary(definition)
        if isinstance(summary, ModuleClass):
            return summary
        if isinstance(summary, FunctionSummary):
            return self._apply(ev, summary, node, state)
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

    def _definition(self, ev, node: ast.Call, path: str) -> Definition | None:
        func = node.func
        if isinstance(func, ast.Name):
            line, column = func.lineno, ev.source.char_column(func.lineno, func.col_offset)
        elif isinstance(func, ast.Attribute):
            line = func.end_lineno
            column = ev.source.char_column(line, func.end_col_offset) - len(func.attr)
        else:
            return None
        definition = self.index.definition(path, ev.source.text, line, column)
        if definition is None or not self.index.is_user_file(definition.path):
            return None
        if os.path.abspath(definition.path) == os.path.abspath(path):
            return None  # the local pass handles this file's own definitions
        return definition

    def _apply(self, ev, summary: FunctionSummary, node: ast.Call, state):
        args = ev.eval_arguments(node, state)
        for index, method, where in summary.mutates:
            if index < len(args) and isinstance(args[index], Tensor):
                ev.inplace(
                    args[index],
                    node.args[index],
                    "call",
                    node,
                    state,
                    [],
                    f"torch.Tensor.{method.rstrip('_')}",
                    elsewhere=where,
                )
        if not summary.returns_cut:
            return UNKNOWN_VALUE
        sources = frozenset().union(*(a.sources for a in args if isinstance(a, Tensor)))
        cuts = tuple(replace(cut, sources=sources) for cut in summary.returns_cut)
        if summary.returns_number:
            return Constant(cuts=cuts)
        return Tensor(
            requires_grad=NO,
            is_leaf=YES,
            storage=ev.fresh_storage(node, state),
            cuts=cuts,
            origin=ev.reason(node, f"`{ev.text(node)}`"),
        )

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
    return _function_summary(interpreter, target, definition.path)


def _function_summary(interpreter, node: ast.FunctionDef, path: str) -> FunctionSummary:
    state = interpreter.function_entry_state(node, None)
    parameters = node.args.posonlyargs + node.args.args
    storages = {}
    for index, arg in enumerate(parameters):
        storage = new_storage()
        storages[storage] = index
        source = GradSource(f"argument `{arg.arg}`", interpreter.source.span(arg))
        state.bind(arg.arg, Tensor(requires_grad=YES, is_leaf=NO, storage=storage, sources=frozenset([source])))
    interpreter.current_function = node
    interpreter.exec_block(node.body, state)
    mutates = []
    for event in interpreter.events.values():
        index = storages.get(getattr(getattr(event, "target", None), "storage", None))
        if index is not None and type(event).__name__ == "InPlace" and not event.through_data:
            method = event.spelling if event.spelling.endswith("_") else "add_"
            mutates.append((index, method, Reason(event.span, f"`{event.target_text}` is modified in place", path)))
    returns_cut: tuple = ()
    number = False
    values = interpreter.returned
    if values and all(_without_graph(v) for v in values):
        returns_cut = tuple(replace(cut, path=path) for cut in values[0].cuts)
        number = isinstance(values[0], Constant)
    return FunctionSummary(node.name, path, returns_cut, number, tuple(mutates))


def _without_graph(value) -> bool:
    """Returned without a graph although the arguments required grad, and we can say why."""
    if isinstance(value, Tensor):
        return value.known and value.requires_grad is NO and bool(value.cuts)
    return isinstance(value, Constant) and bool(value.cuts)
