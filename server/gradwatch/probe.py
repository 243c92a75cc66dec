"""Measure autograd facts about torch ops by running them: `gradwatch probe [--output PATH]`.

The static analyser must not guess which ops save which tensors for
backward; it reads a table produced here by running the installed torch.
For each op a small argument template is tried until one runs, then:

- grad: "differentiable", "zero" (graph exists, gradient is all zero) or
  "cut" (no graph, integer/bool result, or a non-tensor result);
- saves_input / saves_output: for every choice of which operands require
  grad, bump the version counter of one operand (or of the output) after the
  call and see whether backward then raises "modified by an inplace
  operation". Bumping the counter is exactly what any in-place write does, and
  `increment_version` also works on tensors that cannot be written in place
  (expanded views, integer indices);
- view: whether the result shares storage with operand 0;
- parameters / saves_parameters (modules with parameters): the names of the
  module's own parameters, and the configurations in which bumping their
  versions after the call (what `optimizer.step()` does) breaks backward;
- numel: "same" (the result has as many elements as the broadcast of the
  tensor operands) or "scalar" (one element), when both hold with the
  template's operands and again with every operand grown (GROWN_SHAPES);
  absent otherwise;
- keeps_shape: the result's shape is the broadcast of the tensor operands'
  shapes, measured the same way (elementwise ops, softmax; not transposes);
- second_backward: the configurations in which a second backward through the
  graph of the op alone raises "backward through the graph a second time": the
  op keeps state for backward that the first backward frees. That holds for
  ops that save a tensor, and also for ops that save none the version counter
  can reach (`x * 3` and `x / 3` keep the Python number as a tensor).

This is the only gradwatch module that imports torch. Output is JSON with
sorted keys: the same torch gives byte-identical output.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import math
import operator
import os
import re
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.graph import increment_version

from gradwatch.probe_templates import (
    GENERIC_MODULE_CALLS,
    GENERIC_TEMPLATES,
    INPLACE_DUNDERS,
    MODULE_OVERRIDES,
    OPERATOR_DUNDERS,
    OVERRIDES,
    SCALAR_TEMPLATE,
    TENSOR_PROPERTIES,
    skipped,
)

FORMAT_VERSION = 1
PER_OP_BUDGET_SECONDS = 20.0
INPLACE_ERROR = "modified by an inplace operation"
SECOND_BACKWARD_ERROR = "backward through the graph a second time"


# ---------------------------------------------------------------- operands

@dataclass(frozen=True)
class Kind:
    shape: tuple[int, ...]
    fill: str  # signed | prob | positive | spd | zeros | ones | index | mask | sign
    differentiable: bool  # may require grad in a configuration


# Operand names usable in templates. An identifier in a template that names a
# kind is an operand; operands are numbered in order of first appearance.
KINDS: dict[str, Kind] = {
    "a": Kind((2, 3), "signed", True),
    "b": Kind((2, 3), "signed", True),
    "c": Kind((2, 3), "signed", True),
    "m": Kind((3, 3), "signed", True),
    "n": Kind((3, 3), "signed", True),
    "v": Kind((3,), "signed", True),
    "w": Kind((3,), "signed", True),
    "s": Kind((), "signed", True),
    "one": Kind((1,), "signed", True),
    "p": Kind((2, 3), "prob", True),
    "q": Kind((2, 3), "prob", True),
    "pos": Kind((2, 3), "positive", True),
    "spd": Kind((3, 3), "spd", True),
    "bm": Kind((2, 3, 3), "signed", True),
    "bn": Kind((2, 3, 3), "signed", True),
    "bo": Kind((2, 3, 3), "signed", True),
    "x4": Kind((2, 4), "signed", True),
    "y4": Kind((2, 4), "signed", True),
    "z4": Kind((2, 4), "signed", True),
    "seq": Kind((1, 2, 4), "signed", True),
    "img": Kind((1, 2, 4, 4), "signed", True),
    "img4": Kind((1, 4, 2, 2), "signed", True),
    "vol": Kind((1, 2, 4, 4, 4), "signed", True),
    "fin": Kind((1, 4, 4), "signed", True),
    "grid": Kind((1, 4, 4, 2), "signed", True),
    "theta": Kind((1, 2, 3), "signed", True),
    "k1": Kind((2, 2, 3), "signed", True),
    "k2": Kind((2, 2, 3, 3), "signed", True),
    "k3": Kind((2, 2, 3, 3, 3), "signed", True),
    "g2": Kind((2,), "positive", True),
    "bias": Kind((2,), "signed", True),
    "rm": Kind((2,), "zeros", False),
    "rv": Kind((2,), "ones", False),
    "sgn": Kind((3,), "sign", False),
    "sgn2": Kind((2,), "sign", False),
    "idx": Kind((2, 3), "index", False),
    "ix": Kind((2,), "index", False),
    "cls": Kind((2,), "index", False),
    "mask": Kind((2, 3), "mask", False),
    "flag": Kind((2, 3), "mask", False),
}

# Second shapes for the numel measurement. Every dimension above 1 changes,
# squares become non-square (so `mm(m, n)` or `inverse` do not pass as
# "same" by coincidence), and operands that broadcast together still do
# (a, v, sgn; a, cls for the losses). Index operands stay small or keep their
# values below the original last dimension, so they index a grown tensor
# validly; idx keeps its shape so that gather/take results (shaped like the
# index) do not match the input's size by coincidence.
GROWN_SHAPES: dict[str, tuple[int, ...]] = {
    **{name: (5, 4) for name in ("a", "b", "c", "p", "q", "pos", "mask", "flag")},
    "m": (6, 4), "n": (6, 4), "spd": (5, 5),
    "v": (4,), "w": (4,), "sgn": (4,), "s": (), "one": (1,),
    "bm": (3, 5, 4), "bn": (3, 5, 4), "bo": (3, 5, 6),
    "x4": (3, 6), "y4": (3, 6), "z4": (3, 6),
    "seq": (1, 3, 7), "img": (1, 3, 6, 5), "img4": (1, 8, 4, 3), "vol": (1, 3, 5, 6, 7),
    "fin": (1, 8, 6), "grid": (1, 3, 5, 2), "theta": (2, 2, 3),
    "k1": (3, 3, 2), "k2": (3, 3, 2, 2), "k3": (3, 3, 2, 2, 2),
    "g2": (3,), "bias": (3,), "rm": (3,), "rv": (3,), "sgn2": (5,),
    "idx": (2, 3), "ix": (2,), "cls": (5,),
}
assert GROWN_SHAPES.keys() == KINDS.keys(), "every operand kind needs a grown shape"

def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "scalar"


KIND_LEGEND = {
    name: f"{_shape_text(kind.shape)} {kind.fill}"
    + ("" if kind.differentiable else " (never requires grad)")
    + f", grown {_shape_text(GROWN_SHAPES[name])}"
    for name, kind in KINDS.items()
}


def make_operand(kind_name: str, position: int, grown: bool = False) -> torch.Tensor:
    """Deterministic values, distinct per position, kept away from 0 so that
    relu/abs/sign have a well-defined non-zero gradient. `grown`: the kind's
    GROWN_SHAPES shape, same kind of values."""
    kind = KINDS[kind_name]
    shape = GROWN_SHAPES[kind_name] if grown else kind.shape
    count = math.prod(shape)
    steps = torch.arange(count, dtype=torch.float64)
    frac = (steps * 0.6180339887 + 0.2 + 0.31 * position) % 1.0
    if kind.fill == "index":
        # Valid along any dimension of the shapes above: row indices < 2, column indices < 3.
        return (torch.arange(count) % kind.shape[-1]).reshape(shape)
    if kind.fill == "mask":
        return ((torch.arange(count) + position) % 2 == 0).reshape(shape)
    if kind.fill == "sign":
        values = torch.where(torch.arange(count) % 2 == 0, 1.0, -1.0).double()
    elif kind.fill == "prob":
        values = 0.1 + 0.8 * frac
    elif kind.fill == "positive":
        values = 0.5 + frac
    elif kind.fill == "zeros":
        values = torch.zeros(count, dtype=torch.float64)
    elif kind.fill == "ones":
        values = torch.ones(count, dtype=torch.float64)
    else:
        centered = (frac - 0.5) * 1.6
        values = centered + 0.05 * torch.sign(centered)
    values = values.reshape(shape)
    if kind.fill == "spd":
        values = values @ values.T + 3 * torch.eye(shape[0], dtype=torch.float64)
    return values.to(torch.float32)


_STRING_LITERAL = re.compile(r"'[^']*'")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?!\s*=[^=])")


def operand_names(expression: str) -> tuple[str, ...]:
    names: list[str] = []
    for name in _IDENTIFIER.findall(_STRING_LITERAL.sub("", expression)):
        if name in KINDS and name not in names:
            names.append(name)
    return tuple(names)


# ------------------------------------------------------------- measurement

@dataclass(frozen=True)
class Plan:
    """One way to call an op: operands (kind names, in operand order) and a
    runner that takes the operand tensors and returns (result, parameters)."""

    label: str
    operands: tuple[str, ...]
    run: Callable[[dict[str, torch.Tensor]], tuple[object, list[torch.Tensor]]]
    inplace: bool = False
    parameter_names: tuple[str, ...] = ()  # a module's own parameters, in `parameters()` order

    def differentiable_operands(self) -> list[int]:
        return [i for i, name in enumerate(self.operands) if KINDS[name].differentiable]


def function_plan(fn: Callable, expression: str, inplace: bool) -> Plan:
    code = compile(expression, "<template>", "eval")

    def run(env):
        result = eval(code, {"fn": fn, "torch": torch, **env})  # noqa: S307 - our own templates
        if result is NotImplemented:  # a dunder's way of saying the operand types do not fit
            raise TypeError("NotImplemented")
        return result, []

    return Plan(expression[2:], operand_names(expression), run, inplace)


def module_plan(constructor: str, call: str) -> Plan:
    make = compile(constructor, "<constructor>", "eval")
    code = compile(call, "<call>", "eval")

    def build():
        torch.manual_seed(0)
        return eval(make, {"nn": nn, "torch": torch})  # noqa: S307 - our own templates

    def run(env):
        module = build()
        result = eval(code, {"mod": module, **env})  # noqa: S307
        return result, list(module.parameters())

    try:
        names = tuple(name for name, _ in build().named_parameters())
    except Exception:  # noqa: BLE001 - a template that does not build is never chosen
        names = ()
    return Plan(constructor + call[3:], operand_names(call), run, parameter_names=names)


@dataclass
class Run:
    operands: list[torch.Tensor]
    result: object
    outputs: list[torch.Tensor]
    leaves: list[torch.Tensor]
    parameters: list[torch.Tensor]


def execute(plan: Plan, config: frozenset[int]) -> Run:
    env: dict[str, torch.Tensor] = {}
    leaves = []
    for position, name in enumerate(plan.operands):
        tensor = make_operand(name, position)
        if position in config:
            tensor.requires_grad_(True)
            leaves.append(tensor)
            tensor = tensor.clone()  # a non-leaf, so in-place ops on it are legal
        env[name] = tensor
    torch.manual_seed(0)  # dropout and friends: same mask every run
    result, parameters = plan.run(env)
    operands = [env[name] for name in plan.operands]
    outputs = tensors_in(result)
    if result is None and plan.inplace and operands:
        outputs = [operands[0]]  # __setitem__ returns None; its output is the target
    return Run(operands, result, outputs, leaves + parameters, parameters)


def tensors_in(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    return []


def backward(outputs: list[torch.Tensor]) -> bool:
    """Backpropagate ones from every output in the graph; False if none is."""
    roots = [t for t in outputs if t.requires_grad and (t.is_floating_point() or t.is_complex())]
    if not roots:
        return False
    torch.autograd.backward(roots, [cotangent(t) for t in roots])
    return True


def cotangent(output: torch.Tensor) -> torch.Tensor:
    """Non-uniform gradient to backpropagate: with all-ones, ops whose output
    sums to a constant (softmax, layer_norm) would look like zero gradient."""
    steps = torch.arange(output.numel(), dtype=torch.float64)
    values = 0.3 + (steps * 0.7548776662 + 0.1) % 1.0
    return values.reshape(output.shape).to(output.dtype)


def breaks_backward(plan: Plan, config: frozenset[int], target: int | str | None) -> bool:
    """Does an in-place write to operand `target` (None: the output; "parameters":
    every parameter of a module, as `optimizer.step()` does) after the call make
    backward raise the in-place error?"""
    try:
        run = execute(plan, config)
        if target == "parameters":
            victims = run.parameters
        else:
            victims = [run.outputs[0] if target is None else run.operands[target]]
        for victim in victims:
            increment_version(victim)
        backward(run.outputs)
    except Exception as error:  # noqa: BLE001 - only the in-place error counts as "saved"
        return INPLACE_ERROR in str(error)
    return False


def second_backward_raises(plan: Plan, config: frozenset[int]) -> bool:
    """After one backward (which frees the graph), does a second backward through the
    same outputs raise? The operands' own graph (a clone of a leaf) keeps nothing."""
    try:
        run = execute(plan, config)
        if not backward(run.outputs):
            return False
        backward(run.outputs)
    except Exception as error:  # noqa: BLE001 - only the second-backward error counts
        return SECOND_BACKWARD_ERROR in str(error)
    return False


