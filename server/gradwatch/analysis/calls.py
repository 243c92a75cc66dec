"""Calls of the file's own functions and methods, analysed in the caller's context.

At a call, the callee's body runs with the caller's abstract arguments, grad
mode and autograd facts (what is saved, modified, freed); what it returns, what
it did to those facts and to its receiver's attributes comes back to the
caller. Everything a callee creates is qualified by the call string (the call
sites that led to it), so two calls of one function never share a tensor.

A call is followed only within a depth bound, never into a function that is
already running (recursion), and within a budget per file; past those the
caller falls back to summaries, then to unknown.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace

from gradwatch.analysis import generators, shape_sources
from gradwatch.analysis.classes import has_parameters
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import dotted
from gradwatch.analysis.values import (
    UNKNOWN_VALUE,
    YES,
    Constant,
    Module,
    Sequence,
    join_values,
)

MAX_CALL_DEPTH = 4
# Callee runs per analysed file: loops re-run their bodies, so calls inside
# nested loops multiply; past the budget, calls are no longer followed.
CALL_BUDGET = 300


class Followed:
    """What the calls made while a scope ran depended on: the functions they ran, and the
    module-level names those functions looked up (cached_scopes.py)."""

    def __init__(self) -> None:
        self.functions: set[ast.AST] = set()
        self.module_names: set[str] = set()


class ModuleNames(dict):
    """The names a followed function sees of the module (`_module_names`), each look-up noted
    with `note`: a scope that followed calls depends on the module body's bindings of the
    names they looked up, not on all of the module's code."""

    __slots__ = ("_note",)

    def __init__(self, names: dict, note) -> None:
        super().__init__(names)
        self._note = note

    def get(self, name, default=None):
        self._note(name)
        return dict.get(self, name, default)

    def __getitem__(self, name):
        self._note(name)
        return dict.__getitem__(self, name)

    def __contains__(self, name) -> bool:
        self._note(name)
        return dict.__contains__(self, name)


class CallContext:
    """What the interpreter knows about the calls it is inside of."""

    def __init__(self) -> None:
        # The call sites (node id, part of the call) that led here, outermost first.
        self.call_string: tuple[tuple[int, tuple], ...] = ()
        self.sites: tuple = ()  # the Spans of those calls, for messages
        self.running: list[ast.AST] = []  # the functions being run, to cut recursion
        self.running_arguments: list = []  # the Arguments each of them was called with (recursion.py)
        self.budget = CALL_BUDGET
        self.module_state: State | None = None  # the module body's state, for module-level names
        # Calls the module body makes do not count toward MAX_CALL_DEPTH while it runs (1): a
        # function it calls is followed as deep as when it is analysed on its own.
        self.free_levels = 0
        # Top-level functions of the file the module body called with nothing known of their
        # arguments, gradients on: such a run is what the function's own analysis would be,
        # with more known around it (Interpreter.analyse_definitions).
        self.ran_unknowing: set[str] = set()
        self._tracking: list[Followed] = []  # for each scope being cached: what its calls ran and read

    def track(self) -> Followed:
        followed = Followed()
        self._tracking.append(followed)
        return followed

    @property
    def tracking(self) -> bool:
        return bool(self._tracking)

    def untrack(self, followed: Followed) -> None:
        assert self._tracking and self._tracking[-1] is followed
        self._tracking.pop()

    def note_followed(self, function: ast.AST) -> None:
        """The scopes being cached depend on `function`'s text from now on."""
        for followed in self._tracking:
            followed.functions.add(function)

    def note_module_name(self, name: str) -> None:
        """The scopes being cached depend on what the module body bound `name` to."""
        for followed in self._tracking:
            followed.module_names.add(name)

    def can_enter(self, function: ast.AST) -> bool:
        return self.depth < MAX_CALL_DEPTH and function not in self.running and self.budget > 0

    @property
    def depth(self) -> int:
        """How many calls deep the code being run is (see `free_levels`)."""
        return len(self.call_string) - self.free_levels


