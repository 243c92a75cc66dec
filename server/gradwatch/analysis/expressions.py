"""Evaluating expressions to abstract values: torch calls, tensor methods, operators.

What each torch op does to autograd state (does it save its input or output,
is it a view, does it cut the graph) comes from the measured op table; this
module only knows the Python-level spellings.
"""

from __future__ import annotations

import ast
import functools

from gradwatch.analysis import (
    calls,
    creation,
    custom_functions,
    devices,
    distributions,
    folding,
    generators,
    integer_dtypes,
    lambdas,
    module_dicts,
    modules,
    numpy_interop,
    op_table,
    plain_values,
    python_builtins,
    recursion,
    summaries,
    tensor_ops,
)
from gradwatch.analysis.conditions import known_int, known_truth
from gradwatch.analysis.events import Creation, GradRead, OptimizerStep, ShapeError
from gradwatch.analysis.imports import from_star_import
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import dotted, keyword, literal_true
from gradwatch.analysis.tensor_methods import TensorMethods
from gradwatch.analysis.values import (
    CONSTANT,
    NO,
    UNKNOWN,
    UNKNOWN_TENSOR,
    UNKNOWN_VALUE,
    YES,
    Constant,
    CustomFunction,
    Distribution,
    GradModeContext,
    Imported,
    Mapping,
    Module,
    ModuleClass,
    Optimizer,
    Reason,
    Sequence,
    Tensor,
    TorchRef,
    Unknown,
    UserFunction,
    any_of_several,
    join_values,
    new_storage,
)

FACTORIES = {
    "torch." + name
    for name in (
        "randn rand zeros ones empty full tensor arange linspace logspace eye randint randperm "
        "randn_like rand_like zeros_like ones_like empty_like full_like randint_like as_tensor "
        "from_numpy normal"
    ).split()
}
GRAD_MODES = {
    "torch.no_grad": NO,
    "torch.inference_mode": NO,
    "torch.enable_grad": YES,
    "torch.autograd.no_grad": NO,
    "torch.autograd.grad_mode.no_grad": NO,
}
BINARY_DUNDERS = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "truediv",
    ast.FloorDiv: "floordiv",
    ast.Mod: "mod",
    ast.Pow: "pow",
    ast.MatMult: "matmul",
    ast.BitAnd: "and",
    ast.BitOr: "or",
    ast.BitXor: "xor",
}
DICT_REMOVALS = {"pop", "popitem", "clear"}
COMPARE_DUNDERS = {
    ast.Lt: "__lt__",
    ast.LtE: "__le__",
    ast.Gt: "__gt__",
    ast.GtE: "__ge__",
    ast.Eq: "__eq__",
    ast.NotEq: "__ne__",
}


# One Constant per literal value (values are immutable): literals are evaluated at every
# run of their statement, and a frozen dataclass costs a call per field to build.
_SHARED_LITERAL_TYPES = (int, float, bool, str, type(None))
MAX_SHARED_STRING = 64  # longer strings (docstrings) are rarely evaluated twice
MAX_SHARED_LITERALS = 50_000  # a language server runs for days
_LITERALS: dict = {}


class Handlers(dict):
    """Node type -> the function `eval_X` (prefix "eval_") or `exec_X` of a class for a node
    of type X, or None: looked up once per class and type, not once per node. Kept unbound
    (a bound method held by its own instance would keep the instance alive)."""

    _tables: dict[tuple[type, str], Handlers] = {}

    def __init__(self, cls: type, prefix: str) -> None:
        super().__init__()
        self.cls, self.prefix = cls, prefix

    def __missing__(self, node_type: type):
        function = self[node_type] = getattr(self.cls, self.prefix + node_type.__name__, None)
        return function

    @classmethod
    def of(cls, owner: type, prefix: str) -> Handlers:
        key = (owner, prefix)
        if key not in cls._tables:
            cls._tables[key] = cls(owner, prefix)
        return cls._tables[key]


