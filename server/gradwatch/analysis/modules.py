"""`nn.Module` instances and optimizers: what calling a module returns, what an optimizer trains."""

from __future__ import annotations

import ast
from dataclasses import replace

from gradwatch.analysis import calls, freezing, losses, module_dicts, op_table, records, shapes, tensor_ops
from gradwatch.analysis.events import InPlace, OptimizerParams
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import keyword, literal_true
from gradwatch.analysis.values import (
    NO,
    Constant,
    UNKNOWN,
    UNKNOWN_VALUE,
    YES,
    GradSource,
    Mapping,
    Module,
    ModuleClass,
    Optimizer,
    Parameters,
    Sequence,
    Tensor,
    Tri,
    join_values,
    module_options,
)

# Dropout modules write in place only when they drop something: in training mode, with p > 0.
DROPOUTS = {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}


def module_source(ev, node: ast.Call) -> GradSource:
    return GradSource(f"the parameters of `{ev.text(node)}`", ev.span(node))


def optimizer(ev, node: ast.Call, state: State):
    args = ev.eval_arguments(node, state)
    params_node = node.args[0] if node.args else keyword(node, "params")
    sources: set = set()
    owned_storages: set = set()
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
                if isinstance(owner, Module):
                    sources |= parameter_sources(owner)
                    owned_storages |= parameter_storages(owner)
        if isinstance(params_node, (ast.List, ast.Tuple)) and args and isinstance(args[0], Sequence):
            for item, item_node in zip(args[0].items, params_node.elts):
                if isinstance(item, Tensor):
                    sources |= item.sources
                    tensors.append((item, ev.text(item_node)))
    storages = {t.storage for t, _ in tensors if t.storage is not None} | owned_storages
    ev.emit(node, OptimizerParams(ev.span(node), frozenset(sources), tuple(tensors)))
    return Optimizer(frozenset(storages))


def parameter_sources(module: Module) -> frozenset:
    """Where the parameters of `module` and of every submodule were made: what
    `module.parameters()` hands an optimizer."""
    return frozenset(source for source, _ in _parameters(module))


def parameter_storages(module: Module) -> frozenset[int]:
    return frozenset(storage for _, storage in _parameters(module) if storage is not None)


def _parameters(module: Module):
    """(source, storage) of each parameter of `module` and its submodules; storage None
    where only the source is known."""
    if module.source is not None:
        yield module.source, None
        for _, storage in module.parameter_storages:
            yield module.source, storage
    for value in module.held:
        if isinstance(value, Module):
            yield from _parameters(value)
        elif isinstance(value, Tensor) and value.is_leaf is YES and value.requires_grad is YES:
            for source in value.sources:
                yield source, value.storage


def parameter(ev, module: Module, name: str, node: ast.AST):
    """`linear.weight`: a leaf that requires grad as long as the module's parameters do
    (or the tensor written into its `_parameters`, module_dicts.py)."""
    return module_dicts.parameter_value(module, name, origin=ev.reason(node, f"`{ev.text(node)}`"))


def optimizer_step(ev, optimizer: Optimizer, node: ast.Call, state: State) -> None:
    """`opt.step()` updates its parameters in place: whatever saved them for backward is clobbered."""
    clobbers = sorted(
        {op for storage in optimizer.parameters for op in state.saved_by.get(storage, ())},
        key=tensor_ops.saved_op_order,
    )
    if not clobbers:
        return
    event = InPlace(
        span=ev.span(node),
        target=Tensor(requires_grad=YES, is_leaf=YES),
        target_text="",
        spelling="step()",
        node=node,
        grad_enabled=NO,
        clobbers=tuple(clobbers),
        subject="the parameters it updates",
        chain=ev.calls.sites,
    )
    ev.emit(node, event)
    for op in clobbers:
        state.clobbered[op] = event