def graph_runs(plan: Plan, config: frozenset[int]) -> bool:
    try:
        return backward(execute(plan, config).outputs)
    except Exception:  # noqa: BLE001 - this configuration cannot be measured
        return False


def measure(plan: Plan, always_in_graph: bool) -> dict:
    """All facts for one plan. Raises if the plan runs in no configuration."""
    differentiable = plan.differentiable_operands()
    configs = [frozenset(c) for size in range(1, len(differentiable) + 1)
               for c in itertools.combinations(differentiable, size)]
    if always_in_graph or not configs:
        configs.insert(0, frozenset())
    # Facts other than saving are read from the largest configuration that
    # runs: some ops refuse a target that requires grad (soft_margin_loss).
    run, error = None, None
    for config in sorted(configs, key=len, reverse=True):
        try:
            run = execute(plan, config)
            break
        except Exception as failure:  # noqa: BLE001
            error = failure
    if run is None:
        raise error
    record: dict = {"args": plan.label, "arity": len(plan.operands), "differentiable_operands": differentiable}
    if isinstance(run.result, (tuple, list)) and run.outputs:
        record["returns"] = "tuple"
    elif isinstance(run.result, torch.Tensor) or (run.result is None and run.outputs):
        record["returns"] = "tensor"
    else:
        record["returns"] = "non_tensor"
    first = run.outputs[0] if run.outputs else None
    base = run.operands[0] if run.operands else None
    record["returns_self"] = first is not None and first is base
    record["view"] = bool(
        first is not None and base is not None and first is not base and first.numel() and base.numel()
        and first.untyped_storage().data_ptr() == base.untyped_storage().data_ptr()
    )
    if record["returns"] == "tensor":
        numel, keeps_shape = size_relations(plan)
        if numel is not None:
            record["numel"] = numel
        if keeps_shape:
            record["keeps_shape"] = True
    record["grad"] = classify_gradient(run)
    if record["grad"].startswith("backward_error:"):
        # In the graph, but backward raises: a fact the analyser can report.
        record["backward_error"] = record["grad"].split(":", 1)[1]
        record["grad"] = "differentiable"
    saves_input: dict[str, list[list[int]]] = {}
    saves_output: list[list[int]] = []
    saves_parameters: list[list[int]] = []
    second_backward: list[list[int]] = []
    for config in configs:
        if not graph_runs(plan, config):
            continue
        if second_backward_raises(plan, config):
            second_backward.append(sorted(config))
        for position in range(len(plan.operands)):
            if breaks_backward(plan, config, position):
                saves_input.setdefault(str(position), []).append(sorted(config))
        if breaks_backward(plan, config, None):
            saves_output.append(sorted(config))
        if plan.parameter_names and breaks_backward(plan, config, "parameters"):
            saves_parameters.append(sorted(config))
    record["saves_input"] = saves_input
    record["saves_output"] = saves_output
    record["second_backward"] = second_backward
    if plan.parameter_names:
        record["parameters"] = list(plan.parameter_names)
        record["saves_parameters"] = saves_parameters
    return record