@dataclass(unsafe_hash=True)
class Arguments:
    """The abstract values a call passes."""

    positional: tuple = ()
    keywords: tuple[tuple[str, object], ...] = ()
    starred: bool = False  # `*args` at the call: later positions are unknown
    double_starred: bool = False  # `**kwargs` at the call
    # The list or tuple of the call's one `*args`, last among its positional arguments:
    # the positions it fills (see bind_arguments).
    spread: Sequence | None = None

    @staticmethod
    def of(ev, node: ast.Call, state: State) -> Arguments:
        positional: list = []
        starred = False
        spread = None
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                value = ev.eval(argument.value, state)
                spread = value if isinstance(value, Sequence) and not starred else None
                starred = True
            elif starred:
                ev.eval(argument, state)
                spread = None
            else:
                positional.append(ev.eval(argument, state))
        keywords = []
        double_starred = False
        for keyword in node.keywords:
            value = ev.eval(keyword.value, state)
            if keyword.arg is None:
                double_starred = True
            else:
                keywords.append((keyword.arg, value))
        if spread is not None and spread.each is None:
            # `f(*[a, b])` is `f(a, b)`.
            return Arguments((*positional, *spread.items), tuple(keywords), False, double_starred)
        return Arguments(tuple(positional), tuple(keywords), starred, double_starred, spread)


@dataclass(unsafe_hash=True)
class CallResult:
    value: object
    receiver: object  # the receiver after the call (its attributes may have changed)


def call(
    ev, function: ast.FunctionDef, node: ast.AST, state: State, arguments: Arguments, receiver=None, part: tuple = ()
):
    """The result of calling `function` at `node`, or None when the call is not followed.

    `receiver` is the bound first argument of a method (a Module instance); the
    result carries it with the attributes the method assigned (`self.hidden = h`).
    """
    if not can_call(ev, function, receiver):
        return None
    return enter(ev, function, node, state, arguments, receiver, part)


def enter(
    ev,
    function: ast.FunctionDef,
    node: ast.AST,
    state: State,
    arguments: Arguments,
    receiver=None,
    part: tuple = (),
    enclosing: State | None = None,
) -> CallResult:
    """Run `function` for a call that can_call() allowed (arguments evaluated since may
    have spent the budget: the call still runs, what it calls no longer does).
    `enclosing` is the state of the scope a nested def sees (its closure)."""
    calls: CallContext = ev.calls
    calls.budget -= 1
    entry = _entry_state(ev, function, state, arguments, receiver, enclosing)
    if calls.free_levels and not calls.call_string and receiver is None and enclosing is None:
        if ev.functions.get(function.name) is function and entry.grad_enabled is YES:
            if _knows_nothing_of_parameters(function, entry):
                calls.ran_unknowing.add(function.name)
    saved = (ev.returned, ev.current_function, ev.collect_names, ev.loops, ev.yielded)
    ev.returned, ev.current_function, ev.collect_names, ev.loops = [], function, False, []
    floor, ev.unrolled_floor = ev.unrolled_floor, len(ev.unrolled)
    ev.yielded = [] if generators.is_generator(function, ev.source) else None
    calls.call_string += ((id(node), part),)
    calls.sites += (ev.span(node),)
    calls.running.append(function)
    calls.running_arguments.append(arguments)
    calls.note_followed(function)
    try:
        end = ev.exec_block(function.body, entry)
        exits = list(ev.returned)
        yielded = ev.yielded
    finally:
        calls.running.pop()
        calls.running_arguments.pop()
        calls.call_string = calls.call_string[:-1]
        calls.sites = calls.sites[:-1]
        ev.returned, ev.current_function, ev.collect_names, ev.loops, ev.yielded = saved
        ev.unrolled_floor = floor
    if end is not None:
        exits.append((Constant(value=None), end))
    if not exits:
        return CallResult(UNKNOWN_VALUE, receiver)  # every path raises
    value, after = exits[0]
    for other_value, other_state in exits[1:]:
        value = join_values(value, other_value)
        after = after.join(other_state)
    _take_effects(state, after)
    if yielded is not None:
        value = generators.items(yielded)
    if isinstance(receiver, Module):
        receiver = _updated_receiver(receiver, function, after)
    return CallResult(value, receiver)


def _module_names(ev) -> dict:
    """What a function sees of the module: its imports, classes and functions, and the
    names the module body has bound so far (`model`, `criterion`, `COOR_BIN`)."""
    module = ev.calls.module_state.bindings if ev.calls.module_state is not None else {}
    if not ev.calls.tracking:
        return {**ev.globals, **module}  # no scope is being cached (a CLI run): nothing to note
    return ModuleNames({**ev.globals, **module}, ev.calls.note_module_name)


