"""What applying a torch op does to autograd state, driven by the measured op table."""

from __future__ import annotations

import ast
from dataclasses import replace

from gradwatch.analysis import integer_dtypes, losses, module_shapes, op_table, shape_errors, shapes
from gradwatch.analysis.budget import HISTORY_PER_STEP
from gradwatch.analysis.events import InPlace
from gradwatch.analysis.values import (
    NO,
    UNKNOWN,
    UNKNOWN_TENSOR,
    YES,
    Constant,
    Cut,
    SavedOp,
    Sequence,
    Tensor,
    TorchRef,
    Tri,
    merged_uncertain,
    union_deps,
)
from gradwatch.findings import Span

_FLAG = {YES: True, NO: False, UNKNOWN: None}


def _operands(info, values: list) -> tuple[list[Tensor], list]:
    """The op's tensor operands and their requires-grad flags in the op table's terms.

    Numbers are not operands, except the second operand of a binary op, which
    the table measured separately as a scalar; nor are torch objects (a dtype as
    in `t.type(torch.float32)`, `torch.pi`). Anything unknown may be a tensor.
    """
    tensors: list[Tensor] = []
    flags: list = []
    for index, value in enumerate(_flattened(values)):
        if isinstance(value, (Constant, TorchRef)):
            if index == 1 and info.scalar_other is not None:
                flags.append(op_table.SCALAR)
            continue
        tensor = value if isinstance(value, Tensor) else UNKNOWN_TENSOR
        tensors.append(tensor)
        flags.append(_FLAG[tensor.requires_grad])
    return tensors, flags


def _flattened(values: list) -> list:
    """A list of tensors given to an op (`torch.stack([a, b])`, an LSTM's `(h, c)`)
    counts as its items."""
    flat: list = []
    for value in values:
        if isinstance(value, Sequence):
            flat.extend(value.items)
            if value.each is not None:
                flat.append(value.each)
        else:
            flat.append(value)
    return flat