def numel_relation(plan: Plan) -> str | None:
    """"same", "scalar" or None (see the module docstring)."""
    return size_relations(plan)[0]


def size_relations(plan: Plan) -> tuple[str | None, bool]:
    """The numel relation and whether the result keeps the broadcast shape (see the
    module docstring). Operands do not require grad here: only sizes are read."""
    observed = []
    for grown in (False, True):
        env = {name: make_operand(name, i, grown) for i, name in enumerate(plan.operands)}
        try:
            torch.manual_seed(0)
            result, _ = plan.run(env)
        except Exception:  # noqa: BLE001 - does not run at this size: no claim
            return None, False
        if result is None and plan.inplace and plan.operands:
            result = env[plan.operands[0]]
        if not isinstance(result, torch.Tensor):
            return None, False
        shapes = [env[name].shape for name in plan.operands]
        try:
            broadcast_shape = tuple(torch.broadcast_shapes(*shapes))
            broadcast = math.prod(broadcast_shape)
        except RuntimeError:
            broadcast_shape = broadcast = None
        kept = tuple(result.shape) == broadcast_shape
        observed.append((result.numel(), broadcast, sum(math.prod(shape) for shape in shapes), kept))
    (small_out, small_broadcast, small_size, small_kept), (big_out, big_broadcast, big_size, big_kept) = observed
    if small_size == big_size:
        return None, False  # only 0-d or size-1 operands: the input size never changed
    if small_out == 1 and big_out == 1:
        return "scalar", False
    if not _follows_every_operand(plan):
        return None, False
    keeps_shape = small_kept and big_kept and _keeps_shape_with_a_unit_dimension(plan)
    if small_out == small_broadcast and big_out == big_broadcast:
        return "same", keeps_shape
    return None, keeps_shape