class Evaluator(TensorMethods):
    """Expression evaluation; `Interpreter` adds statements, scopes and classes."""

    def __init__(self, facts, source) -> None:
        self.facts = facts
        self.source = source
        self.events: dict[tuple, object] = {}
        self.names: dict[int, object] = {}
        self.collect_names = True
        self._storages: dict[int, int] = {}
        self.loops: list[ast.AST] = []  # the loops around the statement being run, innermost last
        self.resolver = None  # a CrossModule, when calls into the project's other files may be followed
        self.follow_other_files = False  # set per scope by the interpreter
        self.star_modules: tuple[str, ...] = ()  # M of each `from M import *`
        self.not_from_star_import: frozenset = frozenset()  # names this file or Python binds (syntax.module_scope_names)
        self.backprop_scope = False  # the scope being run backpropagates (worth following calls)
        self.calls = calls.CallContext()
        # (loop, item) for each loop run once per item around here (unrolled.py): each
        # iteration's events and tensors are its own, as those of two calls are.
        self.unrolled: tuple = ()
        self.unrolled_floor = 0  # how many of those lie outside the function being run
        self.class_nodes: dict[str, ast.ClassDef] = {}  # the file's classes, for their methods
        self.shapes_only = False  # the scope being run can make no event but shape errors
        self.names_only = False  # the scope runs for the hover's names alone (Interpreter.analyse_definitions)
        self.eval_handlers = Handlers.of(type(self), "eval_")

    # -- bookkeeping ---------------------------------------------------------

    def emit(self, node: ast.AST, event, part: tuple = ()) -> None:
        # Keyed by node: a loop body runs until its state is stable, and the
        # events of its last (most general) run are the ones that count.
        # `part` tells apart the events of one call's parts (the children of an
        # nn.Sequential, each run by the same call).
        if self.names_only or (self.shapes_only and not isinstance(event, ShapeError)):
            return  # a scope run for its names, or for its shape errors alone (Interpreter.relevant)
        self.events[(type(event).__name__, id(node), part, self.calls.call_string + self.unrolled)] = event

    def retract(self, node: ast.AST, kind: type, part: tuple = ()) -> None:
        """Drop the event of this kind an earlier run of `node` emitted: a loop body's last
        (most general) run no longer shows it."""
        self.events.pop((kind.__name__, id(node), part, self.calls.call_string + self.unrolled), None)

    def storage_for(self, node: ast.AST, part: tuple = ()) -> int:
        """One identity per creating expression (and `part` of it), stable across loop iterations."""
        key = (id(node), part, self.calls.call_string + self.unrolled)
        if key not in self._storages:
            self._storages[key] = new_storage()
        return self._storages[key]

    def span(self, node: ast.AST):
        return self.source.span(node)

    def text(self, node: ast.AST) -> str:
        return self.source.segment(node)

    def reason(self, node: ast.AST, text: str) -> Reason:
        return Reason(self.span(node), text)

    # -- expressions ---------------------------------------------------------

    def eval(self, node: ast.AST, state: State):
        function = self.eval_handlers[type(node)]
        if function is not None:
            return function(self, node, state)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.eval(child, state)
        return UNKNOWN_VALUE

    def eval_Constant(self, node: ast.Constant, state: State):
        value = node.value
        kind = type(value)
        if kind not in _SHARED_LITERAL_TYPES or (kind is str and len(value) > MAX_SHARED_STRING):
            return Constant(value=value, none=value is None)
        constant = _LITERALS.get((kind, value))
        if constant is None:
            constant = Constant(value=value, none=value is None)
            if len(_LITERALS) < MAX_SHARED_LITERALS:
                _LITERALS[(kind, value)] = constant
        return constant

    def eval_Name(self, node: ast.Name, state: State):
        value = state.lookup(node.id)
        if (
            value is UNKNOWN_VALUE
            and len(self.star_modules) == 1
            and node.id not in state.bindings
            and node.id not in self.not_from_star_import
        ):
            # Bound nowhere in this file, no builtin: with exactly one `from M import *`, it comes from M.
            value = from_star_import(self.star_modules[0], node.id)
        if self.collect_names and not self.shapes_only and isinstance(value, Tensor) and value.known:
            self.names[id(node)] = (node, node.id, value, state.saved_by.get(value.storage, frozenset()))
        return value

    def eval_Attribute(self, node: ast.Attribute, state: State):
        path = dotted(node)
        if path is not None and path in state.bindings:
            return state.bindings[path]
        base = self.eval(node.value, state)
        if isinstance(base, TorchRef):
            return TorchRef(f"{base.qualname}.{node.attr}")
        if isinstance(base, Tensor):
            return self.tensor_attribute(base, node, state)
        if isinstance(base, Imported):
            return Imported(f"{base.qualname}.{node.attr}")
        if isinstance(base, Module):
            if node.attr in ("__dict__", *module_dicts.DICTS):
                return module_dicts.read(self, base, node.attr)
            if base.parameter_storages:
                return modules.parameter(self, base, node.attr, node)
            return base.attribute(node.attr)
        if isinstance(base, Constant):
            return CONSTANT  # `arr.shape`, `arr.T`: never a tensor (plain_values.py)
        if isinstance(base, Sequence) and base.named(node.attr) is not None:
            return base.named(node.attr)  # `x.topk(3).indices`
        return UNKNOWN_VALUE

    def data_assigned(self, target: ast.Attribute, value, state: State) -> None:
        """`t.data = other`: t now holds other's data, of other's dtype (measured: an
        integer tensor given float data can then require grad)."""
        self.data_resized(target, state)
        if isinstance(value, Tensor) and value.integer:
            return
        path = dotted(target.value)
        owner = state.bindings.get(path) if path is not None else None
        if not isinstance(owner, Tensor) or not owner.integer:
            return
        state.bind(path, owner.but(integer=False))
        # Other names of the same object (`u = t`) see the new data too; a fact dropped is never wrong.
        if owner.storage is None:
            return
        for name, bound in list(state.bindings.items()):
            if isinstance(bound, Tensor) and bound.integer and bound.storage == owner.storage:
                state.bindings[name] = bound.but(integer=False)

    def data_resized(self, target: ast.Attribute, state: State) -> None:
        """`t.data = other` may give t (and the names sharing it) another shape: theirs is no
        longer known."""
        path = dotted(target.value)
        owner = state.bindings.get(path) if path is not None else None
        if not isinstance(owner, Tensor) or owner.shape is None:
            return
        for name, bound in list(state.bindings.items()):
            if name == path or (owner.storage is not None and isinstance(bound, Tensor) and bound.storage == owner.storage):
                state.bindings[name] = bound.but(shape=None)

    def tensor_attribute(self, tensor: Tensor, node: ast.Attribute, state: State):
        if node.attr == "grad":
            self.emit(node, GradRead(self.span(node), tensor, self.text(node.value), node))
            return Tensor(requires_grad=UNKNOWN, is_leaf=YES, storage=self.storage_for(node))
        if node.attr == "data":
            return tensor_ops.data_of(self, tensor, node)
        if node.attr in ("T", "mT", "H", "mH"):
            return self.apply_op("torch.Tensor.t", [tensor], node, state)
        if node.attr in ("requires_grad", "is_leaf", "shape", "dtype", "device", "ndim", "grad_fn"):
            return CONSTANT
        return UNKNOWN_VALUE

    def eval_Tuple(self, node, state):
        return Sequence(tuple(self.eval(e, state) for e in node.elts))

    eval_List = eval_Tuple

    def eval_Dict(self, node: ast.Dict, state: State):
        entries = []
        literal = True
        for key, value in zip(node.keys, node.values):
            evaluated = self.eval(value, state)
            if isinstance(key, ast.Constant) and isinstance(key.value, (str, int)):
                entries.append((key.value, evaluated))
            else:
                if key is not None:
                    self.eval(key, state)
                literal = False
        return Mapping(tuple(entries)) if literal else UNKNOWN_VALUE

    def eval_Subscript(self, node: ast.Subscript, state: State):
        base = self.eval(node.value, state)
        index_value = self.eval(node.slice, state)
        if isinstance(base, Mapping):
            if isinstance(node.slice, ast.Constant):
                return base.get(node.slice.value)
            if isinstance(index_value, Constant) and isinstance(index_value.value, (str, int)):
                return base.get(index_value.value)  # `d[key]` with the key known
            return base.any_value()
        if isinstance(base, Sequence):
            if isinstance(index_value, Constant) and type(index_value.value) is int:
                return base.item(index_value.value)  # `pair[0]`, `outs[-1]`, `outs[n - 1]` with n known
            if isinstance(node.slice, ast.Slice) and base.each is None:
                bounds = _slice_bounds(node.slice, state)
                if bounds is not None:
                    return Sequence(base.items[slice(*bounds)])  # `channels[:-1]`: a new list
            return base.any_item() if base.each is not None else UNKNOWN_VALUE
        if isinstance(base, Tensor):
            # Ints, slices and tuples of them are no operands; an index tensor is one.
            index = index_value if isinstance(index_value, Tensor) else CONSTANT
            return self.apply_op("torch.Tensor.__getitem__", [base, index], node, state, index=index_value)
        if isinstance(base, Constant):
            return CONSTANT  # an item or slice of an array or a string (plain_values.py)
        return UNKNOWN_VALUE

    def eval_BinOp(self, node: ast.BinOp, state: State):
        left = self.eval(node.left, state)
        right = self.eval(node.right, state)
        name = BINARY_DUNDERS.get(type(node.op))
        if name is None:
            return UNKNOWN_VALUE
        return self.binary(name, left, right, node, state)

    def binary(self, name: str, left, right, node, state: State):
        if isinstance(left, Tensor):
            return self.apply_op(f"torch.Tensor.__{name}__", [left, right], node, state)
        if isinstance(right, Tensor):
            return self.apply_op(f"torch.Tensor.__r{name}__", [right, left], node, state)
        if isinstance(left, Constant) and isinstance(right, Constant):
            return Constant(cuts=left.cuts + right.cuts, value=folding.binary(name, left.value, right.value))
        if name == "add" and isinstance(left, Sequence) and isinstance(right, Sequence):
            return left.concatenated(right)  # `layers + [conv, relu]`, `layers += [...]`
        return UNKNOWN_VALUE

    def eval_UnaryOp(self, node: ast.UnaryOp, state: State):
        operand = self.eval(node.operand, state)
        if isinstance(operand, Tensor):
            dunder = {ast.USub: "__neg__", ast.Invert: "__invert__", ast.UAdd: "__pos__"}.get(type(node.op))
            if dunder:
                return self.apply_op(f"torch.Tensor.{dunder}", [operand], node, state)
        if isinstance(operand, Constant):
            return Constant(cuts=operand.cuts, value=folding.unary(node.op, operand.value))
        return UNKNOWN_VALUE

    def eval_Compare(self, node: ast.Compare, state: State):
        left = self.eval(node.left, state)
        values = [self.eval(c, state) for c in node.comparators]
        if len(values) == 1 and isinstance(left, Tensor) and type(node.ops[0]) in COMPARE_DUNDERS:
            return self.apply_op("torch.Tensor." + COMPARE_DUNDERS[type(node.ops[0])], [left, values[0]], node, state)
        return CONSTANT if all(isinstance(v, Constant) for v in [left, *values]) else UNKNOWN_VALUE

    def eval_BoolOp(self, node: ast.BoolOp, state: State):
        """`a or b` / `a and b`: the operand Python stops at (`activation or nn.Identity()`
        with `activation` None is the Identity); where an operand's truth is not known, any
        of those it may stop at."""
        stops_at = isinstance(node.op, ast.Or)  # `or` stops at a true operand, `and` at a false one
        candidates = []
        for operand in node.values:
            value = self.eval(operand, state)
            truth = _truth(value)
            if truth is None or truth is stops_at or operand is node.values[-1]:
                candidates.append(value)
            if truth is stops_at:
                break
        return functools.reduce(join_values, candidates)

    def eval_IfExp(self, node: ast.IfExp, state: State):
        self.eval(node.test, state)
        truth = known_truth(node.test, state)
        if truth is not None:  # only the branch Python takes (`x if isinstance(x, nn.Module) else [x]`)
            return self.eval(node.body if truth else node.orelse, state)
        return join_values(self.eval(node.body, state), self.eval(node.orelse, state))

    def eval_NamedExpr(self, node: ast.NamedExpr, state: State):
        value = self.eval(node.value, state)
        state.bind(node.target.id, value)
        return value

    def eval_Lambda(self, node, state):
        return lambdas.value(self, node, state)

    def eval_Yield(self, node, state):
        return generators.yield_value(self, node, state)

    eval_YieldFrom = eval_Yield

    def eval_ListComp(self, node, state):
        """`[f(x) for x in xs]`: a list of unknown length whose every item is `f(any x)`."""
        scope = state.copy()  # the comprehension's names do not leak
        for generator in node.generators:
            element = python_builtins.element_of(self.eval(generator.iter, scope))
            self.assign(generator.target, element, scope)
            for condition in generator.ifs:
                self.eval(condition, scope)
        if isinstance(node, ast.DictComp):
            self.eval(node.key, scope)
            self.eval(node.value, scope)
            return UNKNOWN_VALUE
        item = self.eval(node.elt, scope)
        if not isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return UNKNOWN_VALUE
        return Sequence((), each=any_of_several(item))

    eval_SetComp = eval_DictComp = eval_GeneratorExp = eval_ListComp

    # -- calls ---------------------------------------------------------------

    def eval_Call(self, node: ast.Call, state: State):
        func = node.func
        if isinstance(func, ast.Attribute):
            path = dotted(func)
            if path is not None and path in state.bindings:
                callee = state.bindings[path]
            else:
                if func.attr == "__init__" and _is_super(func.value):
                    initialised = modules.sequential_base_init(self, node, state)
                    if initialised is not None:
                        return initialised
                receiver = self.eval(func.value, state)
                if isinstance(receiver, TorchRef):
                    callee = TorchRef(f"{receiver.qualname}.{func.attr}")
                elif isinstance(receiver, Tensor):
                    return self.tensor_method(receiver, func.attr, node, state)
                elif isinstance(receiver, Module):
                    return modules.module_method(self, receiver, func, node, state)
                elif isinstance(receiver, Distribution):
                    return distributions.method(self, receiver, func.attr, node, state)
                elif isinstance(receiver, ModuleClass) and (method := calls.method_of(self, receiver.name, func.attr)):
                    result = calls.call_through_class(self, method, node, state)
                    return result.value if result is not None else self.unknown_call(node, state)
                elif isinstance(receiver, CustomFunction) and func.attr == "apply":
                    return custom_functions.apply(self, receiver, node, state)
                elif isinstance(receiver, Sequence) and func.attr in ("append", "extend"):
                    return self.grow_list(receiver, func, node, state)
                elif isinstance(receiver, (Mapping, module_dicts.InstanceDict)) and func.attr == "copy":
                    return module_dicts.copy(receiver) if not node.args else self.unknown_call(node, state)
                elif isinstance(receiver, Mapping) and func.attr in ("values", "items", "get"):
                    return self.read_dict(receiver, func.attr, node, state)
                elif isinstance(receiver, Mapping) and func.attr in DICT_REMOVALS:
                    if dotted(func.value) is not None:
                        state.forget(dotted(func.value))  # which keys remain is no longer known
                    return self.unknown_call(node, state)
                elif isinstance(receiver, Optimizer) and func.attr == "step":
                    self.eval_arguments(node, state)
                    loop = self.loops[-1] if self.loops else None
                    self.emit(node, OptimizerStep(self.span(node), node, loop))
                    modules.optimizer_step(self, receiver, node, state)
                    return UNKNOWN_VALUE
                elif isinstance(receiver, Imported):
                    callee = Imported(f"{receiver.qualname}.{func.attr}")
                elif isinstance(receiver, Constant) and func.attr != "backward":
                    return plain_values.method_call(self, node, state)
                elif isinstance(receiver, Unknown) and func.attr == "backward":
                    return self.tensor_method(UNKNOWN_TENSOR, func.attr, node, state)
                else:
                    return self.unknown_call(node, state)
        else:
            builtin = python_builtins.builtin_name(func, state)
            if builtin is not None:
                value = python_builtins.call(self, builtin, node, state)
                if value is not None:
                    return value
            callee = self.eval(func, state)
        if python_builtins.is_math(callee):
            return python_builtins.math_call(self, callee.qualname, node, state)
        if isinstance(callee, Imported) and callee.qualname == "collections.OrderedDict":
            return python_builtins.ordered_dict(self, node, state)
        if isinstance(callee, Imported) and callee.qualname in python_builtins.NAMESPACES:
            return python_builtins.namespace(self, callee.qualname, node, state)
        if isinstance(callee, Imported) and callee.qualname.startswith("numpy."):
            return numpy_interop.numpy_call(self, callee.qualname, node, state)
        if isinstance(callee, Imported) and self.backprop_scope:
            # Another file may define it; what it does can matter here.
            self.facts.calls_other_files = True
        if isinstance(callee, Imported) and self.follow_other_files:
            # Ask the project what it does (the files it reads are noted: dependency_log).
            resolved = self.resolver.value_for_call(self, node, state, callee.qualname)
            if resolved is not None:
                if not isinstance(resolved, (ModuleClass, TorchRef)):
                    return resolved
                callee = resolved
        if isinstance(callee, lambdas.Lambda) and self.backprop_scope:
            result = lambdas.call(self, callee, node, state)
            if result is not None:
                return result
        if isinstance(callee, UserFunction) and callee.nested is not None and self.backprop_scope:
            result = calls.call_nested(self, callee.nested, node, state)
            if result is not None:
                return result.value
        elif isinstance(callee, UserFunction) and self.backprop_scope and callee.name in self.functions:
            function = self.functions[callee.name]
            if calls.can_call(self, function):
                return calls.enter(self, function, node, state, calls.Arguments.of(self, node, state)).value
            descended = recursion.descend(self, function, node, state)
            if descended is not None:
                return descended.value
            summary = self.local_summary(callee.name)
            if summary is not None:
                return summaries.apply_summary(self, summary, node, state)
        if isinstance(callee, TorchRef):
            return self.torch_call(callee.qualname, node, state)
        if isinstance(callee, ModuleClass):
            return modules.construct(self, callee, node, state)
        if isinstance(callee, Module):
            return modules.call_instance(self, callee, node, state)
        return self.unknown_call(node, state)

    def grow_list(self, items: Sequence, func: ast.Attribute, node: ast.Call, state: State):
        """`outs.append(t)` / `outs.extend([a, b])`: the list a name holds gets the items."""
        args = self.eval_arguments(node, state)
        grown = items
        if func.attr == "append" and len(args) == 1:
            grown = items.with_item(args[0])
        elif func.attr == "extend" and len(args) == 1 and isinstance(args[0], Sequence) and args[0].each is None:
            for item in args[0].items:
                grown = grown.with_item(item)
        else:
            grown = Sequence((), each=UNKNOWN_VALUE)
        state.bind_expression(func.value, grown)
        return CONSTANT

    def read_dict(self, mapping: Mapping, method: str, node: ast.Call, state: State):
        args = self.eval_arguments(node, state)
        if method == "get":
            key = node.args[0] if node.args else None
            found = mapping.get(key.value) if isinstance(key, ast.Constant) else UNKNOWN_VALUE
            return found if found is not UNKNOWN_VALUE or len(args) < 2 else join_values(found, args[1])
        if method == "values":
            return mapping.values_in_order()
        each = mapping.values_beyond_entries
        pairs = tuple(Sequence((Constant(value=key), value)) for key, value in mapping.entries)
        return Sequence(pairs, each=Sequence((CONSTANT, each)) if each is not None else None)

    def unknown_call(self, node: ast.Call, state: State):
        """A call the analysis cannot follow. Under a provable no_grad, whatever tensor it
        returns has no graph; otherwise nothing is known about the result."""
        args = self.eval_arguments(node, state)
        if state.grad_enabled is not NO or not state.grad_mode_known:
            return UNKNOWN_VALUE
        sources = frozenset().union(*(a.sources for a in args if isinstance(a, Tensor)))
        cut = tensor_ops.no_grad_cut(self, node, state, sources)
        return Tensor(
            requires_grad=NO,
            is_leaf=YES,
            storage=self.storage_for(node),
            cuts=(cut,),
            origin=self.reason(node, f"`{self.text(node)}`"),
        )

    def eval_arguments(self, node: ast.Call, state: State) -> list:
        return self.eval_arguments_and_keywords(node, state)[0]

    def eval_arguments_and_keywords(self, node: ast.Call, state: State) -> tuple[list, list]:
        """The positional arguments' values, and the keyword arguments' values."""
        values = []
        for arg in node.args:
            value = self.eval(arg.value if isinstance(arg, ast.Starred) else arg, state)
            values.append(UNKNOWN_VALUE if isinstance(arg, ast.Starred) else value)
        keywords = [self.eval(kw.value, state) for kw in node.keywords]
        return values, keywords

    def torch_call(self, qualname: str, node: ast.Call, state: State):
        if qualname in FACTORIES:
            return creation.factory(self, qualname, node, state)
        if qualname in creation.FLOAT_TENSOR_TYPES:
            args, plain = plain_values.evaluate_arguments(self, node, state)
            # `torch.Tensor(t)` of a tensor shares it, graph and all; of data, it is a new leaf.
            if not plain:
                return self.unknown_op(args)
            return creation.leaf(self, node, NO, explicit=False).but(factory=None)  # takes no requires_grad=
        if qualname in integer_dtypes.INTEGER_TENSOR_TYPES:
            return creation.leaf(self, node, NO, explicit=False, deps=self.eval_arguments(node, state)).but(
                integer=True
            )
        if qualname in ("torch.autograd.Variable", "torch.autograd.variable.Variable"):
            return creation.variable(self, node, state)
        if qualname in GRAD_MODES:
            self.eval_arguments(node, state)
            mode = node.args[0] if node.args else keyword(node, "mode")
            # `inference_mode(False)` turns inference mode off: what grad mode is then is not claimed.
            enabled = GRAD_MODES[qualname] if mode is None or literal_true(mode) is YES else UNKNOWN
            return GradModeContext(enabled, qualname.rsplit(".", 1)[1])
        if qualname == "torch.set_grad_enabled":
            self.eval_arguments(node, state)
            enabled = literal_true(node.args[0]) if node.args else UNKNOWN
            return GradModeContext(enabled, "set_grad_enabled")
        if qualname in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            args = self.eval_arguments(node, state)
            requires = literal_true(keyword(node, "requires_grad")) if keyword(node, "requires_grad") else YES
            data = args[0] if args else None
            if requires is YES and len(node.args) == 1 and isinstance(data, Tensor) and data.integer and data.known:
                # `nn.Parameter(torch.arange(n))`: a parameter requires grad, which an integer tensor cannot.
                self.emit(node, Creation(self.span(node), node, YES, self.span(node.args[0])))
            return creation.leaf(self, node, requires, explicit=True, deps=args)
        if qualname in devices.NOT_TENSORS:
            return devices.not_a_tensor(self, qualname, node, state)
        if qualname == "torch.autograd.grad":
            return self.grad_call(node, state)
        if qualname == "torch.autograd.backward":
            args = self.eval_arguments(node, state)
            target = args[0] if args and isinstance(args[0], Tensor) else UNKNOWN_TENSOR
            self.backward(target, node.args[0] if node.args else node, node, state)
            return CONSTANT
        if qualname.startswith("torch.optim.") and qualname.count(".") == 2:
            return modules.optimizer(self, node, state)
        if qualname == "torch.nn.Sequential":
            return modules.sequential(self, node, state)
        if (distribution := distributions.class_name(qualname)) is not None:
            return distributions.construct(self, distribution, node, state)
        if qualname == "torch.nn.ModuleList":
            return modules.module_list(self, node, state)
        info = op_table.lookup(qualname)
        if info is not None and info.has_parameters is not None:
            return modules.torch_module(self, qualname, info, node, state)
        args, keyword_values = self.eval_arguments_and_keywords(node, state)
        if info is None:
            return self.unknown_op(args)
        if (
            info.inplace_param
            and literal_true(keyword(node, "inplace")) is YES
            and args
            and isinstance(args[0], Tensor)
        ):
            flag = self.span(keyword(node, "inplace"))
            return self.inplace(args[0], node.args[0], "inplace=True", node, state, args[1:], info.name, flag=flag)
        result = self.apply_op(qualname, args, node, state)
        return result if state.grad_enabled is NO else _with_keyword_operands(result, keyword_values)


