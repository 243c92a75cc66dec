"""Autograd calls and tensor methods: backward, `torch.autograd.grad`, `t.detach()`,
`t.requires_grad_()`, in-place methods, and applying an op from the measured table.

A mixin of the Evaluator (expressions.py), which knows the Python-level spellings.
"""

from __future__ import annotations

import ast

from gradwatch.analysis import conversions, freezing, integer_dtypes, op_table, tensor_ops
from gradwatch.analysis.events import Backward, GradCall, TensorCall
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import keyword, literal_true
from gradwatch.analysis.values import (
    CONSTANT,
    NO,
    UNKNOWN,
    UNKNOWN_TENSOR,
    UNKNOWN_VALUE,
    YES,
    GradSource,
    Module,
    Parameters,
    Reason,
    Sequence,
    Tensor,
    Tri,
    merged_uncertain,
    union_deps,
)

# Conversions that return the tensor itself when it has their dtype already.
_SAME_DTYPE_CONVERSIONS = {"double": "torch.float64", "half": "torch.float16", "bfloat16": "torch.bfloat16"}
# A conversion's only operand is its receiver: a device, a dtype or another tensor
# (`a.to(b)` takes b's dtype and device, not its graph; measured) says where to.
# `.cuda()` and `.cpu()` are `.to(device)`, which the table measured.
_CONVERSION_OPS = {"cuda": "torch.Tensor.to", "cpu": "torch.Tensor.to"}


