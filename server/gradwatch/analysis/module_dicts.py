"""A module's attribute dicts, as torch keeps them: `__dict__`, `_parameters`, `_modules`.

`nn.Module` stores its parameters in `self._parameters` and its submodules in
`self._modules`; `__getattr__` and `parameters()` read them there. Code that
clones a module by hand (MAML-style meta-learning libraries) works on those
dicts directly:

    clone = module.__new__(type(module))
    clone.__dict__ = module.__dict__.copy()
    clone._parameters = module._parameters.copy()
    clone._parameters["weight"] = module.weight.clone()   # no Parameter: a non-leaf

Writing into `_parameters` skips `__setattr__`'s check, so a module can hold a
computed tensor where its parameter was. The interpreter keeps a module's
submodules and parameters as attributes; this module reads them as those
dicts and writes the dicts back into attributes. A dict is known only when its
keys provably are: a user class whose attributes are all modules or plain
values, a torch module built with literal arguments.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace

from gradwatch.analysis import freezing, op_table
from gradwatch.analysis.syntax import dotted
from gradwatch.analysis.values import (
    UNKNOWN,
    UNKNOWN_VALUE,
    YES,
    Constant,
    Mapping,
    Module,
    ModuleClass,
    Tensor,
    TorchRef,
)

DICTS = ("_parameters", "_modules")
SEQUENTIAL = "torch.nn.Sequential"
# Calls by which a class registers parameters, buffers or submodules the attributes do not show.
REGISTERING = {"register_parameter", "register_buffer", "register_module", "add_module", "setattr", "__setattr__"}


@dataclass(unsafe_hash=True)
class SharedMapping(Mapping):
    """`module._parameters` itself (not a copy): the dict object that module holds."""


@dataclass(unsafe_hash=True)
class InstanceDict:
    """`module.__dict__` (or its `.copy()`): everything the instance holds."""

    module: Module
    copied: bool = False


def read(ev, module: Module, name: str):
    """`module.__dict__`, `module._parameters`, `module._modules`."""
    if name == "__dict__":
        return InstanceDict(module)
    mapping = parameters_of(ev, module) if name == "_parameters" else modules_of(ev, module)
    return UNKNOWN_VALUE if mapping is None else SharedMapping(mapping.entries)


def copy(value):
    """`d.copy()` of a module's dict: a new dict with the same entries."""
    if isinstance(value, InstanceDict):
        return replace(value, copied=True)
    return Mapping(value.entries, value.complete, value.extra)  # a new dict, even of a SharedMapping


def runs_no_iteration(ev, loop: ast.For, state) -> bool:
    """`for key, p in module._parameters.items()` of a module that has none: the body never
    runs (the dict's keys are known, unlike a list's that a call may have filled)."""
    iterable = loop.iter
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) and not iterable.args:
        if iterable.func.attr not in ("items", "values", "keys"):
            return False
        iterable = iterable.func.value
    if not isinstance(iterable, ast.Attribute) or iterable.attr not in DICTS:
        return False
    value = ev.eval(iterable, state)
    return isinstance(value, SharedMapping) and not value.entries


def blank_instance(ev, cls, node: ast.Call):
    """`module.__new__(cls)`: an instance of `cls` on which no `__init__` ran."""
    if isinstance(cls, ModuleClass) and cls.is_module:
        kind, user_class = cls.name, cls
    elif isinstance(cls, TorchRef) and (cls.qualname == SEQUENTIAL or op_table.lookup(cls.qualname) is not None):
        kind, user_class = cls.qualname, None
    else:
        return UNKNOWN_VALUE
    return Module(kind, has_parameters=UNKNOWN, user_class=user_class, built_at=ev.reason(node, f"`{ev.text(node)}`"))


def class_of(value):
    """`type(module)`."""
    if isinstance(value, Module):
        return value.user_class if value.user_class is not None else TorchRef(value.kind)
    return None


def write(ev, target: ast.AST, key, value, state) -> bool:
    """`owner.__dict__ = value` (key None) or `owner._parameters[key] = value` at `target`
    (the attribute): rebind the owner as it is after. False when `target` is no such write."""
    if not isinstance(target, ast.Attribute) or target.attr not in (DICTS if key is not None else ("__dict__", *DICTS)):
        return False
    owner = ev.eval(target.value, state)
    if not isinstance(owner, Module) or dotted(target.value) is None:
        return False
    after = assign(ev, owner, target.attr, value) if key is None else set_item(ev, owner, target.attr, key, value)
    if isinstance(after, Module):
        freezing.bind_module(state, target.value, after)
    else:
        state.bind_expression(target.value, after)
    return True


def assign(ev, owner: Module, name: str, value):
    """`owner.__dict__ = ...`, `owner._parameters = ...`, `owner._modules = ...`: the
    instance after it (UNKNOWN_VALUE when not known)."""
    if name == "__dict__":
        source = value.module if isinstance(value, InstanceDict) else None
        if source is None or not value.copied or source.kind != owner.kind:
            return UNKNOWN_VALUE
        # Everything is copied but the identity; the dicts inside are the same objects.
        return replace(source, built_at=owner.built_at, shared_dicts=frozenset(DICTS))
    if not isinstance(value, Mapping) or not value.complete:
        return UNKNOWN_VALUE
    current = parameters_of(ev, owner) if name == "_parameters" else modules_of(ev, owner)
    if current is None or {k for k, _ in current.entries} != {k for k, _ in value.entries}:
        return UNKNOWN_VALUE  # other keys than the module's own: not followed
    updated = owner
    for key, item in value.entries:
        updated = _set(ev, updated, name, key, item)
        if updated is UNKNOWN_VALUE:
            return UNKNOWN_VALUE
    shared = owner.shared_dicts | {name} if isinstance(value, SharedMapping) else owner.shared_dicts - {name}
    return replace(updated, shared_dicts=frozenset(shared))