def _entry_state(
    ev, function: ast.FunctionDef, state: State, arguments: Arguments, receiver, enclosing: State | None = None
) -> State:
    outer = _module_names(ev)
    entry = State(
        outer=outer,
        bindings=dict(enclosing.bindings) if enclosing is not None else {},
        dotted_prefixes=set(enclosing.dotted_prefixes) if enclosing is not None else set(),
        saved_by=dict(state.saved_by),
        clobbered=dict(state.clobbered),
        freed=dict(state.freed),
        grad_enabled=state.grad_enabled,
        grad_mode_reason=state.grad_mode_reason,
        grad_mode_known=state.grad_mode_known,
        inference_mode=state.inference_mode,
    )
    for name, value in bind_arguments(ev, function, arguments, receiver, outer).items():
        entry.bind(name, value)
    parameters = _parameters(function)
    if isinstance(receiver, Module) and parameters:
        for attribute, value in receiver.attributes:
            entry.bind(f"{parameters[0].arg}.{attribute}", value)
    return entry


def _knows_nothing_of_parameters(function: ast.FunctionDef, entry: State) -> bool:
    """Every parameter is bound to a value nothing is known of (`main(args)` of parsed options)."""
    args = function.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a is not None]
    return all(entry.bindings.get(name, UNKNOWN_VALUE) is UNKNOWN_VALUE for name in names)


def call_nested(ev, nested: int, node: ast.Call, state: State) -> CallResult | None:
    """A call of a def made inside a function, followed only from the run of the
    enclosing function that made it: `state` is then the scope its free names
    come from, with their values at the time of the call (as Python's closures
    see them). Elsewhere (a closure returned and called later) it is not followed."""
    function, definer, call_string = ev.nested_functions.get(nested, (None, None, None))
    if function is None or ev.current_function is not definer or ev.calls.call_string != call_string:
        return None
    if not can_call(ev, function):
        return None
    return enter(ev, function, node, state, Arguments.of(ev, node, state), enclosing=state)


def can_call(ev, function: ast.FunctionDef, receiver=None) -> bool:
    """Whether a call of `function` would be followed (check before evaluating its arguments)."""
    return ev.calls.can_enter(function) and (receiver is None or _binds_receiver(function))


def call_method(ev, method: ast.FunctionDef, node: ast.Call, state: State, receiver: Module, target: ast.AST):
    """`receiver.method(...)` (or `receiver(...)` running `forward`): the call's value, the
    receiver rebound at `target` with the attributes the method assigned; None when the
    call is not followed (nothing has been evaluated then)."""
    if _decorators(method) & {"staticmethod"}:
        # `self.compute_loss(a, b)` of a static method: no instance is passed.
        return call_through_class(ev, method, node, state)
    if not can_call(ev, method, receiver):
        return None
    receiver = _with_assigned_attributes(state, target, receiver)
    result = enter(ev, method, node, state, Arguments.of(ev, node, state), receiver=receiver)
    if result.receiver is not receiver:
        state.bind_expression(target, result.receiver)
    return result


def _with_assigned_attributes(state: State, target: ast.AST, receiver: Module) -> Module:
    """The receiver as this scope sees it: `self.cache = t` earlier in a method is bound
    as `self.cache`, and a method it calls next (`self.helper()`) sees that instance."""
    path = dotted(target)
    if path is None or not isinstance(state.bindings.get(path), Module):
        return receiver
    return _with_bound_attributes(receiver, state, path + ".")


def call_through_class(ev, method: ast.FunctionDef, node: ast.Call, state: State):
    """`Class.method(obj, x)` or a static method: the arguments are bound as written (no
    instance is added); None when it is not followed (a class method, a property)."""
    if _decorators(method) & {"classmethod", "property"} or not ev.calls.can_enter(method):
        return None
    return enter(ev, method, node, state, Arguments.of(ev, node, state))


def _binds_receiver(method: ast.FunctionDef) -> bool:
    """An ordinary method: its first parameter is the instance (not a static or class method)."""
    return bool(_parameters(method)) and not _decorators(method) & {"staticmethod", "classmethod", "property"}


def _decorators(function: ast.FunctionDef) -> set[str]:
    return {d.id for d in function.decorator_list if isinstance(d, ast.Name)}


def _parameters(function: ast.FunctionDef) -> list[ast.arg]:
    return function.args.posonlyargs + function.args.args


