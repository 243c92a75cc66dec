"""Where is an imported name defined? The project's own modules, found by path.

Most calls into other files name a function or class of the same project:
`from .layers import Mlp`, `from timm.layers import Mlp`, `timm.create_model`.
Python finds those by walking folders from the importing file (relative
imports) or from the project's top folders, then reading the module's
top-level statements, following `from x import name` re-exports (a package's
`__init__.py`) and star imports. Doing the same here costs a parse of small
files; asking jedi costs a parse of the importing file with its own, slower
parser.

A name bound by an assignment (`to_2tuple = _ntuple(2)`) is no function or
class to follow: None, as jedi's answer (a statement) would give. A method of a
module-level instance (`STRATEGY_REGISTRY.available_strategies`, where the module
bound `STRATEGY_REGISTRY = _StrategyRegistry()` once) is its class's method. What this
cannot decide the way Python would (a name bound in a branch or a `try`, a
module that is no plain file, a star import of a module it cannot read) comes
back UNDECIDED, for jedi to answer.
"""

from __future__ import annotations

import ast
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from gradwatch.analysis.module_files import module_file as module_file_of
from gradwatch.analysis.project import Definition
from gradwatch.analysis.syntax import DEFINITIONS, dotted, inner_statements

UNDECIDED = object()
MAX_HOPS = 8  # re-exports and star imports followed before giving up (cycles included)


@dataclass(frozen=True)
class _Binding:
    # "function" | "class" | "imported" (from another module) | "instance" (`name = Class(...)`,
    # or of whatever the call makes) | "other" (assigned)
    kind: str
    line: int
    column: int
    target: str = ""  # for "imported": the dotted import path it names; for "instance": the callee


@dataclass(frozen=True)
class _ModuleNames:
    # Names bound exactly once, unconditionally, at the top level (a later star import may
    # still rebind one: that is checked when it is looked up).
    bindings: dict
    # Names bound anywhere at the top level (in branches too).
    bound: frozenset
    # (line, dotted import path) of the module's star imports, last first.
    stars: tuple
    all_names: frozenset | None  # a literal `__all__`