def _keeps_shape_with_a_unit_dimension(plan: Plan) -> bool:
    """Does the result still have the broadcast shape when every operand of two or more
    dimensions gets a size-1 dimension in the middle? `squeeze()` and `nn.Flatten()` keep
    the shape of a matrix, not of (5, 1, 4)."""
    env = {name: t.unsqueeze(1).clone() if t.dim() >= 2 else t for name, t in _grown(plan).items()}
    return _has_broadcast_shape(plan, env) is True


def _follows_every_operand(plan: Plan) -> bool:
    """With one operand shrunk to size 1 in every dimension (and the others grown),
    does the result still have the broadcast shape whenever the op runs? `a.type_as(b)`
    has b's size only when b is as large as a: its result follows a alone."""
    if len(plan.operands) < 2:
        return True
    for shrunk in plan.operands:
        env = _grown(plan)
        env[shrunk] = env[shrunk][(slice(0, 1),) * env[shrunk].dim()].clone()
        if _has_broadcast_shape(plan, env) is False:
            return False
    return True


def _grown(plan: Plan) -> dict:
    return {name: make_operand(name, i, grown=True) for i, name in enumerate(plan.operands)}


def _has_broadcast_shape(plan: Plan, env: dict) -> bool | None:
    """Whether the op's tensor result on `env` has the broadcast shape of the operands;
    None when it does not run there or gives no tensor (no evidence either way)."""
    try:
        torch.manual_seed(0)
        result, _ = plan.run(env)
        expected = tuple(torch.broadcast_shapes(*(env[name].shape for name in plan.operands)))
    except Exception:  # noqa: BLE001 - does not run on these operands
        return None
    if result is None and plan.inplace and plan.operands:
        result = env[plan.operands[0]]
    return tuple(result.shape) == expected if isinstance(result, torch.Tensor) else None
    for shrunk in range(len(plan.operands)):
        env = {name: make_operand(name, i, grown=True) for i, name in enumerate(plan.operands)}
        small = env[plan.operands[shrunk]]
        env[plan.operands[shrunk]] = small[(slice(0, 1),) * small.dim()].clone()
        try:
            torch.manual_seed(0)
            result, _ = plan.run(env)
            expected = tuple(torch.broadcast_shapes(*(env[name].shape for name in plan.operands)))
        except Exception:  # noqa: BLE001 - does not run with this operand shrunk: no evidence
            continue
        if result is None and plan.inplace:
            result = env[plan.operands[0]]
        if isinstance(result, torch.Tensor) and tuple(result.shape) != expected:
            return False
    return True