def module_method(ev, module: Module, func: ast.Attribute, node: ast.Call, state: State):
    method = calls.method_of(ev, module.kind, func.attr) if module.user_class is not None else None
    if method is not None and func.attr != "__init__":
        # `self.helper(x)`, `model.encode(x)`, `model.forward(x)`: run it on this instance.
        result = calls.call_method(ev, method, node, state, module, func.value)
        if result is not None:
            return result.value
    submodule = module.attribute(func.attr) if method is None else None
    if isinstance(submodule, Module):
        # `mlp.fc1(x)` from outside the instance: its submodule runs.
        return call_instance(ev, submodule, node, state)
    args = ev.eval_arguments(node, state)
    if func.attr == "forward" and method is None and args:
        return module_call(ev, module, args, node, state)  # `seq.forward(x)`: what calling it does
    if func.attr in ("parameters", "named_parameters"):
        return Parameters(module)
    if func.attr == "__new__" and method is None and len(args) == 1 and not node.keywords:
        return module_dicts.blank_instance(ev, args[0], node)
    if func.attr in ("to", "cuda", "cpu", "train", "eval", "double", "float", "half", "type"):
        return module
    if func.attr == "requires_grad_":
        flag = literal_true(node.args[0]) if node.args else YES
        frozen = freezing.with_parameters_requiring(module, flag)
        freezing.bind_module(state, func.value, frozen)
        return frozen
    return UNKNOWN_VALUE


def construct(ev, cls: ModuleClass, node: ast.Call, state: State) -> Module:
    """An instance of a module class of this file. Its attributes come from running
    `__init__` with this call's arguments, when the call can be followed; else from
    `__init__` run once with unknown arguments."""
    instance = Module(
        kind=cls.name,
        has_parameters=cls.has_parameters,
        user_class=cls,
        source=module_source(ev, node) if cls.is_module else None,
        built_at=ev.reason(node, f"`{ev.text(node)}`"),
        attributes=cls.attributes,
    )
    if cls.fields is not None:  # a NamedTuple or dataclass: the call's arguments are its fields
        fields = records.field_values(cls.fields, calls.Arguments.of(ev, node, state))
        return replace(instance, attributes=(*fields, *(item for item in instance.attributes if item[0] not in cls.fields)))
    init = calls.method_of(ev, cls.name, "__init__") if ev.backprop_scope else None
    if init is not None and calls.can_call(ev, init, instance):
        return calls.enter(ev, init, node, state, calls.Arguments.of(ev, node, state), receiver=instance).receiver
    ev.eval_arguments(node, state)
    return instance


def call_instance(ev, module: Module, node: ast.Call, state: State):
    """`model(x)`: a user module runs its `forward` on this instance (a plain object its
    `__call__`); a torch module is an op."""
    forward = _forward_method(ev, module)
    if forward is not None:
        result = calls.call_method(ev, forward, node, state, module, node.func)
        if result is not None:
            return result.value
    args = ev.eval_arguments(node, state)
    return module_call(ev, module, args or [UNKNOWN_VALUE], node, state)


def torch_module(ev, qualname: str, info, node: ast.Call, state: State) -> Module:
    """An instance of a torch module class the op table measured (`nn.Linear(4, 4)`, `nn.ReLU(inplace=True)`)."""
    args = ev.eval_arguments(node, state)
    flag = keyword(node, "inplace")
    # Only inplace=True counts (written so, or a value known to be True where it was
    # passed in, `**params` included): an argument whose value is unknown claims nothing.
    flag_value = ev.eval(flag, state) if flag is not None else _spread_keyword(ev, node, state, "inplace")
    inplace = YES if isinstance(flag_value, Constant) and flag_value.value is True else NO
    if inplace is YES and qualname.rsplit(".", 1)[-1] in DROPOUTS:
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
        default_reduction=losses.default_reduction(node),
        unreduced=losses.unreduced(node),
        source=module_source(ev, node) if info.has_parameters else None,
        built_at=ev.reason(node, f"`{ev.text(node)}`"),
        # Only a literal `True` is turned off by the fix: a name may serve other instances.
        inplace_flag=ev.span(flag) if literal_true(flag) is YES else None,
        config=_literal_arguments(node, args),
        arguments_known=len(_literal_arguments(node, args)) == len(node.args) + len(node.keywords),
        parameter_storages=tuple(
            (name, ev.storage_for(node, ("parameter", name)))
            for name in info.parameter_names
            if "." not in name
        ),
    )