class ImportPaths:
    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._modules: dict[str, tuple[int, _ModuleNames | None]] = {}  # path -> (mtime, names)
        self._lock = threading.Lock()

    def definition(self, importing_file: str, imported: str) -> tuple[object, frozenset[str]]:
        """The Definition of `imported` (a dotted import path, relative ones with leading dots)
        as seen from `importing_file`: None when it is no function or class of the project
        (nor torch's), UNDECIDED when only jedi can tell; and the files the answer depends on
        (those read, and those looked for: creating one may change it)."""
        seen: set[str] = set()
        answer = self._resolve(os.path.dirname(os.path.abspath(importing_file)), imported, MAX_HOPS, seen)
        return answer, frozenset(seen)

    def _resolve(self, folder: str, imported: str, hops: int, seen: set):
        if hops <= 0:
            return UNDECIDED
        level, parts = _split(imported)
        if level == 0 and parts[:1] == ["torch"]:
            return Definition(folder, 1, 0, "torch", ".".join(parts))
        located = self._locate(folder, level, parts, seen)
        if located is None:
            return None  # not the project's, or a module Python would not find either
        module_file, rest = located
        if not rest or module_file is None:
            return None  # a module: calling it is not a call of a function or class
        return self._name_in(module_file, rest, hops, seen)

    def _locate(self, folder: str, level: int, parts: list[str], seen: set) -> tuple[str | None, list[str]] | None:
        """The deepest module file the path names and the names after it, or None."""
        for base in self._bases(folder, level):
            located = _module_path(base, parts, seen)
            if located is not None:
                return located
        return None

    def _bases(self, folder: str, level: int) -> list[str]:
        """The folders Python would look in for the first part of the path: for an absolute
        import, the project's top folders, and the importing file's own folder when that
        is not a package (a script next to its modules)."""
        if level:
            for _ in range(level - 1):
                folder = os.path.dirname(folder)
            return [folder]
        bases = [] if os.path.isfile(os.path.join(folder, "__init__.py")) else [folder]
        if self.root is not None:
            bases += [str(self.root), str(self.root / "src")]
        return list(dict.fromkeys(bases))

    def _name_in(self, module_file: str, rest: list[str], hops: int, seen: set):
        names = self._names(module_file, seen)
        if names is None:
            return UNDECIDED
        folder = os.path.dirname(module_file)
        binding = names.bindings.get(rest[0])
        if binding is None and rest[0] in names.bound:
            return UNDECIDED  # bound in a branch, or more than once
        # The last star import after the binding (if any) that exports the name rebinds it.
        later = [star for line, star in names.stars if binding is None or line > binding.line]
        star = self._last_exporting(folder, later, rest[0], hops, seen)
        if star is not None:
            return self._resolve(folder, ".".join([star, *rest]), hops - 1, seen) if star else UNDECIDED
        if binding is None:
            return UNDECIDED  # perhaps `globals()` or a module `__getattr__`
        if binding.kind == "imported":
            return self._resolve(folder, ".".join([binding.target, *rest[1:]]), hops - 1, seen)
        if len(rest) == 2 and binding.kind == "class":
            found = _method_of_class(module_file, binding.line, rest[1])
            if isinstance(found, list):  # not the class's own: its only base's, as Python's lookup goes on
                return self._name_in(module_file, [*found, rest[1]], hops - 1, seen)
            return found
        if len(rest) == 2 and binding.kind == "instance":
            return self._method_of_instance(module_file, binding.target, rest[1], hops - 1, seen)
        if len(rest) > 1:
            return UNDECIDED  # an attribute of a value: jedi infers those
        if binding.kind in ("other", "instance"):
            return None
        return Definition(module_file, binding.line, binding.column, binding.kind, rest[0])

    def _method_of_instance(self, module_file: str, callee: str, method: str, hops: int, seen: set):
        """`registry.method` where the module bound `registry = Registry(...)` once: the class's
        method, reached through a value (its `self` is bound); UNDECIDED when the callee is no
        class found by path (a factory function: jedi infers what it returns)."""
        made_by = self._name_in(module_file, callee.split("."), hops, seen)
        if not isinstance(made_by, Definition) or made_by.kind != "class":
            return UNDECIDED
        found = self._name_in(made_by.path, [made_by.name, method], hops - 1, seen)
        return replace(found, through_value=True) if isinstance(found, Definition) else found

    def _last_exporting(self, folder: str, stars: list[str], name: str, hops: int, seen: set) -> str | None:
        """Of `stars` (star imports, last first), the first that exports `name`; "" when one
        of them binds names that are not known; None when none of them binds it."""
        for star in stars:
            exported = self._exported(folder, star, hops - 1, seen)
            if exported is None:
                return ""
            if name in exported:
                return star
        return None

    def _exported(self, folder: str, star: str, hops: int, seen: set) -> frozenset | None:
        """The names `from <star> import *` binds, or None when that is not known."""
        if hops <= 0:
            return None
        level, parts = _split(star)
        if level == 0 and parts[:1] == ["torch"]:
            return None
        located = self._locate(folder, level, parts, seen)
        if located is None or located[1] or located[0] is None:
            return None
        names = self._names(located[0], seen)
        if names is None:
            return None
        if names.all_names is not None:
            return names.all_names
        exported = {name for name in names.bound if not name.startswith("_")}
        for _, inner in names.stars:
            more = self._exported(os.path.dirname(located[0]), inner, hops - 1, seen)
            if more is None:
                return None
            exported |= more
        return frozenset(exported)

    def _names(self, module_file: str, seen: set) -> _ModuleNames | None:
        """What the module binds (None when it cannot be read or parsed), once per version."""
        seen.add(module_file)
        return self._read_once(module_file)

    def _read_once(self, module_file: str) -> _ModuleNames | None:
        try:
            stamp = os.stat(module_file).st_mtime_ns
        except OSError:
            return None
        with self._lock:
            cached = self._modules.get(module_file)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        names = _read_names(module_file)
        with self._lock:
            self._modules[module_file] = (stamp, names)
        return names


def _split(imported: str) -> tuple[int, list[str]]:
    level = len(imported) - len(imported.lstrip("."))
    rest = imported[level:]
    return level, rest.split(".") if rest else []


