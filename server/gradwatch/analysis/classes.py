"""User-defined `nn.Module` subclasses: which submodules and parameters `__init__` gives them."""

from __future__ import annotations

import ast

from gradwatch.analysis.state import State
from gradwatch.analysis.values import (
    UNKNOWN,
    UNKNOWN_VALUE,
    YES,
    Constant,
    Module,
    ModuleClass,
    Tensor,
    TorchRef,
)


def module_class(interpreter, node: ast.ClassDef):
    """The ModuleClass of an `nn.Module` subclass: what `__init__` assigns to `self`; unknown otherwise."""
    bases = [interpreter.eval(b, State(outer=interpreter.globals)) for b in node.bases]
    is_module = any(
        (isinstance(b, TorchRef) and b.qualname in ("torch.nn.Module", "torch.nn.modules.module.Module"))
        or isinstance(b, ModuleClass)
        for b in bases
    )
    if not is_module:
        return UNKNOWN_VALUE
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "forward":
            interpreter.forward_methods.add(id(item))
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
        saved_events = dict(interpreter.events)
        following = interpreter.follow_other_files
        # Submodules from other files (`self.block = Block()`) decide whether it trains.
        interpreter.follow_other_files = interpreter.resolver is not None
        interpreter.exec_block(init.body, state)
        interpreter.follow_other_files = following
        interpreter.events = saved_events  # __init__ is analysed again as a function, with its events
        prefix = self_name + "."
        for key, value in state.bindings.items():
            if key.startswith(prefix) and "." not in key[len(prefix) :]:
                attributes[key[len(prefix) :]] = value
    parameter_flags = [
        v.has_parameters
        if isinstance(v, Module)
        else (YES if isinstance(v, Tensor) and v.requires_grad is YES and v.is_leaf is YES else UNKNOWN)
        for v in attributes.values()
        if not isinstance(v, Constant)
    ]
    has_parameters = YES if YES in parameter_flags else UNKNOWN
    return ModuleClass(node.name, tuple(attributes.items()), has_parameters, interpreter.span(node))