def _spread_keyword(ev, node: ast.Call, state: State, name: str):
    """The value a `**params` of the call passes as `name` (`params = {"inplace": True}`),
    when `params` names a dict whose keys are all known; else None."""
    for spread in (k.value for k in node.keywords if k.arg is None):
        mapping = state.lookup(spread.id) if isinstance(spread, ast.Name) else None
        if not isinstance(mapping, Mapping) or not mapping.complete:
            return None
        value = mapping.get(name)
        if value is not UNKNOWN_VALUE:
            return value
    return None


def _literal_arguments(node: ast.Call, args: list) -> tuple:
    """(position or keyword, value) of a constructor's arguments whose values are known numbers,
    strings, or tuples of them."""
    known = [(i, value) for i, a in enumerate(args) if (value := shapes.literal(a)) is not None]
    return tuple(known + list(shapes.literal_keywords(node).items()))


def sequential(ev, node: ast.Call, state: State) -> Module:
    """`nn.Sequential(a, b)`; `nn.Sequential(*layers)`, where a list grown in a loop gives its
    first items and then any number of layers like the others (`repeated`);
    `nn.Sequential(OrderedDict(...))` of known keys, its values in order."""
    children: list = []
    repeated: tuple = ()
    for argument in node.args:
        value = ev.eval(argument.value if isinstance(argument, ast.Starred) else argument, state)
        spread = _layers_spread(argument, value, len(node.args))
        if repeated:
            children.append(None)  # after any number of layers: unknown
        elif spread is not None:
            children.extend(spread.items)
            if spread.each is not None:
                repeated = module_options(spread.each)
                if not repeated:
                    children.append(None)
        else:
            children.append(None if isinstance(argument, ast.Starred) else value)
    for keyword_argument in node.keywords:
        ev.eval(keyword_argument.value, state)
    children = [child if isinstance(child, Module) else None for child in children]
    # The repeated layers may be none: their parameters are maybe there.
    repeated_parameters = [option.has_parameters.join(NO) for option in repeated]
    return Module(
        "torch.nn.Sequential",
        has_parameters=Tri.any_of([*(c.has_parameters if c else UNKNOWN for c in children), *repeated_parameters]),
        children=tuple(children),
        repeated=repeated,
        source=module_source(ev, node),
        built_at=ev.reason(node, f"`{ev.text(node)}`"),
    )


def _layers_spread(argument: ast.expr, value, count: int) -> Sequence | None:
    """The layers an argument of nn.Sequential hands over one by one: `*layers` of a list or
    tuple, or the values of an OrderedDict given as its only argument, in order."""
    if isinstance(argument, ast.Starred):
        return value if isinstance(value, Sequence) else None
    if isinstance(value, Mapping) and count == 1:
        layers = value.values_in_order()
        return layers if layers.each is not UNKNOWN_VALUE else None  # else other keys may hold anything
    return None


def sequential_base_init(ev, node: ast.Call, state: State):
    """`super().__init__(*layers)` in the `__init__` of a class that derives from nn.Sequential
    (torchvision's MLP, Conv2dNormActivation): the instance holds those layers. None elsewhere."""
    function = ev.current_function
    if function is None or function.name != "__init__" or not function.args.args:
        return None
    self_name = function.args.args[0].arg
    instance = state.bindings.get(self_name)
    if not isinstance(instance, Module) or instance.user_class is None or not instance.user_class.sequential_base:
        return None
    class_node = ev.class_nodes.get(instance.user_class.name)
    if class_node is None or not any(item is function for item in class_node.body):
        return None  # the `__init__` of a subclass: its `super()` is the class, not nn.Sequential
    layers = sequential(ev, node, state)
    state.bind(
        self_name,
        replace(
            instance,
            children=layers.children,
            repeated=layers.repeated,
            has_parameters=Tri.any_of((layers.has_parameters, instance.has_parameters)),
        ),
    )
    return Constant(value=None)


