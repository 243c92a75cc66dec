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
    Constant,
    UNKNOWN,
    UNKNOWN_VALUE,
    YES,
    GradSource,
    Module,
    Optimizer,
    Parameters,
    Sequence,
    Tensor,
    Tri,
)

# Dropout modules write in place only when they drop something: in training mode, with p > 0.
DROPOUTS = {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}


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


def torch_module(ev, qualname: str, info, node: ast.Call, state: State) -> Module:
    """An instance of a torch module class the op table measured (`nn.Linear(4, 4)`, `nn.ReLU(inplace=True)`)."""
    args = ev.eval_arguments(node, state)
    flag = keyword(node, "inplace")
    inplace = literal_true(flag)
    if inplace is not NO and qualname.rsplit(".", 1)[-1] in DROPOUTS:
        # Dropout writes only with p > 0 (its first argument, 0.5 by default).
        p = args[0] if node.args else (ev.eval(keyword(node, "p"), state) if keyword(node, "p") else Constant(value=0.5))
        if isinstance(p, Constant) and isinstance(p.value, (int, float)):
            inplace = inplace if p.value > 0 else NO
        else:
            inplace = UNKNOWN
    return Module(
        qualname,
        has_parameters=Tri.of(info.has_parameters),
        inplace=inplace,
        default_reduction=keyword(node, "reduction") is None,
        source=module_source(ev, node) if info.has_parameters else None,
        built_at=ev.reason(node, f"`{ev.text(node)}`"),
        inplace_flag=ev.span(flag) if flag is not None else None,
    )


def sequential(ev, node: ast.Call, state: State) -> Module:
    args = ev.eval_arguments(node, state)
    children = tuple(a if isinstance(a, Module) else None for a in args)
    return Module(
        "torch.nn.Sequential",
        has_parameters=Tri.any_of(c.has_parameters if c else UNKNOWN for c in children),
        children=children,
        source=module_source(ev, node),
        built_at=ev.reason(node, f"`{ev.text(node)}`"),
    )


def module_call(ev, module: Module, argument, node: ast.Call, state: State, part: tuple = (), producer=None):
    """The value of calling `module` on `argument` at `node`.

    Children of an nn.Sequential run one after another; each is a `part` of the
    call (its index path) with a result of its own, and `producer` is the child
    whose output the next one receives (None: the call's own argument).
    """
    if module.children:
        value = argument
        for index, child in enumerate(module.children):
            if child is None:
                return UNKNOWN_VALUE
            value = module_call(ev, child, value, node, state, part + (index,), producer)
            producer = _last_leaf(child)
        return value
    params_grad = YES if module.has_parameters is YES and module.params_require_grad is YES else None
    if module.user_class is not None or op_table.lookup(module.kind) is None:
        if params_grad is YES and state.grad_enabled is YES:
            # forward() is not followed into: what it does with its input is unknown.
            own = frozenset([module.source]) if module.source else frozenset()
            return Tensor(
                requires_grad=YES,
                is_leaf=NO,
                storage=ev.fresh_storage(node, state, part),
                sources=own | (argument.sources if isinstance(argument, Tensor) else frozenset()),
                deps=argument.deps if isinstance(argument, Tensor) else frozenset(),
                known=False,
            )
        return UNKNOWN_VALUE
    if module.inplace is not NO and isinstance(argument, Tensor) and node.args:
        return _inplace_call(ev, module, argument, node, state, part, producer)
    return ev.apply_op(module.kind, [argument], node, state, module=module, part=part)


def _inplace_call(ev, module: Module, argument: Tensor, node: ast.Call, state: State, part: tuple, producer):
    details = {"flag": module.inplace_flag, "certain": module.inplace is YES}
    if module.kind.rsplit(".", 1)[-1] in DROPOUTS:
        details["condition"] = "while it is in training mode" + ("" if module.inplace is YES else " with p > 0")
    if part:
        # A child of a Sequential: the write happens at the line that built it.
        if module.built_at is not None:
            details["span"] = module.built_at.span
        if producer is not None and producer.built_at is not None:
            details["subject"] = f"the output of {producer.built_at.text} (line {producer.built_at.span.line})"
        else:
            details["subject"] = f"`{ev.text(node.args[0])}`"
        target = None
    else:
        target = node.args[0]
    return ev.inplace(argument, target, "inplace=True", node, state, [], module.kind, module=module, part=part, **details)


def _last_leaf(module: Module) -> Module:
    while module.children and module.children[-1] is not None:
        module = module.children[-1]
    return module