def _module_path(base: str, parts: list[str], seen: set) -> tuple[str | None, list[str]] | None:
    """`parts` read as a module path from `base`, the way Python's import system looks (a
    package's `__init__.py` before a module file before a namespace folder): the deepest
    module file found (None for a namespace package) and the names after it."""
    module_file: str | None = None
    folder = base
    for index, part in enumerate(parts):
        path = os.path.join(folder, part)
        seen.update((os.path.join(path, "__init__.py"), path + ".py"))
        if os.path.isfile(os.path.join(path, "__init__.py")):
            module_file, folder = os.path.join(path, "__init__.py"), path
        elif os.path.isfile(path + ".py"):
            return path + ".py", parts[index + 1 :]
        elif os.path.isdir(path):
            module_file, folder = None, path
        elif module_file is None:
            return None  # nothing by that name in a namespace package (or at the top)
        else:
            return module_file, parts[index:]
    return module_file, []


def _read_names(module_file: str) -> _ModuleNames | None:
    read = module_file_of(module_file)
    if read is None or not read.parses:
        return None
    tree = read.tree
    bindings: dict[str, _Binding] = {}
    ambiguous: set[str] = set()
    bound: set[str] = set()
    stars: list[str] = []
    all_names, all_changed = None, False  # a literal `__all__`, trusted when set once only
    top_level, skipped = _as_type_checkers_read(tree.body)
    for statement in top_level:
        if isinstance(statement, ast.ImportFrom) and any(alias.name == "*" for alias in statement.names):
            star = "." * statement.level + (statement.module or "")
            stars.insert(0, (statement.lineno, star))
        fallback = _import_fallback(statement)
        for name, binding in _bound_by(statement) if fallback is None else fallback[0]:
            earlier = bindings.get(name)
            if earlier is not None and (earlier.kind, earlier.target) != (binding.kind, binding.target):
                ambiguous.add(name)  # `from .a import x` then `from .b import x`; the same import twice is no doubt
            bindings[name] = binding
        if fallback is not None:
            ambiguous.update(fallback[1])
        elif isinstance(statement, (ast.If, ast.Try, ast.For, ast.While, ast.With)):
            ambiguous.update(name for inner in inner_statements(statement) for name, _ in _bound_by(inner))
        if _mentions_all(statement):
            all_names = _literal_all(statement) if all_names is None and not all_changed else None
            all_changed = True
    ambiguous.update(_names_bound_in(skipped))
    bound = set(bindings) | ambiguous
    kept = {name: binding for name, binding in bindings.items() if name not in ambiguous}
    return _ModuleNames(kept, frozenset(bound), tuple(stars), all_names)


def _as_type_checkers_read(body: list[ast.stmt]) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """The module's top-level statements as type checkers read them, and the blocks they skip.
    The body of `if TYPE_CHECKING:` (or `if TYPE_CHECKING or ...:`) counts as top level, its
    `else` not: a package that imports lazily (diffusers, transformers) binds its names there
    for type checkers, and at run time through a module object that finds the same classes
    (`sys.modules[__name__] = _LazyModule(...)` in the `else`); a name the `else` binds stays
    undecided. So does the body of an `if` without `else` that only imports (`if
    is_torch_available(): from .unets import UNet2DModel`): where the condition is false the
    name is not bound at all, so a call of it that runs calls what the import bound."""
    top_level: list[ast.stmt] = []
    skipped: list[ast.stmt] = []
    for statement in body:
        if isinstance(statement, ast.If) and (_checks_types(statement.test) or _only_imports(statement)):
            inner, inner_skipped = _as_type_checkers_read(statement.body)
            top_level += inner
            skipped += inner_skipped + statement.orelse
        else:
            top_level.append(statement)
    return top_level, skipped


def _only_imports(statement: ast.If) -> bool:
    return not statement.orelse and all(
        isinstance(inner, (ast.Import, ast.ImportFrom)) or (isinstance(inner, ast.If) and _only_imports(inner))
        for inner in statement.body
    )