def classify_gradient(run: Run) -> str:
    first = run.outputs[0] if run.outputs else None
    if first is None or not (first.is_floating_point() or first.is_complex()) or not first.requires_grad:
        return "cut"
    try:
        backward(run.outputs)
    except RuntimeError as error:
        message = str(error)
        if INPLACE_ERROR in message:
            return "backward_error:inplace_modified"
        return "backward_error:" + ("not_implemented" if "not implemented" in message else "other")
    grads = [leaf.grad for leaf in run.leaves]
    if all(grad is None or bool((grad == 0).all()) for grad in grads):
        return "zero"
    return "differentiable"


def first_that_runs(plans: list[Plan], always_in_graph: Callable[[Plan], bool]) -> dict | None:
    for plan in plans:
        try:
            return measure(plan, always_in_graph(plan))
        except Exception:  # noqa: BLE001 - any failure means: try the next template
            continue
    return None


# ----------------------------------------------------------------- targets

@dataclass(frozen=True)
class Target:
    qualname: str
    short: str
    namespace: str  # method | property | function | module
    obj: object


def enumerate_targets() -> list[Target]:
    targets: list[Target] = []
    for name in sorted(dir(torch.Tensor)):
        obj = getattr(torch.Tensor, name, None)
        public = not name.startswith("_") and callable(obj) and not skipped(name)
        if public or name in OPERATOR_DUNDERS or name in INPLACE_DUNDERS:
            targets.append(Target(f"torch.Tensor.{name}", name, "method", obj))
    for name in TENSOR_PROPERTIES:
        targets.append(Target(f"torch.Tensor.{name}", name, "property", operator.attrgetter(name)))
    for prefix, namespace in (("torch", torch), ("torch.nn.functional", F), ("torch.linalg", torch.linalg)):
        for name in sorted(dir(namespace)):
            obj = getattr(namespace, name, None)
            if (name.startswith("_") or skipped(name) or not callable(obj) or inspect.isclass(obj)
                    or inspect.ismodule(obj)):
                continue
            targets.append(Target(f"{prefix}.{name}", name, "function", obj))
    for name in sorted(dir(nn)):
        obj = getattr(nn, name, None)
        if inspect.isclass(obj) and issubclass(obj, nn.Module) and not skipped(name):
            targets.append(Target(f"torch.nn.{name}", name, "module", obj))
    return targets