def set_item(ev, owner: Module, name: str, key, value):
    """`owner._parameters[key] = value` (or `_modules`): the instance after it."""
    if name in owner.shared_dicts:
        return UNKNOWN_VALUE  # the other instance holding that dict changes too: not followed
    if not isinstance(key, Constant) or not isinstance(key.value, str):
        return UNKNOWN_VALUE
    return _set(ev, owner, name, key.value, value)


def _set(ev, owner: Module, name: str, key: str, value):
    if name == "_modules" and owner.children:
        if not key.isdigit() or int(key) >= len(owner.children) or not isinstance(value, Module):
            return UNKNOWN_VALUE
        children = list(owner.children)
        children[int(key)] = value
        return replace(owner, children=tuple(children))
    if name == "_parameters" and owner.user_class is None:
        own = dict(owner.parameter_storages)
        if key not in own or not isinstance(value, Tensor):
            return UNKNOWN_VALUE
        if value.storage == own[key] and value.is_leaf is YES:
            return owner  # its own parameter put back
    elif owner.user_class is None:
        return UNKNOWN_VALUE  # a torch module's submodules are not followed
    attributes = dict(owner.attributes)
    if attributes.get(key) is value:
        return owner
    attributes[key] = value
    return replace(owner, attributes=tuple(attributes.items()))


def parameters_of(ev, module: Module) -> Mapping | None:
    """`module._parameters` when its keys are known."""
    if module.is_container:
        return Mapping(())
    if module.user_class is None:
        names = _torch_parameter_names(module)
        if names is None:
            return None
        return Mapping(tuple((name, parameter_value(module, name)) for name in names))
    if not _attributes_known(ev, module) or any(isinstance(v, Tensor) for _, v in module.attributes):
        return None
    return Mapping(())


def modules_of(ev, module: Module) -> Mapping | None:
    """`module._modules` when its keys are known."""
    if module.is_container:
        if module.repeated or any(child is None for child in module.children):
            return None
        return Mapping(tuple((str(index), child) for index, child in enumerate(module.children)))
    if module.user_class is None:
        names = _torch_parameter_names(module)
        info = op_table.lookup(module.kind)
        if names is None or any("." in name for name in info.parameter_names):
            return None
        return Mapping(())
    if not _attributes_known(ev, module):
        return None
    return Mapping(tuple((name, value) for name, value in module.attributes if isinstance(value, Module)))


def parameter_values(ev, module: Module, depth: int = 0) -> list | None:
    """Every tensor `module.parameters()` yields, as far as the dicts are known (None: not known)."""
    own = parameters_of(ev, module)
    children = modules_of(ev, module)
    if own is None or children is None or depth > 8:
        return None
    values = [value for _, value in own.entries]
    if not all(isinstance(value, Tensor) for value in values):
        return None
    for _, child in children.entries:
        inner = parameter_values(ev, child, depth + 1)
        if inner is None:
            return None
        values.extend(inner)
    return values


def parameter_value(module: Module, name: str, origin=None):
    """`module.<name>` of a torch module: the tensor written into its `_parameters`, else its
    own parameter (a leaf that requires grad as long as the module's parameters do)."""
    value = module.attribute(name)
    if isinstance(value, Tensor):
        return value
    storage = dict(module.parameter_storages).get(name)
    if storage is None:
        return UNKNOWN_VALUE
    return Tensor(
        requires_grad=module.params_require_grad,
        is_leaf=YES,
        storage=storage,
        sources=frozenset([module.source]) if module.source else frozenset(),
        deps=frozenset([storage]),
        origin=origin,
        never_none=True,
    )


def _torch_parameter_names(module: Module) -> list | None:
    """The names of a torch module's own parameters, when its constructor's arguments are
    all literals that cannot drop one (`bias=False` registers None)."""
    info = op_table.lookup(module.kind)
    if info is None or not module.arguments_known:
        return None
    if any(value is False or value is None for _, value in module.config):
        return None
    names = [name for name in info.parameter_names if "." not in name]
    return names if sorted(names) == sorted(dict(module.parameter_storages)) else None


def _attributes_known(ev, module: Module) -> bool:
    """Whether a user class instance's attributes show all it holds: every one a module or
    a plain value, and no method of its class registers anything by name."""
    if module.has_parameters is UNKNOWN and not module.attributes:
        return False  # made by `__new__`: nothing assigned yet
    if not all(isinstance(value, (Module, Constant, Tensor)) for _, value in module.attributes):
        return False
    classes, names = [], [module.kind]
    while names:
        node = ev.class_nodes.get(names.pop())
        if node is None or len(classes) > 8:
            return False  # a class of another file, or bases not followed
        classes.append(node)
        names.extend(base.id for base in node.bases if isinstance(base, ast.Name) and base.id != "Module")
        if any(not isinstance(base, (ast.Name, ast.Attribute)) for base in node.bases):
            return False
    return not any(
        isinstance(child, ast.Call)
        and (
            (isinstance(child.func, ast.Attribute) and child.func.attr in REGISTERING)
            or (isinstance(child.func, ast.Name) and child.func.id in REGISTERING)
        )
        for node in classes
        for child in ast.walk(node)
    )