def _checks_types(test: ast.expr) -> bool:
    """`TYPE_CHECKING`, `typing.TYPE_CHECKING`, or an `or` of which one is."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        return any(_checks_types(value) for value in test.values)
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _method_of_class(module_file: str, class_line: int, name: str):
    """`Class.method`: the function the class's own body defines under that name once, plain,
    static or class method; when the body does not bind the name and the class has a single
    base (no metaclass), that base as dotted names of the module (where to look next);
    UNDECIDED for anything else (a property, bound in a branch or twice, a class attribute,
    several bases): jedi infers those."""
    read = module_file_of(module_file)
    if read is None or not read.parses:
        return UNDECIDED
    owner = next((n for n in read.tree.body if isinstance(n, ast.ClassDef) and n.lineno == class_line), None)
    if owner is None:
        return UNDECIDED
    bound = [
        inner
        for statement in owner.body
        for inner in ([statement] if isinstance(statement, DEFINITIONS) else inner_statements(statement))
        if any(bound_name == name for bound_name, _ in _bound_by(inner))
    ]
    if not bound and len(owner.bases) == 1 and not owner.keywords:
        base = dotted(owner.bases[0])
        return base.split(".") if base is not None else UNDECIDED
    if len(bound) != 1 or not isinstance(bound[0], (ast.FunctionDef, ast.AsyncFunctionDef)) or bound[0] not in owner.body:
        return UNDECIDED
    method = bound[0]
    if any(_decorator_name(d) not in ("staticmethod", "classmethod") for d in method.decorator_list):
        return UNDECIDED
    return Definition(module_file, method.lineno, method.col_offset, "function", name)


def _decorator_name(decorator: ast.expr) -> str:
    return decorator.id if isinstance(decorator, ast.Name) else ""


def _mentions_all(statement: ast.stmt) -> bool:
    """Whether the statement (or one in its blocks) assigns or changes `__all__`."""
    for inner in inner_statements(statement):
        if isinstance(inner, ast.Assign):
            targets = inner.targets
        elif isinstance(inner, (ast.AugAssign, ast.AnnAssign)):
            targets = [inner.target]
        elif isinstance(inner, ast.Expr) and isinstance(inner.value, ast.Call):
            targets = [inner.value.func.value] if isinstance(inner.value.func, ast.Attribute) else []
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets):
            return True
    return False


def _literal_all(statement: ast.stmt) -> frozenset | None:
    if (
        isinstance(statement, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in statement.targets)
        and isinstance(statement.value, (ast.List, ast.Tuple))
        and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in statement.value.elts)
    ):
        return frozenset(e.value for e in statement.value.elts)
    return None


def _bound_by(statement: ast.AST):
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
        yield statement.name, _Binding("function", statement.lineno, statement.col_offset)
    elif isinstance(statement, ast.ClassDef):
        yield statement.name, _Binding("class", statement.lineno, statement.col_offset)
    elif isinstance(statement, ast.ImportFrom):
        module = "." * statement.level + (statement.module or "")
        for alias in statement.names:
            if alias.name != "*":
                yield alias.asname or alias.name, _Binding("imported", statement.lineno, 0, f"{module}.{alias.name}")
    elif isinstance(statement, ast.Import):
        for alias in statement.names:
            if alias.asname:
                yield alias.asname, _Binding("imported", statement.lineno, 0, alias.name)
            else:
                top = alias.name.split(".", 1)[0]
                yield top, _Binding("imported", statement.lineno, 0, top)
    elif isinstance(statement, ast.Assign) and _is_instance_binding(statement):
        yield statement.targets[0].id, _Binding("instance", statement.lineno, 0, dotted(statement.value.func))
    elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Name):
                    yield node.id, _Binding("other", statement.lineno, 0)


def _is_instance_binding(statement: ast.Assign) -> bool:
    """`name = Callee(...)` with one plain name on each side (`Callee` may be dotted)."""
    return (
        len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and isinstance(statement.value, ast.Call)
        and dotted(statement.value.func) is not None
    )


_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError"})


def _import_fallback(statement: ast.stmt) -> tuple[list, set] | None:
    """For `try: from torch import _assert` / `except ImportError: def _assert(...)`: the
    names the imports bind, as Python binds them whenever the import succeeds (jedi's answer
    too), and the other names the statement binds (those stay undecided). None for any
    other statement."""
    if not isinstance(statement, ast.Try) or not statement.body or not statement.handlers:
        return None
    if not all(isinstance(inner, (ast.Import, ast.ImportFrom)) for inner in statement.body):
        return None
    for handler in statement.handlers:
        caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if not all(isinstance(kind, ast.Name) and kind.id in _IMPORT_ERRORS for kind in caught):
            return None
    imported = [pair for inner in statement.body for pair in _bound_by(inner)]
    fallbacks = _names_bound_in(statement.handlers) - {name for name, _ in imported}
    # `else` and `finally` run after a successful import too: what they bind stays undecided.
    return imported, fallbacks | _names_bound_in([*statement.orelse, *statement.finalbody])


def _names_bound_in(blocks: list) -> set[str]:
    return {name for block in blocks for inner in inner_statements(block) for name, _ in _bound_by(inner)}
