"""Freezing parameters: `for p in model.parameters(): p.requires_grad = False` and
`model.requires_grad_(False)`.

Both change what every submodule of the model computes: `model.parameters()`
yields the parameters of the model's children too, so freezing the model freezes
each child that it holds (`self.encoder`, the layers of an `nn.Sequential`).
"""

from __future__ import annotations

import ast
from dataclasses import replace

from gradwatch.analysis.syntax import dotted, inner_statements, literal_true
from gradwatch.analysis.values import NO, UNKNOWN, YES, Module, Tensor, Tri

_ENDS_PATH = (ast.Continue, ast.Break, ast.Return, ast.Raise)


def with_parameters_requiring(module: Module, flag: Tri) -> Module:
    """`module` after its parameters, and those of every submodule, had requires_grad set
    to `flag` (UNKNOWN: maybe set). A tensor attribute may be a parameter or a plain
    tensor (which is not frozen): what it requires after a freeze is unknown."""
    children = tuple(with_parameters_requiring(c, flag) if isinstance(c, Module) else c for c in module.children)
    attributes = tuple((name, _frozen_attribute(value, flag)) for name, value in module.attributes)
    return replace(
        module,
        params_require_grad=flag,
        children=children,
        repeated=tuple(with_parameters_requiring(option, flag) for option in module.repeated),
        attributes=attributes,
    )


def _frozen_attribute(value, flag: Tri):
    if isinstance(value, Module):
        return with_parameters_requiring(value, flag)
    if isinstance(value, Tensor) and value.is_leaf is YES and value.requires_grad is not flag:
        return value.but(requires_grad=UNKNOWN)
    return value


def loop_sets_flag(loop: ast.For, parameter: str | None) -> Tri | None:
    """What a loop over parameters sets `requires_grad` of its loop variable `parameter`
    to: the literal when every path through the body sets that same literal, UNKNOWN
    when only some do (or the value is not a literal), None when the body never sets it."""
    flags = [flag for node in ast.walk(loop) for flag in [_flag_set(node, parameter)] if flag is not None]
    if not flags:
        return None
    every_path = _flag_on_every_path(loop.body, parameter)
    if every_path is not None and all(flag is every_path for flag in flags):
        return every_path
    return UNKNOWN


def _flag_on_every_path(body: list[ast.stmt], parameter: str | None) -> Tri | None:
    """The flag the first setter on every path through `body` sets, or None when some
    path may leave the body (or skip the setter) before setting it."""
    for statement in body:
        flag = _flag_set(statement.value if isinstance(statement, ast.Expr) else statement, parameter)
        if flag is not None:
            return flag
        if isinstance(statement, ast.If) and statement.orelse:
            first = _flag_on_every_path(statement.body, parameter)
            if first is not None and first is _flag_on_every_path(statement.orelse, parameter):
                return first
        if any(isinstance(node, _ENDS_PATH) for node in inner_statements(statement)):
            return None
    return None


def _flag_set(node: ast.AST, parameter: str | None) -> Tri | None:
    """The flag `p.requires_grad = flag` or `p.requires_grad_(flag)` sets on `parameter`."""
    if isinstance(node, ast.Assign):
        if any(_names_flag_of(target, "requires_grad", parameter) for target in node.targets):
            return literal_true(node.value)
    elif isinstance(node, ast.Call) and _names_flag_of(node.func, "requires_grad_", parameter):
        return literal_true(node.args[0]) if node.args else YES
    return None


def _names_flag_of(node: ast.AST, attribute: str, parameter: str | None) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == attribute
        and isinstance(node.value, ast.Name)
        and node.value.id == parameter
    )


def loop_parameter(target: ast.AST, named: bool) -> str | None:
    """The name a loop over `parameters()` (or `named_parameters()`) binds each parameter to."""
    if named and isinstance(target, (ast.Tuple, ast.List)) and len(target.elts) == 2:
        target = target.elts[1]
    return target.id if isinstance(target, ast.Name) else None



def parameters_flag(module: Module) -> Tri:
    """Whether every parameter `module.parameters()` yields requires grad: its own flag,
    joined with each submodule that has parameters (one may have been frozen alone)."""
    flag = module.params_require_grad
    for value in module.held:
        if isinstance(value, Module) and value.has_parameters is not NO:
            flag = flag.join(parameters_flag(value))
    return flag


def frozen_part(module: Module) -> str | None:
    """The attribute path (`backbone`, `encoder.layer`; "" for the module itself) of a
    part of `module` whose parameters provably exist and all had requires_grad set
    False: some of what `module.parameters()` yields then does not require grad."""
    if module.has_parameters is YES and parameters_flag(module) is NO:
        return ""
    for name, value in module.attributes:
        if isinstance(value, Module):
            inner = frozen_part(value)
            if inner is not None:
                return f"{name}.{inner}" if inner else name
    return None


def bind_module(state, node: ast.AST, module: Module) -> None:
    """Bind the changed `module` where `node` names it (`self.model.encoder`), and keep the
    module that holds it as an attribute in step (`self.model`'s attribute `encoder`), so
    that running its methods sees the change."""
    path = dotted(node)
    if path is None:
        return
    root = path.split(".", 1)[0]
    before = state.bindings.get(root)
    state.bind(path, module)
    value = module
    while "." in path:
        path, attribute = path.rsplit(".", 1)
        owner = state.bindings.get(path)
        if not isinstance(owner, Module) or not any(name == attribute for name, _ in owner.attributes):
            break
        value = replace(owner, attributes=tuple((n, value if n == attribute else v) for n, v in owner.attributes))
        state.bindings[path] = value
    _update_aliases(state, root, before)


def _update_aliases(state, root: str, before) -> None:
    """Other names of the same instance (`model_train = model.train()`) see the change: a
    module value stands for the one instance its constructor call built."""
    after = state.bindings.get(root)
    if not isinstance(before, Module) or not isinstance(after, Module) or after is before:
        return
    for name, value in list(state.bindings.items()):
        if name != root and "." not in name and value == before:
            state.bindings[name] = after
