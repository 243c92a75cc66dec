"""The abstract interpreter: walks each scope in order, tracking autograd state.

Branches join, loops run until their state stops changing (loops.py). The
module body runs first, following the calls it makes into the file's functions
and classes in their context (calls.py); then every function and method is
also analysed on its own, seeing the module's imports and classes, with
unknown arguments. Inside `forward` of an `nn.Module` analysed on its own,
returned tensors are assumed to be backpropagated.
"""

from __future__ import annotations

import ast
import builtins
import re

from gradwatch.analysis import (
    dependency_log,
    describe,
    forward_reach,
    module_dicts,
    scope_text,
    shape_sources,
    summaries,
)
from gradwatch.analysis.budget import StepBudget
from gradwatch.analysis.classes import module_class
from gradwatch.analysis.conditions import known_truth
from gradwatch.analysis.events import FACT_LISTS, Accumulation, Facts, TensorCall
from gradwatch.analysis.expressions import BINARY_DUNDERS, Evaluator, Handlers
from gradwatch.analysis.imports import import_bindings, star_module
from gradwatch.analysis.cached_scopes import CachedScopes
from gradwatch.analysis.iterations import Iterations
from gradwatch.analysis.loops import Loops
from gradwatch.analysis.scope_cache import ScopeCache
from gradwatch.analysis.state import State
from gradwatch.analysis.tensor_methods import InPlaceRejected
from gradwatch.analysis.syntax import dotted, module_scope_names
from gradwatch.analysis.values import (
    NO,
    UNKNOWN,
    UNKNOWN_VALUE,
    YES,
    Constant,
    GradModeContext,
    Mapping,
    Module,
    ModuleClass,
    Reason,
    Sequence,
    Tensor,
    TorchRef,
    Tri,
    UserFunction,
)
from gradwatch.source import SourceText

_BUILTIN_NAMES = frozenset(dir(builtins))
_DEF = re.compile(r"\bdef\b")

_INPLACE_OPERATORS = {
    ast.Add: "__iadd__",
    ast.Sub: "__isub__",
    ast.Mult: "__imul__",
    ast.Div: "__itruediv__",
    ast.MatMult: "__imatmul__",
    ast.Pow: "__ipow__",
}


class _PathEnded(Exception):
    """Raised inside a block after `return`/`raise`/`break`/`continue`."""