def is_inplace_name(target: Target) -> bool:
    if target.namespace == "module" or target.namespace == "property":
        return False
    if target.short in INPLACE_DUNDERS:
        return True
    return target.short.endswith("_") and not target.short.endswith("__")


def has_inplace_parameter(target: Target) -> bool:
    callable_ = target.obj.__init__ if target.namespace == "module" else target.obj
    try:
        return "inplace" in inspect.signature(callable_).parameters
    except (TypeError, ValueError):
        return False


def naming_links(target: Target) -> dict:
    """out_of_place / inplace_twin: short names. inplace_twin names a
    torch.Tensor method; out_of_place lives in the op's own namespace."""
    home = {"method": torch.Tensor, "function": None}.get(target.namespace)
    if target.namespace == "function":
        namespace = target.qualname.rsplit(".", 1)[0]
        home = {"torch.nn.functional": F, "torch.linalg": torch.linalg}.get(namespace, torch)
    links: dict = {"inplace": is_inplace_name(target), "out_of_place": None, "inplace_twin": None}
    if home is None:
        return links
    if links["inplace"]:
        if target.short in INPLACE_DUNDERS:
            links["out_of_place"] = INPLACE_DUNDERS[target.short]
        elif hasattr(home, target.short[:-1]):
            links["out_of_place"] = target.short[:-1]
    else:
        dunder_twin = f"__i{target.short[2:]}" if target.short.startswith("__") else None
        twin = dunder_twin if dunder_twin in INPLACE_DUNDERS else f"{target.short}_"
        if not target.short.startswith("__") or dunder_twin in INPLACE_DUNDERS:
            if hasattr(torch.Tensor, twin):
                links["inplace_twin"] = twin
    return links


