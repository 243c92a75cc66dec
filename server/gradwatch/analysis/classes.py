"""User-defined `nn.Module` subclasses: which submodules and parameters `__init__` gives them."""

from __future__ import annotations

import ast
import weakref

from gradwatch.analysis import custom_functions, distribution_transforms, generators, records
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import inner_statements
from gradwatch.source import SourceText
from gradwatch.analysis.values import (
    UNKNOWN,
    UNKNOWN_VALUE,
    YES,
    Module,
    ModuleClass,
    Tensor,
    TorchRef,
    Tri,
)


_SEQUENTIAL = ("torch.nn.Sequential", "torch.nn.modules.container.Sequential")


def module_class(interpreter, node: ast.ClassDef):
    """The ModuleClass of a class of this file: what `__init__` assigns to `self`.
    Classes that derive from torch classes other than `nn.Module` stay unknown."""
    bases = [interpreter.eval(b, State(outer=interpreter.globals)) for b in node.bases]
    sequential_base = any(isinstance(b, TorchRef) and b.qualname in _SEQUENTIAL for b in bases)
    is_module = sequential_base or any(
        (isinstance(b, TorchRef) and b.qualname in ("torch.nn.Module", "torch.nn.modules.module.Module"))
        or (isinstance(b, ModuleClass) and b.is_module)
        for b in bases
    )
    assigned = always_assigned(node, bases, interpreter.source)
    call_method = distribution_transforms.call_method(node, bases, interpreter.source.segment(node))
    span = interpreter.span(node)
    if call_method is not None:
        return ModuleClass(node.name, span, False, call_method, assigned, InitAttributes(interpreter, node, []))
    if not is_module and any(isinstance(b, TorchRef) for b in bases):
        # A Dataset, an optimizer: torch defines what it does; an autograd.Function, its `apply`.
        return custom_functions.function_class(node, bases) or UNKNOWN_VALUE
    if is_module:
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "forward":
                interpreter.forward_methods.add(id(item))
    init = InitAttributes(interpreter, node, bases)
    fields = None if is_module else records.record_fields(interpreter, node, bases)
    return ModuleClass(
        node.name, span, is_module, always_assigned=assigned, init=init, sequential_base=sequential_base, fields=fields
    )


class InitAttributes:
    """What `__init__`, run once with unknown arguments, assigns to `self`, and whether that
    gives the class parameters: worked out when first asked for, on an interpreter of its
    own (Interpreter.aside), so what the scope that asks is doing (its grad mode, calls,
    loops) does not leak into it. The file's classes are all bound before the first is
    worked out, so an `__init__` sees the classes and functions defined below it, as it does
    when Python runs it. Asked for after the file's analysis ended (its interpreter gone),
    a class that was never worked out has no attributes known."""

    def __init__(self, interpreter, node: ast.ClassDef, bases: list) -> None:
        # The interpreter by a weak reference: it holds this class among its names, and a run
        # cut short (a newer edit, the budget) must not leave that cycle for the collector.
        self._inputs: tuple | None = (weakref.ref(interpreter), node, bases)
        self.result: tuple | None = None  # (attributes, has_parameters)

    def attributes(self) -> tuple:
        return self.worked_out()[0]

    def has_parameters(self) -> Tri:
        return self.worked_out()[1]

    def replayed(self, result: tuple) -> None:
        """Take the result a run with the same inputs had (the editor's cache)."""
        self.result, self._inputs = result, None

    def worked_out(self) -> tuple:
        if self.result is None:
            interpreter, node, bases = self._inputs
            self.result = ((), UNKNOWN)  # what an `__init__` that builds its own class sees of it
            if interpreter() is None:
                return self.result
            attributes = _init_attributes(interpreter(), node, bases)
            self.result, self._inputs = (attributes, has_parameters(dict(attributes))), None
        return self.result


def always_assigned(node: ast.ClassDef, bases: list, source: SourceText) -> frozenset:
    """The attributes `__init__` assigns to `self` on every path that returns: plain
    assignments among its first statements, up to the first statement that may return
    early. A class without `__init__` has those of its first base of this file."""
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return next((b.always_assigned for b in bases if isinstance(b, ModuleClass)), frozenset())
    if not init.args.args or generators.is_generator(init, source):
        return frozenset()  # a generator `__init__` never runs: instantiating it raises
    self_name = init.args.args[0].arg
    names = set()
    for statement in init.body:
        # A `del` may drop an attribute again.
        if any(isinstance(n, (ast.Return, ast.Delete)) for n in inner_statements(statement)):
            break
        if isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name):
                        if item.value.id == self_name:
                            names.add(item.attr)
    return frozenset(names)


def has_parameters(attributes: dict) -> Tri:
    """YES when a submodule or a leaf tensor that requires grad among the attributes has parameters."""
    flags = [
        value.has_parameters
        if isinstance(value, Module)
        else (YES if isinstance(value, Tensor) and value.requires_grad is YES and value.is_leaf is YES else UNKNOWN)
        for value in attributes.values()
    ]
    return YES if YES in flags else UNKNOWN


def _init_attributes(interpreter, node: ast.ClassDef, bases: list) -> tuple:
    """What `__init__` (run once, with unknown arguments) assigns to `self`, after the
    attributes of the file's own base classes."""
    attributes: dict[str, object] = {}
    for base in bases:
        if isinstance(base, ModuleClass):
            attributes.update(base.attributes)
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is not None and init.args.args:
        self_name = init.args.args[0].arg
        state = State(outer=interpreter.globals)
        for arg in init.args.args[1:] + init.args.kwonlyargs:
            state.bindings[arg.arg] = UNKNOWN_VALUE
        # Its events are dropped with it: __init__ is analysed again as a function, with its events.
        runner = interpreter.aside()
        runner.calls.budget = interpreter.calls.budget  # calls it follows spend the file's budget
        # Submodules from other files (`self.block = Block()`) decide whether it trains.
        runner.follow_other_files = runner.resolver is not None
        runner.exec_block(init.body, state)
        interpreter.calls.budget = runner.calls.budget
        prefix = self_name + "."
        for key, value in state.bindings.items():
            if key.startswith(prefix) and "." not in key[len(prefix) :]:
                attributes[key[len(prefix) :]] = value
    return tuple(attributes.items())