def bind_arguments(ev, function: ast.FunctionDef, arguments: Arguments, receiver, outer: dict) -> dict[str, object]:
    """Parameter name -> abstract value: positional and keyword arguments, then defaults;
    whatever `*args`/`**kwargs` would fill stays unknown."""
    parameters = _parameters(function)
    values = ((receiver,) if receiver is not None else ()) + arguments.positional
    keywords = dict(arguments.keywords)
    defaults = function.args.defaults
    first_default = len(parameters) - len(defaults)
    module_state = State(outer=outer)  # defaults are evaluated where the function is defined
    bound: dict[str, object] = {}
    spread = arguments.spread
    for index, parameter in enumerate(parameters):
        if index < len(values):
            bound[parameter.arg] = values[index]
        elif parameter.arg in keywords:
            bound[parameter.arg] = keywords[parameter.arg]
        elif spread is not None and index < first_default:
            # Filled from `*args` (or the call raises a TypeError).
            bound[parameter.arg] = spread.item(index - len(values))
        elif arguments.starred or arguments.double_starred:
            bound[parameter.arg] = UNKNOWN_VALUE
        elif index >= first_default:
            bound[parameter.arg] = ev.eval(defaults[index - first_default], module_state)
        else:
            bound[parameter.arg] = UNKNOWN_VALUE
    for parameter, default in zip(function.args.kwonlyargs, function.args.kw_defaults):
        if parameter.arg in keywords:
            bound[parameter.arg] = keywords[parameter.arg]
        elif default is not None and not arguments.double_starred:
            bound[parameter.arg] = ev.eval(default, module_state)
        else:
            bound[parameter.arg] = UNKNOWN_VALUE
    if function.args.vararg is not None:
        bound[function.args.vararg.arg] = _extra_positionals(parameters, values, arguments)
    if function.args.kwarg is not None:
        bound[function.args.kwarg.arg] = UNKNOWN_VALUE
    shape_sources.fill_arguments(ev, function, bound)  # what the caller's values do not prove
    return bound


def _extra_positionals(parameters: list, values: tuple, arguments: Arguments):
    """What a function's `*args` holds: the positional arguments its named parameters leave."""
    if not arguments.starred:
        return Sequence(tuple(values[len(parameters) :]))
    spread = arguments.spread
    if spread is None:
        return UNKNOWN_VALUE
    if len(values) == len(parameters):
        return Sequence(spread.items, each=spread.each)
    if len(values) > len(parameters):
        return Sequence((*values[len(parameters) :], *spread.items), each=spread.each)
    # Named parameters take the first items of a list of unknown length: which ones are left is not known.
    return Sequence((), each=spread.any_item())


def _take_effects(state: State, after: State) -> None:
    """The caller's autograd facts become what they were when the callee returned."""
    state.saved_by = after.saved_by
    state.clobbered = after.clobbered
    state.freed = after.freed


def _updated_receiver(receiver: Module, function: ast.FunctionDef, after: State) -> Module:
    """The receiver with the attributes the method assigned (`self.hidden = h`), and those
    the methods it called on `self` assigned (`self` was rebound to their receiver)."""
    prefix = _parameters(function)[0].arg + "."
    current = after.bindings.get(prefix[:-1])
    if isinstance(current, Module) and current.kind == receiver.kind:
        receiver = current
    return _with_bound_attributes(receiver, after, prefix)


def _with_bound_attributes(receiver: Module, state: State, prefix: str) -> Module:
    """The receiver with the attributes `state` binds under `prefix` (`self.`)."""
    assigned = {
        key[len(prefix) :]: value
        for key, value in state.bindings.items()
        if key.startswith(prefix) and "." not in key[len(prefix) :]
    }
    attributes = dict(receiver.attributes)
    if all(attributes.get(name) is value for name, value in assigned.items()):
        return receiver
    attributes.update(assigned)
    return replace(receiver, attributes=tuple(attributes.items()), has_parameters=has_parameters(attributes))


def method_of(ev, class_name: str, name: str) -> ast.FunctionDef | None:
    """The method `name` of a class of this file, looked up through its bases of this file."""
    seen = set()
    queue = [class_name]
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        node = ev.class_nodes.get(current)
        if node is None:
            continue
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == name:
                return item
        queue.extend(base.id for base in node.bases if isinstance(base, ast.Name))
    return None