def with_inplace_true(expression: str) -> str:
    return expression[:-1] + ("inplace=True)" if expression.endswith("()") else ", inplace=True)")


def plans_for(target: Target) -> list[Plan]:
    inplace = is_inplace_name(target)
    if target.namespace == "module":
        if target.short in MODULE_OVERRIDES:
            constructor, call = MODULE_OVERRIDES[target.short]
            return [module_plan(constructor, call)]
        return [module_plan(f"nn.{target.short}()", call) for call in GENERIC_MODULE_CALLS]
    if target.namespace == "property":
        return [function_plan(target.obj, "fn(a)", False), function_plan(target.obj, "fn(m)", False)]
    expressions = OVERRIDES.get(target.short) or OVERRIDES.get(target.short.rstrip("_")) or GENERIC_TEMPLATES
    return [function_plan(target.obj, expression, inplace) for expression in expressions]


def measure_target(target: Target) -> dict | None:
    plans = plans_for(target)
    module = target.namespace == "module"
    in_graph = (lambda plan: module and plan_has_parameters(plan))
    record = first_that_runs(plans, in_graph)
    if record is None:
        return None
    record["kind"] = target.namespace
    record.update(naming_links(target))
    record["inplace_param"] = has_inplace_parameter(target)
    if module:
        chosen = next(plan for plan in plans if plan.label == record["args"])
        record["has_parameters"] = plan_has_parameters(chosen)
    if record["inplace_param"]:
        variant = inplace_true_plan(target, record["args"])
        measured = first_that_runs([variant], in_graph) if variant else None
        if measured is not None:
            record["inplace_true"] = measured
    if target.namespace == "method" or target.namespace == "function":
        if record["args"] == "(a, b)" or (target.short == "__setitem__"):
            scalar_expression = "fn(a, 0, 2)" if target.short == "__setitem__" else SCALAR_TEMPLATE
            scalar = first_that_runs([function_plan(target.obj, scalar_expression, record["inplace"])], in_graph)
            if scalar is not None:
                record["scalar_other"] = scalar
    return record


def plan_has_parameters(plan: Plan) -> bool:
    try:
        _, parameters = plan.run({name: make_operand(name, i) for i, name in enumerate(plan.operands)})
    except Exception:  # noqa: BLE001
        return False
    return bool(parameters)