class Interpreter(CachedScopes, Loops, Evaluator):
    def __init__(
        self,
        source: SourceText,
        collect_names: bool = True,
        cache: ScopeCache | None = None,
        path: str | None = None,
        resolver=None,
        recovered_lines: tuple = (),
    ) -> None:
        super().__init__(Facts(source=source, path=path), source)
        self.resolver = resolver
        self.recovered_lines = recovered_lines  # ParseResult.recovered_lines (cached_scopes.py)
        self.collect_names = collect_names
        self.cache = cache
        self._globals_key: bool | None = None
        self.globals: dict[str, object] = {}
        self.loop_exits: list[list[State]] = []
        self.current_function: ast.FunctionDef | None = None
        self.forward_methods: set[int] = set()  # `forward` of nn.Module subclasses
        self.run_by_the_module: set[str] = set()  # functions the module body ran (calls.ran_unknowing)
        self._class_of_method: dict[int, ast.ClassDef] | None = None  # _class_of
        self.module_classes: list = []  # (node, ModuleClass) of the file's classes (collect_globals)
        self.steps = StepBudget()
        # (value, state) of each `return` of the function being run (calls and summaries).
        self.returned: list = []
        self.yielded: list | None = None  # what the generator being run yields (generators.py)
        self.functions: dict[str, ast.FunctionDef] = {}  # the module's top-level functions
        # id of a def run inside a function -> (its node, the enclosing function, its call string).
        self.nested_functions: dict[int, tuple] = {}
        # name -> (its summary, the functions its run ran, the other files it read)
        self._summaries: dict[str, tuple] = {}
        self.iterations = Iterations()
        self._methods_by_name: dict[str, set[str]] | None = None  # cached_scopes.py
        self._stamps_seen: dict[str, tuple | None] = {}  # cached_scopes.py
        self._globals_seen: dict[str, object] = {}  # cached_scopes.py
        self._names_seen: dict[str, tuple] = {}  # cached_scopes.py
        self.globals_files: frozenset = frozenset()
        self.exec_handlers = Handlers.of(type(self), "exec_")

    # -- scopes --------------------------------------------------------------

    def run_module(self, tree: ast.Module) -> Facts:
        with dependency_log.recording() as files_read:  # classes of other files, when followed
            self.collect_globals(tree)
            if self.cache is not None:
                # The editor works out every class up front: its cache replays them together.
                # Elsewhere a class is worked out when first asked for (most never are).
                self.work_out_classes(self.module_classes)
        self.globals_files = self.file_stamps(files_read)
        state = State(outer=self.globals)
        self.calls.module_state = state
        if self.relevant(tree, self.source.text):
            self.calls.free_levels = 1
            self.analyse_module_body(tree, state)
            self.calls.free_levels = 0
        self.run_by_the_module = set(self.calls.ran_unknowing)
        self.analyse_definitions(tree.body, in_class=None)
        return self.finish()

    def collect_globals(self, tree: ast.Module) -> None:
        """Imports and classes, which functions may use wherever they are defined. The module
        classes (`module_classes`) are not worked out yet (classes.InitAttributes)."""
        self.facts.tree = tree
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.globals.update(import_bindings(node))
                if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
                    self.star_modules += (star_module(node),)
        self.class_nodes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
        if self.star_modules:
            self.not_from_star_import = module_scope_names(tree) | _BUILTIN_NAMES
        classes = []
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                self.globals[node.name] = value = self.class_value(node)
                if isinstance(value, ModuleClass):
                    classes.append((node, value))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.globals[node.name] = UserFunction(node.name)
                self.functions[node.name] = node
        self.module_classes = classes

    def relevant(self, node: ast.AST, segment: str) -> bool:
        """Whether the scope whose text is `segment` can make an event a rule uses (and how
        far its analysis must go: `backprop_scope`, `follow_other_files`, `shapes_only`)."""
        # Following calls into other files costs a jedi look-up each: worth it only
        # where a backward can turn what they return into a finding.
        backpropagates = scope_text.backpropagates(segment)
        self.backprop_scope = backpropagates or scope_text.raises_without_backward(segment)
        self.follow_other_files = self.resolver is not None and backpropagates
        module_body = isinstance(node, ast.Module) and "forward" in segment
        if module_body or self._may_make_events(node, segment) or self.forward_may_make_events(node):
            self.shapes_only = False
            return True
        self.shapes_only = scope_text.is_shaped(segment)
        return self.shapes_only

    def _may_make_events(self, node: ast.AST, segment: str) -> bool:
        """Whether the scope's own text can make an event. A scope that only writes in place
        runs all the same for the editor (the hover describes its tensors)."""
        if scope_text.always_relevant(segment):
            return True
        if not scope_text.writes_in_place(segment):
            return False
        if getattr(node, "name", None) == "__init__" and scope_text.init_writes_to_no_trained_tensor(segment):
            return False  # for the editor too: its hover would be the only difference
        return self.collect_names or self._grad_mode_may_be_known(node) or scope_text.may_enable_grad(segment)

    def _grad_mode_may_be_known(self, node: ast.AST) -> bool:
        """The module body, and a module's `forward` and `__init__` (function_entry_state),
        start with grad mode known to be on. A `forward` or `__init__` of a class that is not
        at the top level is taken as one (its class is not looked up)."""
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
        class_node = self._class_of(node)
        if class_node is None:
            return node.name in _STARTS_WITH_GRAD_ON and self.functions.get(node.name) is not node
        return _starts_with_grad_on(node, self.globals.get(class_node.name))

    def forward_may_make_events(self, node: ast.AST) -> bool:
        """Whether `node` is a module's forward that code its class may run of this file can
        make an event in (forward_reach.py): the forward of a class not at the top level, always."""
        if not self.is_forward(node):
            return False
        class_node = self._class_of(node)
        if class_node is None:
            return True
        return forward_reach.may_make_events(class_node, self.facts.tree, self.source.segment, scope_text.is_relevant)

    def _class_of(self, method: ast.AST) -> ast.ClassDef | None:
        """The top-level class whose body defines `method`."""
        if self._class_of_method is None:
            self._class_of_method = {id(item): c for c in self.class_nodes.values() for item in c.body}
        return self._class_of_method.get(id(method))

    def analyse_definitions(self, body: list[ast.stmt], in_class: ModuleClass | None) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if in_class is None and node.name in self.run_by_the_module and self.functions.get(node.name) is node:
                    # The module body ran it knowing nothing of its arguments (`main(args)`): its
                    # events are there, with what the program knows around the call. On its own it
                    # runs only for the hover's names.
                    if self.collect_names:
                        self.names_only = True
                        self.analyse_function(node, in_class)
                        self.names_only = False
                    else:
                        self.analyse_nested_functions(node, self.source.segment(node))
                    continue
                self.analyse_function(node, in_class)
            elif isinstance(node, ast.ClassDef):
                cls = self.globals.get(node.name)
                self.analyse_definitions(node.body, cls if isinstance(cls, ModuleClass) else None)

    def run_function(self, node: ast.FunctionDef, in_class: ModuleClass | None) -> None:
        segment = self.source.segment(node)
        if self.relevant(node, segment):
            state = self.function_entry_state(node, in_class)
            outer = self.current_function
            self.current_function = node
            try:
                self.exec_block(node.body, state)
            finally:
                self.current_function = outer
        self.analyse_nested_functions(node, segment)

    def analyse_nested_functions(self, node: ast.FunctionDef, segment: str) -> None:
        """Each def inside `node` on its own (a closure handed to `optimizer.step` runs from
        anywhere), with its events even when `node` runs for its names only."""
        after_header = segment.find("def") + 3
        # Else no def can be inside (`find` first: a regex that starts with `\b` tries every position).
        if segment.find("def", after_header) != -1 and _DEF.search(segment, after_header):
            names_only, self.names_only = self.names_only, False
            for inner in _nested_functions(node):
                self.analyse_function(inner, None)
            self.names_only = names_only

    def function_entry_state(self, node: ast.FunctionDef, in_class: ModuleClass | None) -> State:
        state = State(outer=self.globals)
        state.grad_mode_known = _starts_with_grad_on(node, in_class)
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        for arg in arguments:
            state.bindings[arg.arg] = UNKNOWN_VALUE
        state.bindings.update(shape_sources.parameter_tensors(self, node))  # `x: Float[Tensor, "b 3"]`
        if in_class is not None and arguments and node.name != "__init__":
            self_name = arguments[0].arg
            for attribute, value in in_class.attributes:
                state.bind(f"{self_name}.{attribute}", _as_assumed(value))
        for decorator in node.decorator_list:
            call = decorator.func if isinstance(decorator, ast.Call) else decorator
            value = self.eval(call, State(outer=self.globals))
            with_mode = isinstance(decorator, ast.Call) and bool(decorator.args or decorator.keywords)
            if isinstance(value, TorchRef) and value.qualname in ("torch.no_grad", "torch.inference_mode") and not with_mode:
                state.grad_enabled = NO
                state.inference_mode = value.qualname == "torch.inference_mode"
                state.grad_mode_reason = Reason(self.span(decorator), f"`@{self.text(decorator)}`")
        return state

    def is_forward(self, node: ast.AST) -> bool:
        return id(node) in self.forward_methods

    def local_summary(self, name: str):
        """The summary of a top-level function of this file, computed once per run. The scope
        that uses it depends on the function's text and on the functions its run ran (for
        the scope cache, as if the call had been followed)."""
        if name not in self._summaries:
            self._summaries[name] = None, (), ()  # a recursive call sees "unknown"
            node = self.functions.get(name)
            if node is not None:
                helper = self.sharing_module()
                followed = helper.calls.track()
                with dependency_log.recording() as files_read:
                    summary = summaries.function_summary(helper, node, None)
                helper.calls.untrack(followed)
                self._summaries[name] = summary, (node, *followed.functions), tuple(files_read)
        summary, ran, files_read = self._summaries[name]
        for function in ran:
            self.calls.note_followed(function)
        for path in files_read:
            dependency_log.note(path)
        return summary

    def aside(self) -> Interpreter:
        """A fresh interpreter that shares this one's module-level names, other files, tensor
        identities and step budget: code run there (a class's `__init__`, worked out when
        first asked for) sees no flag, call or loop of the scope that asked."""
        helper = self.sharing_module()
        helper.resolver = self.resolver
        helper._storages = self._storages
        helper.steps = self.steps
        return helper

    def sharing_module(self) -> Interpreter:
        """A fresh interpreter for this file that shares its module-level names (imports,
        classes, functions, summaries): to run one of its functions on its own."""
        helper = Interpreter(self.source, collect_names=False, path=self.facts.path)
        helper.globals = self.globals
        helper.functions = self.functions
        helper.class_nodes = self.class_nodes
        helper.star_modules = self.star_modules
        helper.not_from_star_import = self.not_from_star_import
        helper.forward_methods = self.forward_methods
        helper._summaries = self._summaries
        return helper

    def class_value(self, node: ast.ClassDef):
        return module_class(self, node)

    def finish(self) -> Facts:
        facts = self.facts
        for event in self.events.values():
            getattr(facts, FACT_LISTS[type(event)]).append(event)
        if self.collect_names:
            facts.names = [describe.name_state(self.source, *entry) for entry in self.names.values()]
        return facts

    # -- statements ----------------------------------------------------------

    def exec_block(self, body: list[ast.stmt], state: State) -> State | None:
        """Run `body`; the state after it, or None when no path falls through."""
        try:
            for statement in body:
                self.exec_statement(statement, state)
        except (_PathEnded, InPlaceRejected):
            return None
        return state

    def exec_statement(self, node: ast.stmt, state: State) -> None:
        self.steps.take(1)
        function = self.exec_handlers[type(node)]
        if function is not None:
            function(self, node, state)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.eval(child, state)

    def exec_Expr(self, node: ast.Expr, state: State) -> None:
        self.eval(node.value, state)

    def exec_Import(self, node, state: State) -> None:
        for name, value in import_bindings(node):
            if state.outer.get(name) == value:
                state.unbind(name)  # the module's imports have it: a kept state need not
            else:
                state.bind(name, value)

    exec_ImportFrom = exec_Import

    def exec_Assign(self, node: ast.Assign, state: State) -> None:
        value = self.eval(node.value, state)
        for target in node.targets:
            self.assign(target, value, state)

    def exec_AnnAssign(self, node: ast.AnnAssign, state: State) -> None:
        if node.value is not None:
            self.assign(node.target, self.eval(node.value, state), state)

    def exec_AugAssign(self, node: ast.AugAssign, state: State) -> None:
        target_value = self.eval(node.target, state)
        value = self.eval(node.value, state)
        dunder = _INPLACE_OPERATORS.get(type(node.op))
        if isinstance(target_value, Tensor) and dunder is not None:
            spelling = self.text(node)[len(self.text(node.target)) :].lstrip().split(None, 1)[0]
            result = self.inplace(target_value, node.target, spelling, node, state, [value], f"torch.Tensor.{dunder}")
            self.note_accumulation(node, target_value, value, result)
            return
        name = BINARY_DUNDERS.get(type(node.op))
        result = self.binary(name, target_value, value, node, state) if name else UNKNOWN_VALUE
        self.assign(node.target, result, state)
        self.note_accumulation(node, target_value, value, result)

    def note_accumulation(self, node: ast.AugAssign, before, value, result) -> None:
        """`total += loss` in a loop keeps every iteration's graph alive through `total`."""
        if not self.loops or not isinstance(node.op, ast.Add) or not isinstance(node.target, ast.Name):
            return
        if (
            not isinstance(value, Tensor)
            or value.requires_grad is not YES
            or not isinstance(before, (Constant, Tensor))
        ):
            return
        storage = result.storage if isinstance(result, Tensor) else None
        self.emit(node, Accumulation(self.span(node), node, node.target.id, value, storage, self.loops[-1]))

    def assign(self, target: ast.AST, value, state: State) -> None:
        if isinstance(target, ast.Name):
            state.bind(target.id, value)
            if self.collect_names and not self.shapes_only and isinstance(value, Tensor) and value.known:
                self.names[id(target)] = (target, target.id, value, state.saved_by.get(value.storage, frozenset()))
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = value.items if isinstance(value, Sequence) and len(value.items) == len(target.elts) else None
            for index, element in enumerate(target.elts):
                if items is not None:
                    item = items[index]
                elif isinstance(value, Sequence) and value.each is not None:
                    item = value.item(index)
                elif isinstance(value, Constant) and value.value is None:
                    item = Constant()  # `bs, c, h, w = x.shape`: numbers, never tensors
                else:
                    item = UNKNOWN_VALUE
                self.assign(element.value if isinstance(element, ast.Starred) else element, item, state)
        elif isinstance(target, ast.Attribute):
            self.assign_attribute(target, value, state)
        elif isinstance(target, ast.Subscript):
            base = self.eval(target.value, state)
            key = self.eval(target.slice, state)
            path = dotted(target.value)
            if module_dicts.write(self, target.value, key, value, state):
                return  # `clone._parameters[name] = w`
            if isinstance(base, Mapping) and path is not None:
                if isinstance(target.slice, ast.Constant):
                    key = Constant(value=target.slice.value)
                known = isinstance(target.slice, ast.Constant) or (
                    isinstance(key, Constant) and isinstance(key.value, (str, int))
                )
                grown = base.with_entry(key.value, value) if known else base.with_unknown_key(value)
                state.bind(path, grown if grown is not None else UNKNOWN_VALUE)
            elif isinstance(base, Sequence) and path is not None:
                index = key.value if isinstance(key, Constant) and type(key.value) is int else None
                state.bind(path, base.with_slot(index, value))  # `losses[1] += loss`
            elif isinstance(base, Tensor):
                self.inplace(base, target.value, "[...] =", target, state, [value], "torch.Tensor.__setitem__")

    def assign_attribute(self, target: ast.Attribute, value, state: State) -> None:
        if module_dicts.write(self, target, None, value, state):
            return  # `clone.__dict__ = module.__dict__.copy()`, `clone._modules = ...`
        if target.attr == "data":
            self.data_assigned(target, value, state)  # `t.data = other` may change t's dtype
        if target.attr == "requires_grad":
            owner = self.eval(target.value, state)
            flag = value.value if isinstance(value, Constant) and isinstance(value.value, bool) else None
            if isinstance(owner, Tensor):
                flag_tri = Tri.of(flag) if flag is not None else UNKNOWN
                self.emit(
                    target,
                    TensorCall(self.span(target), owner, self.text(target.value), "requires_grad_", target, flag_tri),
                )
                self.set_requires_grad(
                    owner, target.value, Tri.of(flag) if flag is not None else UNKNOWN, target, state
                )
            if not isinstance(owner, Module):
                return
            # A module's own `self.requires_grad = flag` is a plain attribute.
        path = dotted(target)
        if path is not None:
            state.bind(path, value)
        else:
            self.eval(target.value, state)

    def exec_Delete(self, node: ast.Delete, state: State) -> None:
        for target in node.targets:
            # `del d[key]`: which keys the dict has is no longer known.
            path = dotted(target.value if isinstance(target, ast.Subscript) else target)
            if path is not None:
                state.forget(path)

    def exec_Return(self, node: ast.Return, state: State) -> None:
        value = self.eval(node.value, state) if node.value is not None else Constant()
        self.returned.append((value, state.copy()))
        # Run on its own, a forward's result is assumed to be backpropagated; run
        # from a call, the caller shows what happens to it.
        if not self.calls.call_string and self.current_function is not None and self.is_forward(self.current_function):
            returned = value.items if isinstance(value, Sequence) else (value,)
            for item in returned:
                if isinstance(item, Tensor):
                    self.backward(item, node.value, node, state, implicit=True)
        raise _PathEnded

    def exec_Assert(self, node: ast.Assert, state: State) -> None:
        for child in (node.test, node.msg):
            if child is not None:
                self.eval(child, state)
        shape_sources.refine(self, node.test, state)  # `assert x.shape == (B, 3)`: only a pass goes on

    def exec_Raise(self, node, state: State) -> None:
        for child in (node.exc, node.cause):
            if child is not None:
                self.eval(child, state)
        raise _PathEnded

    def exec_Break(self, node, state: State) -> None:
        if self.loop_exits:
            self.loop_exits[-1].append(state.copy())
        raise _PathEnded

    def exec_Continue(self, node, state: State) -> None:
        raise _PathEnded

    def exec_FunctionDef(self, node, state: State) -> None:
        if self.current_function is None:
            if self.functions.get(node.name) is node:
                state.unbind(node.name)  # the module's outer names have it (collect_globals)
            else:
                state.bind(node.name, UserFunction(node.name))
            return
        # A def inside a function: a call of it in this same run of the enclosing
        # function can be followed, seeing the enclosing names (calls.call_nested).
        self.nested_functions[id(node)] = (node, self.current_function, self.calls.call_string)
        state.bind(node.name, UserFunction(node.name, nested=id(node)))

    exec_AsyncFunctionDef = exec_FunctionDef

    def exec_ClassDef(self, node, state: State) -> None:
        if self.class_nodes.get(node.name) is node:
            state.unbind(node.name)  # the module's outer names have it (collect_globals)
        else:
            state.bind(node.name, self.globals.get(node.name, UNKNOWN_VALUE))

    def exec_If(self, node: ast.If, state: State) -> None:
        self.eval(node.test, state)
        if _is_main_guard(node.test):
            self._merge_into(state, self.exec_block(node.body, state.copy()), None)
            return
        truth = known_truth(node.test, state)
        if truth is not None:
            # Only the branch Python takes runs (`if stride == 2:` with stride known).
            self._merge_into(state, self.exec_block(node.body if truth else node.orelse, state.copy()), None)
            return
        body = self.exec_block(node.body, state.copy())
        orelse = self.exec_block(node.orelse, state.copy())
        self._merge_into(state, body, orelse)

    def end_path(self) -> None:
        """No path goes on from here (every one returned or raised)."""
        raise _PathEnded

    def _merge_into(self, state: State, first: State | None, second: State | None) -> None:
        ends = [s for s in (first, second) if s is not None]
        if not ends:
            raise _PathEnded
        joined = ends[0] if len(ends) == 1 else ends[0].join(ends[1])
        state.become(joined)

    def exec_With(self, node: ast.With, state: State) -> None:
        previous = (state.grad_enabled, state.grad_mode_reason, state.grad_mode_known, state.inference_mode)
        for item in node.items:
            value = self.eval(item.context_expr, state)
            if isinstance(value, GradModeContext):
                self.enter_grad_mode(value, item.context_expr, state)
            elif item.optional_vars is not None:
                self.assign(item.optional_vars, UNKNOWN_VALUE, state)
        end = self.exec_block(node.body, state)
        if end is None:
            raise _PathEnded
        state.grad_enabled, state.grad_mode_reason, state.grad_mode_known, state.inference_mode = previous

    exec_AsyncWith = exec_With

    def enter_grad_mode(self, context: GradModeContext, node: ast.AST, state: State) -> None:
        """`with torch.no_grad()` and the like. Inside inference mode, turning grad mode
        back on records no graph all the same; only `inference_mode(False)` leaves it."""
        if context.name == "inference_mode":
            state.inference_mode = context.enabled is NO
        elif state.inference_mode:
            return  # the inference mode's own reason still explains why nothing is recorded
        state.grad_enabled = context.enabled
        state.grad_mode_known = state.grad_mode_known or context.enabled is not UNKNOWN
        state.grad_mode_reason = Reason(self.span(node), f"`with {self.text(node)}`")

    def exec_Try(self, node: ast.Try, state: State) -> None:
        entry = state.copy()
        body = self.exec_block(node.body, state.copy())
        if body is not None and node.orelse:
            body = self.exec_block(node.orelse, body)
        ends = [body] if body is not None else []
        for handler in node.handlers:
            start = entry.join(body) if body is not None else entry.copy()
            if handler.name:
                start.bind(handler.name, UNKNOWN_VALUE)
            end = self.exec_block(handler.body, start)
            if end is not None:
                ends.append(end)
        if not ends:
            if node.finalbody:
                self.exec_block(node.finalbody, entry.copy())
            raise _PathEnded
        joined = ends[0]
        for end in ends[1:]:
            joined = joined.join(end)
        state.become(joined)
        if node.finalbody:
            self._merge_into(state, self.exec_block(node.finalbody, state), None)

    exec_TryStar = exec_Try

    def exec_Match(self, node, state: State) -> None:
        self.eval(node.subject, state)
        ends = [self.exec_block(case.body, state.copy()) for case in node.cases]
        ends.append(state.copy())
        live = [e for e in ends if e is not None]
        joined = live[0]
        for end in live[1:]:
            joined = joined.join(end)
        state.become(joined)

    def exec_Global(self, node, state: State) -> None:
        for name in node.names:
            state.forget(name)

    exec_Nonlocal = exec_Global


