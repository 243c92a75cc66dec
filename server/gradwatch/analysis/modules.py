"""`nn.Module` instances and optimizers: what calling a module returns, what an optimizer trains."""

from __future__ import annotations

import ast
from dataclasses import replace

from gradwatch.analysis import op_table
from gradwatch.analysis.events import OptimizerParams
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import dotted, keyword, literal_true
from gradwatch.analysis.values import (
    NO,
    UNKNOWN,
    UNKNOWN_VALUE,
    YES,
    GradSource,
    Module,
    Optimizer,
    Parameters,
    Sequence,
    Tensor,
)


def module_source(ev, node: ast.Call) -> GradSource:
    return GradSource(f"the parameters of `{ev.text(node)}`", ev.span(node))


def optimizer(ev, node: ast.Call, state: State):
    args = ev.eval_arguments(node, state)
    params_node = node.args[0] if node.args else keyword(node, "params")
    sources: set = set()
    tensors = []
    if params_node is not None:
        # Parameters may come as `m.parameters()`, a list of tensors, list sums,
        # itertools.chain or param-group dicts: look for both anywhere inside.
        for child in ast.walk(params_node):
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in ("parameters", "named_parameters")
            ):
                owner = ev.eval(child.func.value, state)
                if isinstance(owner, Module) and owner.source is not None:
                    sources.add(owner.source)
        if isinstance(params_node, (ast.List, ast.Tuple)) and args and isinstance(args[0], Sequence):
            for item, item_node in zip(args[0].items, params_node.elts):
                if isinstance(item, Tensor):
                    sources |= item.sources
                    tensors.append((item, ev.text(item_node)))
    ev.emit(node, OptimizerParams(ev.span(node), frozenset(sources), tuple(tensors)))
    return Optimizer()


def module_method(ev, module: Module, func: ast.Attribute, node: ast.Call, state: State):
    ev.eval_arguments(node, state)
    if func.attr in ("parameters", "named_parameters"):
        return Parameters(module)
    if func.attr in ("to", "cuda", "cpu", "train", "eval", "double", "float", "half", "type"):
        return module
    if func.attr == "requires_grad_":
        flag = literal_true(node.args[0]) if node.args else YES
        frozen = replace(module, params_require_grad=NO if flag is NO else (YES if flag is YES else UNKNOWN))
        rebind_module(ev, func.value, frozen, state)
        return frozen
    return UNKNOWN_VALUE


def rebind_module(ev, target: ast.AST, module: Module, state: State) -> None:
    path = dotted(target)
    if path is not None:
        state.bind(path, module)


def module_call(ev, module: Module, argument, node: ast.Call, state: State):
    if module.children:
        value = argument
        for child in module.children:
            if child is None:
                return UNKNOWN_VALUE
            value = module_call(ev, child, value, node, state)
        return value
    params_grad = YES if module.has_parameters is YES and module.params_require_grad is YES else None
    if module.user_class is not None or op_table.lookup(module.kind) is None:
        if params_grad is YES and state.grad_enabled is YES:
            # forward() is not followed into: what it does with its input is unknown.
            own = frozenset([module.source]) if module.source else frozenset()
            return Tensor(
                requires_grad=YES,
                is_leaf=NO,
                storage=ev.fresh_storage(node, state),
                sources=own | (argument.sources if isinstance(argument, Tensor) else frozenset()),
                deps=argument.deps if isinstance(argument, Tensor) else frozenset(),
                known=False,
            )
        return UNKNOWN_VALUE
    if module.inplace and isinstance(argument, Tensor) and node.args:
        return ev.inplace(argument, node.args[0], "inplace=True", node, state, [], module.kind, module=module)
    return ev.apply_op(module.kind, [argument], node, state, module=module)