def inplace_true_plan(target: Target, label: str) -> Plan | None:
    if target.namespace == "module":
        for plan_source in [MODULE_OVERRIDES.get(target.short)] + [
            (f"nn.{target.short}()", call) for call in GENERIC_MODULE_CALLS
        ]:
            if plan_source and plan_source[0] + plan_source[1][3:] == label:
                return module_plan(with_inplace_true(plan_source[0]), plan_source[1])
        return None
    return function_plan(target.obj, with_inplace_true("fn" + label), True)


# ------------------------------------------------------------------ driver

class _OpTimeout(BaseException):
    """Raised by the alarm; a BaseException so template loops do not swallow it."""


def _on_alarm(signum, frame):
    raise _OpTimeout


def probe_table(progress=None) -> dict:
    """Measure every op; returns the table (a JSON-ready dict)."""
    progress = progress or (lambda message: None)
    can_alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    rng_state = torch.get_rng_state()
    threads = torch.get_num_threads()
    # Tiny tensors: a thread pool only adds wake-up latency (100x slower on a busy machine).
    torch.set_num_threads(1)
    ops: dict[str, dict] = {}
    unmeasured: list[str] = []
    targets = enumerate_targets()
    previous_handler = signal.signal(signal.SIGALRM, _on_alarm) if can_alarm else None
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for number, target in enumerate(targets, 1):
                if can_alarm:
                    signal.setitimer(signal.ITIMER_REAL, PER_OP_BUDGET_SECONDS)
                try:
                    record = measure_target(target)
                except _OpTimeout:
                    record = None
                    progress(f"{target.qualname}: over the {PER_OP_BUDGET_SECONDS:.0f}s budget, skipped")
                finally:
                    if can_alarm:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                if record is None:
                    unmeasured.append(target.qualname)
                else:
                    ops[target.qualname] = record
                if number % 200 == 0:
                    progress(f"{number}/{len(targets)} ops tried, {len(ops)} measured")
    finally:
        if can_alarm:
            signal.signal(signal.SIGALRM, previous_handler)
        torch.set_rng_state(rng_state)
        torch.set_num_threads(threads)
    return {
        "format": FORMAT_VERSION,
        "torch_version": torch.__version__,
        "operand_kinds": KIND_LEGEND,
        "ops": ops,
        "unmeasured": sorted(unmeasured),
    }


def render(table: dict) -> str:
    return json.dumps(table, sort_keys=True, indent=1) + "\n"


def default_output() -> Path:
    return Path.home() / ".cache" / "gradwatch" / f"op_table-{torch.__version__}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gradwatch probe",
        description="Measure autograd facts of torch ops with the installed torch and write them as JSON.",
    )
    parser.add_argument("--output", "-o", help=f"where to write the table ('-' for stdout; default {default_output()})")
    args = parser.parse_args(argv)
    output = None if args.output == "-" else Path(args.output) if args.output else default_output()
    if output is not None:
        # Fail before the measuring, not after it.
        problem = None
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            problem = str(error)
        if problem is None and not os.access(output.parent, os.W_OK):
            problem = "directory is not writable"
        if problem is None and output.is_dir():
            problem = "is a directory"
        if problem:
            print(f"gradwatch probe: cannot write {output}: {problem}", file=sys.stderr)
            return 2
    started = time.monotonic()
    table = probe_table(progress=lambda message: print(message, file=sys.stderr, flush=True))
    text = render(table)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as error:
            print(f"gradwatch probe: cannot write {output}: {error}", file=sys.stderr)
            return 2
        print(f"wrote {output}", file=sys.stderr)
    elapsed = time.monotonic() - started
    print(f"{len(table['ops'])} ops measured ({len(table['unmeasured'])} tried without a working template) "
          f"with torch {table['torch_version']} in {elapsed:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