def module_list(ev, node: ast.Call, state: State):
    """`nn.ModuleList(layers)`: indexed, iterated and grown like the list it is built from
    (it cannot be called, so it needs no Module of its own)."""
    args = ev.eval_arguments(node, state)
    if not node.args and not node.keywords:
        return Sequence(())
    return args[0] if args and isinstance(args[0], Sequence) else Sequence((), each=UNKNOWN_VALUE)


def module_call(ev, module: Module, arguments: list, node: ast.Call, state: State, part: tuple = (), producer=None):
    """The value of calling `module` on `arguments` at `node`.

    Children of an nn.Sequential run one after another; each is a `part` of the
    call (its index path) with a result of its own, and `producer` is the child
    whose output the next one receives (None: the call's own argument).
    """
    argument = arguments[0]
    if module.is_container:
        value = argument
        for index, child in enumerate(module.children):
            if child is None:
                return UNKNOWN_VALUE
            value = _child_call(ev, child, value, node, state, part + (index,), producer)
            producer = _last_leaf(child)
        if module.repeated:
            value = _any_number_of_calls(ev, module, value, node, state, part, producer)
        return value
    if module.kind == "torch.nn.Sequential" and module.user_class is None:
        return argument  # `nn.Sequential()` holds no layer: it returns its input itself
    params_grad = YES if module.has_parameters is YES and module.params_require_grad is YES else None
    if module.user_class is not None or op_table.lookup(module.kind) is None:
        if params_grad is YES and state.grad_enabled is YES:
            # forward() is not followed into: what it does with its input is unknown.
            own = frozenset([module.source]) if module.source else frozenset()
            return Tensor(
                requires_grad=YES,
                is_leaf=NO,
                storage=ev.storage_for(node, part),
                sources=own | (argument.sources if isinstance(argument, Tensor) else frozenset()),
                deps=argument.deps if isinstance(argument, Tensor) else frozenset(),
                known=False,
            )
        return UNKNOWN_VALUE
    if module.inplace is not NO and isinstance(argument, Tensor) and node.args:
        return _inplace_call(ev, module, argument, node, state, part, producer)
    # The extra tensor inputs (an RNN's hidden state) are operands too.
    return ev.apply_op(module.kind, list(arguments), node, state, module=module, part=part)


def _child_call(ev, child: Module, value, node: ast.Call, state: State, part: tuple, producer):
    """One child of an nn.Sequential, given the previous child's output."""
    forward = _forward_method(ev, child)
    if forward is not None:
        arguments = calls.Arguments(positional=(value,))
        result = calls.call(ev, forward, node, state, arguments, receiver=child, part=part)
        if result is not None:
            return result.value
    return module_call(ev, child, [value], node, state, part, producer)


def _any_number_of_calls(ev, module: Module, value, node: ast.Call, state: State, part: tuple, producer):
    """The layers a Sequential holds after its known children, run on `value`: any number
    of them (maybe none), each one of `module.repeated`. One run of each, joined with none:
    what every run keeps of its input stays certain, what a run adds or modifies is only
    possible."""
    before = state.copy()
    result, after = value, before
    for index, option in enumerate(module.repeated):
        run = before.copy()
        once = _child_call(ev, option, value, node, run, part + (len(module.children) + index,), producer)
        result, after = join_values(result, once), after.join(run)
    state.become(after)
    return result


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


def _forward_method(ev, instance: Module):
    """What calling an instance of a class of this file runs (`forward`, or a plain
    object's `__call__`), when calls are followed here."""
    if instance.user_class is None or not ev.backprop_scope:
        return None
    cls = instance.user_class
    return calls.method_of(ev, instance.kind, "forward" if cls.is_module else cls.call_method)


def _last_leaf(module: Module) -> Module:
    while module.children and module.children[-1] is not None and not module.repeated:
        module = module.children[-1]
    return module