class TensorMethods:
    def grad_call(self, node: ast.Call, state: State):
        args = self.eval_arguments(node, state)
        outputs_node = keyword(node, "outputs")
        outputs = args[0] if args else (self.eval(outputs_node, state) if outputs_node is not None else UNKNOWN_VALUE)
        inputs_node = node.args[1] if len(node.args) > 1 else keyword(node, "inputs")
        inputs = (
            args[1] if len(args) > 1 else (self.eval(inputs_node, state) if inputs_node is not None else UNKNOWN_VALUE)
        )
        output_values = outputs.items if isinstance(outputs, Sequence) else (outputs,)
        outputs_tensors = tuple(v if isinstance(v, Tensor) else UNKNOWN_TENSOR for v in output_values)
        input_entries = []
        if isinstance(inputs, Sequence) and isinstance(inputs_node, (ast.List, ast.Tuple)):
            for value, item in zip(inputs.items, inputs_node.elts):
                input_entries.append(
                    (value if isinstance(value, Tensor) else UNKNOWN_TENSOR, self.span(item), self.text(item))
                )
        elif isinstance(inputs, Sequence) and inputs.each is None and inputs_node is not None:
            # A list built elsewhere (`inputs = [a, b]`, a parameter): its items, known one by one.
            for index, value in enumerate(inputs.items):
                tensor = value if isinstance(value, Tensor) else UNKNOWN_TENSOR
                input_entries.append((tensor, self.span(inputs_node), f"{self.text(inputs_node)}[{index}]"))
        elif isinstance(inputs, Tensor) and inputs_node is not None:
            input_entries.append((inputs, self.span(inputs_node), self.text(inputs_node)))
        elif isinstance(inputs, Parameters) and inputs_node is not None:
            input_entries.extend(_frozen_parameters(self, inputs, inputs_node))
        clobbered = tensor_ops.clobbered_in(state, [op for t in outputs_tensors for op in t.certain_history])
        allow_unused = literal_true(keyword(node, "allow_unused"))
        if keyword(node, "materialize_grads") is not None:
            allow_unused = UNKNOWN
        self.emit(node, GradCall(self.span(node), outputs_tensors, tuple(input_entries), node, clobbered, allow_unused))
        create_graph = literal_true(keyword(node, "create_graph"))
        each = Tensor(
            requires_grad=create_graph if create_graph is not YES else UNKNOWN, storage=self.storage_for(node)
        )
        return Sequence((), each=each)

    def backward(self, target: Tensor, target_node: ast.AST, node: ast.AST, state: State, implicit: bool = False):
        # What raises is what the graph runs through on every path (freeing, too, is a must-fact).
        clobbered = tensor_ops.clobbered_in(state, target.certain_history)
        # Only what an op kept for its backward is freed: backpropagating again through a graph
        # that kept nothing (`(v + 1).sum()`) works (measured).
        graph = list(target.certain_history)
        # Of several backwards that freed parts of this graph, the first in the source:
        # the same one whatever order the history (a set) is walked in.
        freed_by = _first_freeing(state, graph)
        event = Backward(
            self.span(node),
            target,
            self.text(target_node),
            node,
            implicit=implicit,
            clobbered=clobbered,
            freed_by=freed_by,
            maybe_freed_by=_first_freeing(state, target.uncertain) if freed_by is None else None,
        )
        self.emit(node, event)
        if not implicit and isinstance(node, ast.Call) and self.frees_graph(node):
            for part in graph:
                state.freed[part] = event

    @staticmethod
    def frees_graph(node: ast.Call) -> bool:
        """A backward frees its graph unless retain_graph (or create_graph) may be true."""
        for name in ("retain_graph", "create_graph"):
            value = keyword(node, name)
            if value is not None and literal_true(value) is not NO:
                return False
        return len(node.args) < 3  # positional retain_graph is the third argument of backward

    # -- tensor methods ------------------------------------------------------

    def tensor_method(self, tensor: Tensor, name: str, node: ast.Call, state: State):
        receiver = node.func.value
        args = self.eval_arguments(node, state)
        if name == "backward":
            self.backward(tensor, receiver, node, state)
            return CONSTANT
        if name == "detach":
            return tensor_ops.detach(self, tensor, node)
        if name == "detach_":
            # Detaches the tensor itself; its data is untouched (no version bump).
            detached = tensor_ops.detach(self, tensor, node)
            self.update_aliases(tensor, detached, receiver, state)
            return detached
        if name == "share_memory_":
            return tensor
        if name == "requires_grad_":
            flag = (
                literal_true(node.args[0] if node.args else keyword(node, "requires_grad"))
                if (node.args or node.keywords)
                else YES
            )
            self.emit(node, TensorCall(self.span(node), tensor, self.text(receiver), name, node, flag))
            return self.set_requires_grad(tensor, receiver, flag, node, state)
        if name == "retain_grad":
            self.update_aliases(tensor, tensor.but(retains_grad=True), receiver, state)
            return CONSTANT
        if name == "register_hook":
            return CONSTANT
        if name == "numpy":
            self.emit(node, TensorCall(self.span(node), tensor, self.text(receiver), name, node))
            return CONSTANT  # an array: never a tensor (plain_values.py)
        if integer_dtypes.casts_to_integer(self, name, args, node, state):
            cast = self.apply_op("torch.Tensor.long", [tensor], node, state)
            return cast.but(integer=True) if isinstance(cast, Tensor) else cast
        if integer_dtypes.keeps_integer(name, tensor, args, node):
            # A move of a tensor that cannot require grad: the same dtype, no graph.
            moved = self.apply_op(_CONVERSION_OPS.get(name, f"torch.Tensor.{name}"), [tensor], node, state)
            return moved.but(integer=True) if isinstance(moved, Tensor) else moved
        if name in integer_dtypes.NEW_FACTORIES and tensor.integer and tensor.known:
            integer_dtypes.new_factory(self, node, state)
        if name in _SAME_DTYPE_CONVERSIONS and tensor.dtype == _SAME_DTYPE_CONVERSIONS[name]:
            return tensor  # `.double()` of a float64 tensor is the tensor itself
        if name in ("to", "cpu", "cuda", "type", "float") and tensor.is_leaf is not NO:
            # These return the tensor itself when it already has that device and
            # dtype; only a conversion known to copy makes a new (non-leaf) tensor.
            copies = conversions.copies(name, tensor, args, node)
            result = self.apply_op(_CONVERSION_OPS.get(name, f"torch.Tensor.{name}"), [tensor], node, state)
            # A tensor that does not require grad is a leaf, whichever it is.
            if isinstance(result, Tensor) and not copies and result.requires_grad is not NO:
                return result.but(is_leaf=UNKNOWN)
            return result
        # A non-leaf's `.cpu()` is itself or a differentiable copy: either way it is `.to()`.
        qualname = _CONVERSION_OPS.get(name, f"torch.Tensor.{name}")
        info = op_table.lookup(qualname)
        if name.endswith("_") and not name.endswith("__"):
            out_of_place = info.out_of_place if info is not None and info.out_of_place else name[:-1]
            return self.inplace(tensor, receiver, name, node, state, args, f"torch.Tensor.{out_of_place}")
        if info is None:
            return self.unknown_op([tensor, *args])
        return self.apply_op(qualname, [tensor, *args], node, state)

    def set_requires_grad(self, tensor: Tensor, receiver: ast.AST, flag: Tri, node: ast.AST, state: State):
        source = GradSource(f"`{self.text(receiver)}`", self.span(node), explicit=True)
        changed = tensor.but(
            requires_grad=flag,
            sources=tensor.sources | {source} if flag is YES else tensor.sources,
        )
        self.update_aliases(tensor, changed, receiver, state)
        return changed

    def update_aliases(self, old: Tensor, new: Tensor, target: ast.AST, state: State) -> None:
        """An in-place change is seen through every name that shares the tensor's memory."""
        if old.storage is not None:
            for name, value in list(state.bindings.items()):
                if isinstance(value, Tensor) and value.storage == old.storage and value is not old:
                    state.bindings[name] = value.but(
                        requires_grad=Tri.any_of([value.requires_grad, new.requires_grad])
                        if new.requires_grad is not NO
                        else value.requires_grad,
                        is_leaf=new.is_leaf if value.is_leaf is not NO else NO,
                        history=value.history | new.history,
                        uncertain=merged_uncertain((value, new)),
                        sources=value.sources | new.sources,
                    )
        state.bind_expression(target, new)

    # -- ops -----------------------------------------------------------------

    def unknown_op(self, operands: list):
        return UNKNOWN_TENSOR.but(deps=union_deps(o.deps for o in operands if isinstance(o, Tensor)))

    def apply_op(self, qualname: str, operands: list, node: ast.AST, state: State, module: Module | None = None, **where):
        return tensor_ops.apply_op(self, qualname, operands, node, state, module, **where)

    def inplace(
        self,
        tensor: Tensor,
        target: ast.AST,
        spelling: str,
        node: ast.AST,
        state: State,
        args: list,
        op_name: str,
        module: Module | None = None,
        elsewhere: Reason | None = None,
        **details,
    ):
        rejected = module is None and spelling != "inplace=True" and _leaf_rejects_inplace(tensor, state)
        result = tensor_ops.inplace(
            self, tensor, target, spelling, node, state, args, op_name, module, elsewhere, **details
        )
        if rejected:
            raise InPlaceRejected
        return result