def _with_keyword_operands(result, keyword_values: list):
    """The table measured ops called with positional tensors; a tensor passed by keyword
    (`F.scaled_dot_product_attention(query=q, key=k, value=v)`) is no measured operand.
    When one may require grad, the result's "no graph" is not proved."""
    if not isinstance(result, Tensor) or result.requires_grad is not NO:
        return result
    if all(_without_grad(value) for value in keyword_values):
        return result
    return result.but(requires_grad=UNKNOWN, is_leaf=UNKNOWN)


def _without_grad(value) -> bool:
    """A keyword argument that provably brings no graph: a number, string, dtype, a
    tensor that does not require grad, or a tuple of those (`dim=(1, 2)`)."""
    if isinstance(value, (Constant, TorchRef, GradModeContext)):
        return True
    if isinstance(value, Tensor):
        return value.known and value.requires_grad is NO
    if isinstance(value, Sequence):
        return all(_without_grad(item) for item in value.items) and (value.each is None or _without_grad(value.each))
    return False


def _is_super(node: ast.AST) -> bool:
    """`super()` (or `super(Cls, self)`)."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def _slice_bounds(node: ast.Slice, state: State) -> tuple | None:
    """The bounds of `a:b:c` when each is left out or a known int (`[:-1]`, `[1:n]`); else None."""
    bounds = []
    for part in (node.lower, node.upper, node.step):
        value = None if part is None else known_int(part, state)
        if part is not None and value is None:
            return None
        bounds.append(value)
    return None if bounds[2] == 0 else tuple(bounds)


def _truth(value) -> bool | None:
    """Whether `value` is true in Python, when known: a literal, None, a torch layer (a
    module without `__len__`)."""
    if isinstance(value, Constant):
        if value.none:
            return False
        return bool(value.value) if isinstance(value.value, (bool, int, float, str, tuple)) else None
    if isinstance(value, Module) and value.user_class is None and value.kind != "torch.nn.Sequential":
        return True if op_table.lookup(value.kind) is not None else None
    return None