def apply_op(
    ev,
    qualname: str,
    operands: list,
    node: ast.AST,
    state,
    module=None,
    storage: int | None = None,
    part: tuple = (),
    inplace_true: bool = False,
    index=None,
):
    """The value of `qualname(*operands)`; records what the op saves for backward in `state`.

    `part` tells apart the ops one call runs (the children of an nn.Sequential):
    each gets a result of its own. With `inplace_true`, the op runs with
    `inplace=True`, which saves other tensors than its out-of-place form (the
    table measured both)."""
    info = op_table.lookup(qualname)
    if inplace_true and info is not None and info.inplace_true is not None:
        info = info.inplace_true
    if info is None:
        return ev.unknown_op(operands)
    present, flags = _operands(info, operands)
    input_grad = [t.requires_grad for t in present]
    if module is not None and module.has_parameters is YES:
        input_grad.append(module.params_require_grad)
    upstream = Tri.any_of(input_grad)
    cuts = merged_reasons(t.cuts for t in present) + merged_reasons(o.cuts for o in operands if isinstance(o, Constant))
    deps = union_deps(t.deps for t in present)

    cut_reason = None
    if state.grad_enabled is NO:
        requires = NO
        if upstream is not NO:
            cut_reason = no_grad_cut(ev, node, state, _graph_sources(present, module))
    elif info.grad == "cut":
        requires = NO
        if upstream is YES:
            cut_reason = Cut(
                ev.span(node),
                f"`{ev.text(node)}` is not differentiable: its result has no gradient",
                kind="non_tensor" if info.returns == "non_tensor" else "non_differentiable",
                sources=frozenset().union(*(t.sources for t in present)),
            )
    else:
        requires = upstream if state.grad_enabled is YES else (NO if upstream is NO else UNKNOWN)
    if cut_reason is not None:
        cuts = cuts + (cut_reason,)

    if info.returns == "non_tensor":
        return Constant(cuts=cuts)

    first = present[0] if present else None
    if storage is None:
        storage = (
            first.storage
            if info.aliases_input and first is not None and first.storage is not None
            else ev.storage_for(node, part)
        )
    in_graph = requires is not NO
    history = frozenset().union(*(t.history for t in present)) if in_graph else frozenset()
    uncertain = merged_uncertain(present) if in_graph else frozenset()
    ev.steps.take(len(history) // HISTORY_PER_STEP)
    sources = _graph_sources(present, module) if in_graph else frozenset()
    zero_grads = merged_reasons(t.zero_grads for t in present) if in_graph else ()
    if info.grad == "zero" and requires is YES:
        zero_grads = zero_grads + (
            Cut(
                ev.span(node),
                f"`{ev.text(node)}` has a zero gradient everywhere",
                kind="zero",
                sources=frozenset().union(*(t.sources for t in present)),
            ),
        )
    if requires is YES:
        saved = _record_saved(ev, info, present, flags, storage, node, state, module, part)
        if saved is not None:
            history = history | {saved}
    if module is not None:
        shape = module_shapes.of_module(info, operands, node, module)
    else:
        shape = shapes.of_result(info, operands, node, index)
    if info.numel == "scalar" and _unreduced_loss(node, module):
        shape = losses.shape(module.kind if module is not None else info.name, operands)
    shape_errors.check(ev, info, operands, node, module, part, shape)  # torch may raise for the shapes
    result = Tensor(
        requires_grad=requires,
        is_leaf=NO if requires is YES else (YES if requires is NO else UNKNOWN),
        storage=storage,
        history=history,
        uncertain=uncertain,
        sources=sources,
        cuts=cuts,
        zero_grads=zero_grads,
        deps=union_deps((deps, {storage})),
        origin=ev.reason(node, f"`{ev.text(node)}`"),
        view_of_leaf=bool(info.view and first is not None and _is_leaf_requiring_grad(first)),
        multi_element=_multi_element(info, present, operands, node, module, shape),
        shape=shape,
        known=all(t.known for t in present) or _new_without_graph(info, state),
        never_none=True,
    )
    if info.returns == "tuple":
        if qualname.rsplit(".", 1)[-1] in integer_dtypes.ALWAYS_PAIRED:
            return integer_dtypes.indices_of(ev, qualname, operands, node, state, result)
        items = module_shapes.of_items(module, operands)
        return Sequence((), each=result) if items is None else _items(result, items)
    return integer_dtypes.indices_of(ev, qualname, operands, node, state, result)


def _items(result: Tensor, shapes_of: list) -> Sequence:
    """A tuple result whose items have these shapes (nested lists: nested tuples), each
    otherwise like `result` (an LSTM's `(output, (h_n, c_n))`)."""
    items = []
    for shape in shapes_of:
        if isinstance(shape, list):
            items.append(_items(result, shape))
        else:
            proved = shapes.multi_element(shape)
            items.append(result.but(shape=shape, multi_element=result.multi_element if proved is UNKNOWN else proved))
    return Sequence(tuple(items))


def _graph_sources(present: list[Tensor], module) -> frozenset:
    """The leaves a result would get gradient to when recorded: its operands' sources
    and a module's own parameters (also what a no_grad cut keeps from training)."""
    sources = frozenset().union(*(t.sources for t in present))
    if module is not None and module.source is not None and module.params_require_grad is YES:
        sources = sources | {module.source}
    return sources


def _new_without_graph(info, state) -> bool:
    """A reduction to one element (measured numel "scalar": a sum, a mean, a loss) always
    makes a new tensor; made while grad mode is off, it has no graph, whatever its
    operands were. (Other ops may hand back an operand itself under no_grad, which keeps
    its requires_grad: a view, `nn.Identity`, dropout in eval mode, `.to()`.)"""
    return state.grad_enabled is NO and info.numel == "scalar" and info.returns == "tensor"


def _multi_element(info, present: list[Tensor], operands: list, node, module, shape) -> Tri:
    """Element count from the measured `numel` fact: "same" keeps the operands' broadcast
    size; "scalar" gives one element, trusted only for a call shaped like the measured one
    (tensor arguments alone: `x.sum(0)` is no scalar); a loss asked not to reduce
    has its own count (losses.py). A shape proved by shapes.py decides first."""
    proved = shapes.multi_element(shape)
    if proved is not UNKNOWN:
        return proved
    if info.numel == "same":
        # Only the operands the table measured: `x.sum().to(y)` is no bigger for its `y`.
        measured = present[: info.arity] if info.arity else present
        return Tri.any_of(t.multi_element for t in measured) if measured else UNKNOWN
    if info.numel == "scalar" and _unreduced_loss(node, module):
        return losses.multi_element(module.kind if module is not None else info.name, operands)
    if info.numel == "scalar":
        plain = not isinstance(node, ast.Call) or (
            not node.keywords and not any(isinstance(o, Constant) for o in operands)
        )
        if plain and (module is None or module.default_reduction):
            return NO
    return UNKNOWN


def _unreduced_loss(node, module) -> bool:
    """A loss module built, or a loss function called, with `reduction='none'`."""
    if module is not None:
        return module.unreduced
    return isinstance(node, ast.Call) and losses.unreduced(node)


def _is_leaf_requiring_grad(tensor: Tensor) -> bool:
    return tensor.view_of_leaf or (tensor.is_leaf is YES and tensor.requires_grad is YES)


def merged_reasons(groups) -> tuple:
    """The reasons (cuts, zero gradients) of several values, each once, in order."""
    merged: tuple = ()
    for group in groups:
        merged += tuple(c for c in group if c not in merged)
    return merged


def no_grad_cut(ev, node, state, sources: frozenset) -> Cut:
    where = state.grad_mode_reason
    context = f"{where.text} (line {where.span.line})" if where else "a no-grad context"
    return Cut(
        ev.span(node),
        f"`{ev.text(node)}` ran under {context}, so it recorded no graph",
        # Inference tensors differ: torch refuses to save them for backward later.
        kind="inference_mode" if state.inference_mode else "no_grad",
        sources=sources,
        mode=where,
    )


def data_of(ev, tensor: Tensor, node: ast.Attribute) -> Tensor:
    """`t.data`: the same memory, without history; what is computed from it reaches no
    leaf upstream, so a `.data` read of a tensor that requires grad is a cut."""
    cuts = tensor.cuts
    if tensor.requires_grad is YES:
        reason = f"`{ev.text(node)}` reads the values without their graph"
        cuts = cuts + (Cut(ev.span(node), reason, kind="data", sources=tensor.sources),)
    return tensor.but(
        requires_grad=NO, is_leaf=YES, through_data=True, history=frozenset(), sources=frozenset(), cuts=cuts
    )


def _record_saved(ev, info, tensors, flags, storage, node, state, module, part) -> SavedOp | None:
    definite_inputs, _ = info.saved_operands(flags)
    definite_output, _ = info.saves_output(flags)
    storages: set[int] = set()
    what: list[str] = []
    # An operand whose identity is unknown is saved all the same: the op is still
    # part of the graph a backward frees, though no in-place write can be tied to it.
    saves_unknown = False
    for index in sorted(definite_inputs):
        if index < len(tensors) and tensors[index].storage is not None:
            storages.add(tensors[index].storage)
            what.append(_describe_operand(state, tensors[index].storage))
        elif index < len(tensors):
            saves_unknown = True
            what.append("an input")
    if definite_output:
        storages.add(storage)
        what.append("its output")
    if module is not None and module.parameter_storages and info.saves_parameters(flags)[0]:
        storages |= {storage for _, storage in module.parameter_storages}
        what.append("its parameters")
    # No tensor a later write could reach, but state a backward frees all the same
    # (measured: `x * 3` keeps the 3): the op is part of the graph a backward frees.
    frees_only = not storages and not saves_unknown and info.frees_on_backward(flags)[0]
    if not storages and not saves_unknown and not frees_only:
        return None
    if frees_only:
        what.append("state for its backward")
    name = module.kind.replace("torch.nn.", "nn.") if module is not None else info.name.rsplit(".", 1)[-1]
    # A child of an nn.Sequential is cited where it was built, not at the call that runs them all.
    where = module.built_at if part and module is not None and module.built_at is not None else None
    span, text = (where.span, where.text.strip("`")) if where else (ev.span(node), ev.text(node))
    result = storage if saves_unknown or frees_only else None
    saved = SavedOp(name, span, text, frozenset(storages), " and ".join(what), result=result)
    for s in storages:
        state.saved_by[s] = state.saved_by.get(s, frozenset()) | {saved}
    # A fresh application of the op (say, in the next loop iteration) saved fresh tensors.
    state.clobbered.pop(saved, None)
    state.freed.pop(saved, None)
    return saved


def _describe_operand(state, storage: int) -> str:
    for name, value in state.bindings.items():
        if isinstance(value, Tensor) and value.storage == storage:
            return f"its input `{name}`"
    return "an input"


def detach(ev, tensor: Tensor, node: ast.Call) -> Tensor:
    cuts = tensor.cuts
    if tensor.requires_grad is YES:
        # From the dot to the closing parenthesis (the receiver's span may stop short
        # of a closing parenthesis of its own).
        whole = ev.span(node)
        dot = ev.source.dot_of(node.func)
        removal = Span(dot.line, dot.column, whole.end_line, whole.end_column)
        cuts = cuts + (
            Cut(
                ev.span(node),
                f"`{ev.text(node)}` cut it from the graph",
                kind="detach",
                sources=tensor.sources,
                removal=removal,
            ),
        )
    # detach() shares memory and the version counter with its input.
    return Tensor(
        requires_grad=NO,
        is_leaf=YES,
        storage=tensor.storage,
        cuts=cuts,
        deps=tensor.deps,
        origin=ev.reason(node, f"`{ev.text(node)}`"),
        multi_element=tensor.multi_element,
        shape=tensor.shape,
        integer=tensor.integer,  # the same data, the same dtype
        known=tensor.known,
    )


def inplace(
    ev,
    tensor: Tensor,
    target: ast.AST,
    spelling: str,
    node: ast.AST,
    state,
    args: list,
    op_name: str,
    module=None,
    elsewhere=None,
    *,
    part: tuple = (),
    **details,
):
    """`target` modified in place by `op_name`: bumps its version, clobbering what saved it.

    `target` is None for a tensor without a name (a child's output inside an
    nn.Sequential); `part` and `details` (InPlace's span, subject, condition,
    certain, flag) say which part of the call writes and how to describe it."""
    clobbers = tuple(sorted(state.saved_by.get(tensor.storage, ()), key=saved_op_order)) if tensor.storage else ()
    target_text = ev.text(target) if target is not None else ""
    aliased = tensor.storage is None or any(
        isinstance(value, Tensor) and value.storage == tensor.storage and name != target_text
        for name, value in state.bindings.items()
    )
    grad_enabled = state.grad_enabled if state.grad_mode_known else state.grad_enabled.join(NO)
    details.setdefault("span", ev.span(node))
    details.setdefault("chain", ev.calls.sites)
    event = InPlace(
        target=tensor,
        target_text=target_text,
        spelling=spelling,
        node=node,
        grad_enabled=grad_enabled,
        through_data=tensor.through_data,
        clobbers=clobbers,
        aliased=aliased,
        elsewhere=elsewhere,
        **details,
    )
    ev.emit(node, event, part)
    if tensor.through_data:
        # `.data` does not share the version counter: torch cannot notice, nothing raises.
        return tensor
    for op in clobbers:
        state.clobbered[op] = event
    inplace_name = op_name + "_" if not op_name.endswith("_") and op_table.lookup(op_name + "_") else op_name
    result = apply_op(
        ev,
        inplace_name,
        [tensor, *args],
        node,
        state,
        module=module,
        storage=tensor.storage,
        part=part,
        inplace_true=spelling == "inplace=True",
    )
    if not isinstance(result, Tensor):
        result = UNKNOWN_TENSOR.but(storage=tensor.storage)
    if state.grad_enabled is not YES or result.requires_grad is NO:
        # Under no_grad the tensor keeps its flags; a constant modified by constants stays a leaf.
        result = result.but(
            requires_grad=tensor.requires_grad,
            is_leaf=tensor.is_leaf,
            history=tensor.history | result.history,
            uncertain=merged_uncertain((tensor, result)),
            sources=tensor.sources,
            cuts=_inplace_cuts(tensor, result),
        )
    result = result.but(
        view_of_leaf=tensor.view_of_leaf, origin=tensor.origin, factory=tensor.factory, deps=union_deps((tensor.deps, result.deps))
    )
    short_name = op_name.rsplit(".", 1)[-1]
    if not short_name.startswith(("resize", "set")):
        # Writing in place never changes a tensor's size (resizing ops aside; `unsqueeze_`,
        # `transpose_` reshape it, shapes.RESHAPED_IN_PLACE), nor its dtype.
        reshaped = short_name.rstrip("_") in shapes.RESHAPED_IN_PLACE.values()
        shape = result.shape if reshaped else tensor.shape
        result = result.but(shape=shape, multi_element=tensor.multi_element, integer=tensor.integer)
    ev.update_aliases(tensor, result, target, state)
    return result


def _inplace_cuts(tensor: Tensor, result: Tensor) -> tuple:
    """The cuts of a tensor modified in place under no_grad (`w -= lr * w.grad`): the
    write keeps the tensor's own graph, so it cuts off only the other operands' leaves."""
    added = tuple(
        replace(cut, sources=cut.sources - tensor.sources) for cut in result.cuts if cut not in tensor.cuts
    )
    return tensor.cuts + added


def clobbered_in(state, history) -> tuple:
    """(saved op, the in-place write that modified what it saved) for each op of
    `history` that was clobbered, in source order."""
    ops = sorted({op for op in history if op in state.clobbered}, key=saved_op_order)
    return tuple((op, state.clobbered[op]) for op in ops)


def saved_op_order(op: SavedOp) -> tuple:
    # Every field that can tell two ops apart, so that the order (and so the
    # message naming the first) never depends on set iteration order.
    return (op.span, op.op, op.what, op.call_text, sorted(op.saved))