def _frozen_parameters(ev, parameters: Parameters, node: ast.AST) -> list:
    """`autograd.grad(loss, model.parameters())` where a part of the model was frozen: one
    input entry standing for that part's parameters, which do not require grad."""
    part = freezing.frozen_part(parameters.module)
    if part is None:
        return []
    text = ev.text(node)
    if part and text.endswith(".parameters()"):
        text = f"{text[: -len('.parameters()')]}.{part}.parameters()"
    return [(Tensor(requires_grad=NO, is_leaf=YES), ev.span(node), text)]


class InPlaceRejected(Exception):
    """Raised where torch provably raises: an in-place write to a leaf that requires grad
    (or a view of one) while grad mode is on. The path ends there, as at a `raise`."""


def _leaf_rejects_inplace(tensor: Tensor, state: State) -> bool:
    if state.grad_enabled is not YES or not state.grad_mode_known or tensor.through_data or not tensor.known:
        return False
    return tensor.view_of_leaf or (tensor.is_leaf is YES and tensor.requires_grad is YES)


def _first_freeing(state: State, parts) -> Backward | None:
    """Of the backwards that freed any of `parts`, the first in the source."""
    freed = [state.freed[part] for part in parts if part in state.freed]
    return min(freed, key=lambda event: event.span, default=None)