def _nested_functions(node: ast.AST):
    """Functions defined directly inside `node`'s body (not inside a deeper def or class).

    Only statement lists are searched: a def cannot hide in an expression, and
    walking every expression node would cost more than parsing the file.
    """
    stack = list(node.body)
    while stack:
        statement = stack.pop()
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield statement
        elif not isinstance(statement, ast.ClassDef):
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                stack.extend(getattr(statement, field, ()))


def _as_assumed(value):
    """An attribute as a method analysed on its own sees it: what `__init__` assigned,
    but another method may have changed a flag since (`self.use_cache = True`), so a
    literal is only known to be some constant, never which (conditions.py)."""
    if isinstance(value, Constant) and (value.value is not None or value.none):
        return Constant(cuts=value.cuts)  # a None may have been replaced too (`self.cache = ...`)
    if isinstance(value, Tensor) and value.never_none:
        return value.but(never_none=False)  # another method may have set it to None
    return value


_STARTS_WITH_GRAD_ON = ("forward", "__init__")


def _starts_with_grad_on(method: ast.FunctionDef, cls) -> bool:
    """A module's `forward` and `__init__` are assumed to run with gradients on, as training
    does; a caller may run any other function under no_grad."""
    return isinstance(cls, ModuleClass) and cls.is_module and method.name in _STARTS_WITH_GRAD_ON


def _is_main_guard(test: ast.AST) -> bool:
    return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"


def analyse(
    tree: ast.Module,
    source: SourceText,
    collect_names: bool = True,
    cache: ScopeCache | None = None,
    path: str | None = None,
    resolver=None,
    recovered_lines: tuple = (),
) -> Facts:
    """Facts about one module. `resolver` (a CrossModule) follows calls into other files;
    `recovered_lines`: the lines syntax recovery changed (ParseResult.recovered_lines)."""
    facts = Interpreter(source, collect_names, cache, path, resolver, recovered_lines).run_module(tree)
    if cache is not None:
        cache.finish_run()
    return facts
