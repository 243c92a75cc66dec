"""Abstract values: what the interpreter knows about a name at one program point.

Every fact is three-valued (YES / NO / UNKNOWN) and carries the source spans
that justify it, so a finding can cite the lines that cause it. Values are
immutable; joining two values (after a branch, around a loop) keeps only
what both agree on.

Immutable by convention: a changed fact is a new value (`replace`, `but`).
The dataclasses here and in events.py are hashable but not `frozen=True`,
whose constructor sets each field through `object.__setattr__`: values are
made at every op, and that made the whole analysis 6% slower.
"""

from __future__ import annotations

import enum
import functools
import itertools
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace

from gradwatch.findings import Span


class Tri(enum.Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    def join(self, other: Tri) -> Tri:
        return self if self is other else Tri.UNKNOWN

    @staticmethod
    def any_of(values) -> Tri:
        """YES if any is YES; NO if all are NO; else UNKNOWN (logical or)."""
        result = Tri.NO
        for value in values:
            if value is Tri.YES:
                return Tri.YES
            if value is Tri.UNKNOWN:
                result = Tri.UNKNOWN
        return result

    @staticmethod
    def of(flag: bool) -> Tri:
        return Tri.YES if flag else Tri.NO


YES, NO, UNKNOWN = Tri.YES, Tri.NO, Tri.UNKNOWN

_storage_ids = itertools.count(1)


def new_storage() -> int:
    """A fresh identity for a tensor's memory (views share their base's)."""
    return next(_storage_ids)


@dataclass(unsafe_hash=True)
class Reason:
    """One line of a causal chain: where, and what happened there."""

    span: Span
    text: str
    path: str | None = None  # another file than the one analysed, when the reason lies there

    def where(self) -> str:
        """`line 6`, or `helpers.py line 6` for a line in another file."""
        if self.path is None:
            return f"line {self.span.line}"
        return f"{self.path.replace(chr(92), '/').rsplit('/', 1)[-1]} line {self.span.line}"


@dataclass(unsafe_hash=True)
class Cut(Reason):
    """Where a tensor that required grad lost its graph, and whose gradient it cut off."""

    kind: str = ""  # "detach", "data", "no_grad", "non_tensor", "rewrap", "non_differentiable", "sample"
    sources: frozenset = frozenset()
    # For `.detach()`: the text to delete to undo the cut; for a distribution's `sample()`,
    # its name, which `rsample` replaces where the distribution has one.
    removal: Span | None = None
    # For an op run under no_grad: the `with torch.no_grad()` (or decorator) that turned grad mode off.
    mode: Reason | None = None


@dataclass(eq=True)
class SavedOp:
    """An op application whose backward needs tensors it saved."""

    op: str  # e.g. "sigmoid", "mul", "nn.Linear"
    span: Span
    call_text: str
    saved: frozenset[int]  # storages of the saved tensors
    # e.g. "its output", "its input `a`": words for a message, not part of the identity
    # (the name an operand is known by may differ between two runs of the same op).
    what: str = field(compare=False)
    # The loops in an earlier iteration of which it was applied: the same line run
    # again saves new tensors, but a value carried over still needs these.
    earlier: frozenset = frozenset()
    # Set when it saved an operand of unknown identity: the storage of its result,
    # which tells this application apart from another of the same line (another call).
    result: int | None = None

    def __hash__(self) -> int:
        # Hashed at every set and dict operation of the loop and call machinery: computed
        # once (over the fields that equality compares), not kept when pickled (string
        # hashes differ between processes).
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.op, self.span, self.call_text, self.saved, self.earlier, self.result))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "_hash"}


@dataclass(unsafe_hash=True)
class GradSource:
    """A leaf that requires grad: a tensor made with requires_grad=True, or a module's parameters."""

    name: str
    span: Span
    explicit: bool = False  # `requires_grad=True` or `nn.Parameter` written in this file


@dataclass(unsafe_hash=True)
class Tensor:
    requires_grad: Tri = UNKNOWN
    is_leaf: Tri = UNKNOWN
    storage: int | None = None  # None: identity unknown
    # The saved ops whose backward its graph runs through, on some path (a may-set).
    history: frozenset[SavedOp] = frozenset()
    # Those of `history` that only some paths have (a branch, or a loop that may not run,
    # joined two values): a rule that says "will raise" goes by `certain_history`.
    uncertain: frozenset[SavedOp] = frozenset()
    sources: frozenset[GradSource] = frozenset()
    # Why the value has no graph although something upstream required grad.
    cuts: tuple[Reason, ...] = ()
    zero_grads: tuple[Reason, ...] = ()
    # Storages it was computed from, graph or not; None once there are too many to track.
    deps: frozenset[int] | None = frozenset()
    origin: Reason | None = None
    # The factory call that created this leaf (to add `requires_grad=True` there).
    factory: Span | None = None
    view_of_leaf: bool = False  # a view of a leaf that requires grad
    through_data: bool = False  # obtained through `.data`
    retains_grad: bool = False  # `.retain_grad()` was called: a non-leaf that gets .grad
    multi_element: Tri = UNKNOWN  # more than one element (backward() then needs a gradient argument)
    shape: tuple | None = None  # sizes (int, Symbol, None: not known); None when the rank is not known (shapes.py)
    # Provably an integer or bool dtype (indices, `.long()`): it can never require grad.
    integer: bool = False
    # The dtype its factory was given (`dtype=torch.float64`, canonical name); ops do not carry it.
    dtype: str | None = None
    known: bool = True  # False when it stands for a value the analysis could not follow
    # Made by an op or a factory call: an object, never None (a `.grad` read may be None).
    never_none: bool = False
    # Made on the CPU (a factory without `device=`): moving it to a GPU copies it (devices.py).
    on_cpu: bool = False

    @property
    def certain_history(self) -> frozenset[SavedOp]:
        """The saved ops its graph runs through on every path."""
        return self.history - self.uncertain if self.uncertain else self.history

    def depends_on(self, storage: int) -> Tri:
        """Whether this value was computed from `storage` (UNKNOWN once its dependencies are not tracked)."""
        if self.deps is None:
            return UNKNOWN
        return YES if storage in self.deps else NO

    def join(self, other: Tensor) -> Tensor:
        if self == other:
            return self
        return Tensor(
            requires_grad=self.requires_grad.join(other.requires_grad),
            is_leaf=self.is_leaf.join(other.is_leaf),
            storage=self.storage if self.storage == other.storage else None,
            history=_joined_history(self, other),
            uncertain=_joined_uncertain(self, other),
            sources=self.sources | other.sources,
            cuts=_merge(self.cuts, other.cuts),
            zero_grads=_merge(self.zero_grads, other.zero_grads),
            deps=union_deps((self.deps, other.deps)),
            origin=self.origin if self.origin == other.origin else None,
            factory=self.factory if self.factory == other.factory else None,
            view_of_leaf=self.view_of_leaf and other.view_of_leaf,
            through_data=self.through_data and other.through_data,
            retains_grad=self.retains_grad or other.retains_grad,
            multi_element=self.multi_element.join(other.multi_element),
            shape=_join_shapes(self.shape, other.shape),
            integer=self.integer and other.integer,
            dtype=self.dtype if self.dtype == other.dtype else None,
            known=self.known and other.known,
            never_none=self.never_none and other.never_none,
            on_cpu=self.on_cpu and other.on_cpu,
        )

    def but(self, **changes) -> Tensor:
        """This tensor with `changes`: what dataclasses.replace does, five times faster
        (replace loops over every field, then the frozen __init__ sets each one; this
        runs at every op). A Tensor's fields are its __dict__, and it has no __post_init__."""
        if not changes.keys() <= _TENSOR_FIELDS:
            raise TypeError(f"Tensor has no field {sorted(changes.keys() - _TENSOR_FIELDS)}")
        tensor = object.__new__(Tensor)
        tensor.__dict__.update(self.__dict__)
        tensor.__dict__.update(changes)
        return tensor


_TENSOR_FIELDS = frozenset(each.name for each in fields(Tensor))
UNKNOWN_TENSOR = Tensor(known=False)


# A value computed from more storages than this stops tracking them: `x = x + 1` repeated thousands of
# times would otherwise copy an ever larger set at each step (quadratic time).
MAX_TRACKED_DEPENDENCIES = 256


def union_deps(sets) -> frozenset[int] | None:
    """The storages in all of `sets`; None when one of them is untracked or there are too many."""
    result: frozenset[int] = frozenset()
    for deps in sets:
        if deps is None:
            return None
        result |= deps
    return result if len(result) <= MAX_TRACKED_DEPENDENCIES else None


def _join_shapes(a: tuple | None, b: tuple | None) -> tuple | None:
    if a == b:
        return a
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b))


def _merge(a: tuple, b: tuple) -> tuple:
    return a + tuple(x for x in b if x not in a)


@dataclass(unsafe_hash=True)
class Unknown:
    """Anything the analysis cannot follow."""


UNKNOWN_VALUE = Unknown()


@dataclass(unsafe_hash=True)
class Imported(Unknown):
    """A name imported from a module that is not torch: unknown here, but another
    file of the project may define it (see cross_module)."""

    qualname: str


@dataclass(unsafe_hash=True)
class Constant:
    """A Python number, string, bool or None (never a tensor)."""

    # Set when the number came out of a tensor that required grad (`.item()`).
    cuts: tuple = ()
    value: object = None  # the literal, when it is one
    # The literal `None` itself (`value` None alone also stands for "some number").
    none: bool = False


CONSTANT = Constant()


@dataclass(unsafe_hash=True)
class TorchRef:
    """A name bound to a torch API object: `torch`, `nn`, `F.relu`, `nn.Linear`..."""

    qualname: str


@dataclass(unsafe_hash=True)
class ModuleClass:
    """A user-defined `nn.Module` subclass in this file."""

    name: str
    span: Span | None = None
    is_module: bool = True  # an nn.Module subclass; else a plain class (a trainer, a loss helper)
    # What calling an instance of a plain class runs: its `__call__`, or the method a torch
    # base class routes the call to (distribution_transforms.py: a Transform's `_call`).
    call_method: str = "__call__"
    # Attributes every instance has once its constructor returned (classes.always_assigned).
    always_assigned: frozenset = frozenset()
    # Works out `attributes` and `has_parameters` when first asked (classes.InitAttributes);
    # None for a class without attributes. Equal only to itself.
    init: object = None
    # Derives from nn.Sequential: `super().__init__(*layers)` gives an instance its children.
    sequential_base: bool = False
    # A NamedTuple or dataclass (records.py): the fields a call binds, in order; else None.
    fields: tuple[str, ...] | None = None

    @property
    def attributes(self) -> tuple[tuple[str, object], ...]:
        """Submodules and parameters assigned in __init__: (attribute, value) pairs."""
        return self.init.attributes() if self.init is not None else ()

    @property
    def has_parameters(self) -> Tri:
        if not self.is_module:
            return NO
        return self.init.has_parameters() if self.init is not None else UNKNOWN


@dataclass(unsafe_hash=True)
class Module:
    """An `nn.Module` instance."""

    kind: str  # qualified torch class ("torch.nn.Linear") or the user class name
    has_parameters: Tri = UNKNOWN
    params_require_grad: Tri = YES
    # Built with inplace=True: YES, or UNKNOWN when the write depends on a value
    # not known here (`nn.Dropout(p, inplace=True)` writes only when p > 0).
    inplace: Tri = NO
    # Built without reduction=: a loss module then returns one element.
    default_reduction: bool = True
    # Built with reduction='none' (or reduce=False): one loss value per element (losses.py).
    unreduced: bool = False
    user_class: ModuleClass | None = None
    source: GradSource | None = None
    children: tuple = ()  # for nn.Sequential: the modules in order (None: not known)
    # For nn.Sequential: after `children`, any number of modules (maybe none), each one of
    # these (`nn.Sequential(*layers)` of a list grown in a loop).
    repeated: tuple = ()
    built_at: Reason | None = None  # the constructor call, to cite a child of a container
    inplace_flag: Span | None = None  # the value of its `inplace=` argument
    # A user class's instance: its attributes (`self.fc`, `self.hidden`), from the
    # constructor call that built it and the methods that ran since.
    attributes: tuple[tuple[str, object], ...] = ()
    # Its constructor's literal arguments (position or keyword -> value): `Linear(32, 4)` has ((0, 32), (1, 4)).
    config: tuple = ()
    # A torch module's own parameters (`weight`, `bias`): name -> storage.
    parameter_storages: tuple[tuple[str, int], ...] = ()
    # Every constructor argument is a literal (in `config`): which parameters it has is then known.
    arguments_known: bool = False
    # Its `_parameters` / `_modules` dicts are another instance's own objects (`__dict__` copied,
    # module_dicts.py): writing into one changes that instance too.
    shared_dicts: frozenset = frozenset()

    def attribute(self, name: str):
        return next((value for key, value in self.attributes if key == name), UNKNOWN_VALUE)

    @property
    def held(self) -> tuple:
        """The values it holds: its children (the repeated ones too) and its attributes' values."""
        return (*self.children, *self.repeated, *(value for _, value in self.attributes))

    @property
    def is_container(self) -> bool:
        """An nn.Sequential that holds children: calling it calls them."""
        return bool(self.children or self.repeated)

    def join(self, other: Module):
        """The same instance after two paths, attributes joined one by one; or instances built
        by one constructor call (in two iterations of a loop), what they have in common."""
        if replace(self, attributes=(), params_require_grad=YES, has_parameters=YES) != replace(
            other, attributes=(), params_require_grad=YES, has_parameters=YES
        ):
            return self._join_built_alike(other)
        mine, theirs = dict(self.attributes), dict(other.attributes)
        names = [*mine, *(name for name in theirs if name not in mine)]
        attributes = tuple(
            (name, join_values(mine.get(name, UNKNOWN_VALUE), theirs.get(name, UNKNOWN_VALUE))) for name in names
        )
        return replace(
            self,
            attributes=attributes,
            params_require_grad=self.params_require_grad.join(other.params_require_grad),
            has_parameters=self.has_parameters.join(other.has_parameters),
        )

    def _join_built_alike(self, other: Module):
        """Two instances of one class built by one constructor call (its fields other than
        kind, class and call may differ): what they have in common, children joined one by
        one. Else unknown."""
        same_call = self.built_at is not None and self.built_at == other.built_at
        if not same_call:
            return self._join_records(other)
        if self.kind != other.kind or self.user_class != other.user_class:
            return UNKNOWN_VALUE
        if len(self.children) != len(other.children) or len(self.repeated) != len(other.repeated):
            return UNKNOWN_VALUE
        repeated = tuple(_joined_child(a, b) for a, b in zip(self.repeated, other.repeated))
        if None in repeated:
            return UNKNOWN_VALUE  # an unknown number of unknown children
        theirs = dict(other.attributes)
        return Module(
            self.kind,
            has_parameters=self.has_parameters.join(other.has_parameters),
            params_require_grad=self.params_require_grad.join(other.params_require_grad),
            inplace=self.inplace.join(other.inplace),
            default_reduction=self.default_reduction and other.default_reduction,
            unreduced=self.unreduced and other.unreduced,
            user_class=self.user_class,
            source=self.source if self.source == other.source else None,
            children=tuple(_joined_child(a, b) for a, b in zip(self.children, other.children)),
            repeated=repeated,
            built_at=self.built_at,
            inplace_flag=self.inplace_flag if self.inplace_flag == other.inplace_flag else None,
            attributes=tuple((k, join_values(v, theirs[k])) for k, v in self.attributes if k in theirs),
            config=tuple(entry for entry in self.config if entry in other.config),
            parameter_storages=tuple(entry for entry in self.parameter_storages if entry in other.parameter_storages),
            arguments_known=self.arguments_known and other.arguments_known,
            shared_dicts=self.shared_dicts | other.shared_dicts,
        )

    def _join_records(self, other: Module):
        """Two records of one class (a NamedTuple, a dataclass: records.py) built by different
        calls (a loop's state rebuilt in each iteration): their fields joined one by one."""
        if self.user_class is None or self.user_class != other.user_class or self.user_class.fields is None:
            return UNKNOWN_VALUE
        theirs = dict(other.attributes)
        attributes = tuple((k, join_values(v, theirs[k])) for k, v in self.attributes if k in theirs)
        return replace(self, built_at=None, attributes=attributes)

def _joined_child(a, b):
    if a is None or b is None:
        return None
    joined = join_values(a, b)
    return joined if isinstance(joined, Module) else None


@dataclass(unsafe_hash=True)
class ModuleChoice(Unknown):
    """Any of a few modules: what a list of layers grown in a loop holds beyond its first
    items (`layers.append(conv)`, then `layers.append(relu)`). nn.Sequential runs them
    (modules.sequential); to everything else it is an unknown value."""

    options: tuple[Module, ...] = ()


MAX_MODULE_CHOICES = 8


MAX_TORCH_CHOICES = 8


@dataclass(unsafe_hash=True)
class TorchChoice(Unknown):
    """Any of a few torch objects: a name bound to one or another on two paths (`dtype =
    torch.cuda.FloatTensor if torch.cuda.is_available() else torch.DoubleTensor`). A
    conversion to it copies when each of them does (conversions.py); to everything else it
    is an unknown value."""

    options: frozenset = frozenset()  # their qualified names


def torch_options(value) -> frozenset:
    """The torch objects `value` may be (none when it is no torch object or choice of them)."""
    if isinstance(value, TorchRef):
        return frozenset([value.qualname])
    return value.options if isinstance(value, TorchChoice) else frozenset()


def join_items(a, b):
    """What an item of a list may be, `a` or `b`: join_values, except that different modules
    stay a choice of modules."""
    if not (module_options(a) and module_options(b)):
        return join_values(a, b)
    kept: list = []
    for option in (*module_options(a), *module_options(b)):
        for index, other in enumerate(kept):
            joined = join_values(other, option)
            if isinstance(joined, Module):  # the same, or built alike
                kept[index] = joined
                break
        else:
            kept.append(option)
    if len(kept) == 1:
        return kept[0]
    return ModuleChoice(tuple(kept)) if len(kept) <= MAX_MODULE_CHOICES else UNKNOWN_VALUE


def module_options(value) -> tuple:
    """The modules `value` may be (none when it is not a module or a choice of modules)."""
    if isinstance(value, Module):
        return (value,)
    return value.options if isinstance(value, ModuleChoice) else ()


@dataclass(unsafe_hash=True)
class Parameters:
    """`model.parameters()`."""

    module: Module


@dataclass(unsafe_hash=True)
class Optimizer:
    # The storages of the parameters it updates in place at `step()`, as far as known.
    parameters: frozenset[int] = frozenset()


@dataclass(unsafe_hash=True)
class Distribution:
    """A torch.distributions object (distributions.py)."""

    name: str  # its class in torch.distributions: "Normal"
    parameters: tuple = ()  # the tensors it was built from
    known: bool = False  # every argument it was built from is a tensor or a number
    reparameterized: bool = False  # it has `rsample()`
    # The computation made once per object that every density goes through (`probs=`'s logits).
    shared: frozenset = frozenset()


@dataclass(unsafe_hash=True)
class CustomFunction:
    """A `torch.autograd.Function` subclass of this file (custom_functions.py)."""

    name: str
    saves: bool  # its forward calls `ctx.save_for_backward`: a backward frees what it kept
    one_tensor: bool  # its forward returns one value (not a tuple) and changes no input in place


@dataclass(unsafe_hash=True)
class UserFunction:
    """A function defined in this file (its body is analysed on its own)."""

    name: str
    # For a def inside a function: the id of its node (see Interpreter.exec_FunctionDef),
    # which tells it apart from a top-level function or another nested def of that name.
    nested: int | None = None


@dataclass(unsafe_hash=True)
class GradModeContext:
    """`torch.no_grad()`, `torch.inference_mode()`, `torch.set_grad_enabled(flag)`, `torch.enable_grad()`."""

    enabled: Tri
    name: str


@dataclass(unsafe_hash=True)
class Sequence:
    """A tuple or list literal whose items are known."""

    # The first items, as far as known; `each`, when set, stands for any further item
    # (the length is then unknown: `x.chunk(2)`, a list grown in a loop).
    items: tuple = field(default_factory=tuple)
    each: object = None
    # The names of the items of a named tuple torch returns (`("values", "indices")` of
    # `x.topk(3)`): `.indices` reads the item so named.
    names: tuple = ()

    def item(self, index: int):
        if 0 <= index < len(self.items):
            return self.items[index]
        if self.each is None:
            return self.items[index] if -len(self.items) <= index < 0 else UNKNOWN_VALUE
        return self.each if index >= 0 else self.any_item()

    def any_item(self):
        """What any item may be."""
        return join_all([*self.items, *([self.each] if self.each is not None else [])])

    def join(self, other: Sequence) -> Sequence:
        if self.each is None and other.each is None and len(self.items) == len(other.items):
            names = self.names if self.names == other.names else ()
            return Sequence(tuple(join_values(a, b) for a, b in zip(self.items, other.items)), names=names)
        # Lengths differ (a list grown in a loop): the common first items, then any item.
        common = min(len(self.items), len(other.items))
        prefix = tuple(join_values(a, b) for a, b in zip(self.items, other.items))
        rest = [*self.items[common:], *other.items[common:]]
        rest += [e for e in (self.each, other.each) if e is not None]
        return Sequence(prefix, each=functools.reduce(join_items, rest))

    def named(self, name: str):
        """The item a named tuple calls `name` (`pair.indices`); None when there is none."""
        if name in self.names and self.each is None:
            return self.items[self.names.index(name)]
        return None

    def with_item(self, item) -> Sequence:
        """The list after `append(item)`."""
        if self.each is not None:
            return Sequence(self.items, each=join_items(self.each, item))
        return Sequence((*self.items, item))

    def with_slot(self, index: int | None, item) -> Sequence:
        """The list after `self[index] = item`; `index` None: a slot not known (each one may
        then hold `item`)."""
        if index is None:
            items = tuple(join_items(each, item) for each in self.items)
            return Sequence(items, each=join_items(self.each, item) if self.each is not None else None)
        count = len(self.items)
        if 0 <= index < count or (self.each is None and -count <= index < 0):
            items = list(self.items)
            items[index] = item
            return Sequence(tuple(items), each=self.each, names=self.names)
        if self.each is not None:
            return Sequence(self.items, each=join_items(self.each, item))  # one of the further items
        return self  # out of range: Python raises IndexError

    def concatenated(self, other: Sequence) -> Sequence:
        """`self + other`: its items, then the other's."""
        if self.each is None:
            return Sequence((*self.items, *other.items), each=other.each)
        grown = self
        for item in (*other.items, *([other.each] if other.each is not None else [])):
            grown = grown.with_item(item)
        return grown


@dataclass(unsafe_hash=True)
class Mapping:
    """A dict whose keys are literals (`{"loss": l, "acc": a}`, `losses["total"] = t`)."""

    entries: tuple[tuple[object, object], ...] = ()
    # Every key is among the entries (a join of two dicts with different keys keeps
    # only the common ones: another key may then be there).
    complete: bool = True
    # A dict filled from empty under keys not known here (`blocks[f"conv{i}"] = block` in a
    # loop): what each of its values may be. It then has no entries of known keys.
    extra: object = None

    def get(self, key):
        return next((value for k, value in self.entries if k == key), UNKNOWN_VALUE)

    def any_value(self):
        """What `d[key]` is for a key not known here: one of its values (or a KeyError)."""
        return join_all([value for _, value in self.entries]) if self.complete else UNKNOWN_VALUE

    def with_entry(self, key, value) -> Mapping:
        """The dict after `d[key] = value`: a key already there keeps its place (Python's order)."""
        if self.extra is not None:
            return Mapping(complete=False)  # the key may be one of those not known here
        if any(k == key for k, _ in self.entries):
            return Mapping(tuple((k, value if k == key else v) for k, v in self.entries), self.complete)
        return Mapping((*self.entries, (key, value)), self.complete)

    def with_unknown_key(self, value) -> Mapping | None:
        """The dict after `d[key] = value` with `key` not known: for a dict filled from empty;
        else None (what it holds is then not known)."""
        if self.entries or not (self.complete or self.extra is not None):
            return None
        return Mapping(complete=False, extra=value if self.extra is None else join_items(self.extra, value))

    def values_in_order(self) -> Sequence:
        """`d.values()`: the entries' values in order, then any under keys not known here."""
        return Sequence(tuple(value for _, value in self.entries), each=self.values_beyond_entries)

    @property
    def values_beyond_entries(self):
        """What a value under a key other than the entries' may be: None when there is none."""
        return None if self.complete else self.extra if self.extra is not None else UNKNOWN_VALUE

    def join(self, other: Mapping) -> Mapping:
        if self.extra is not None or other.extra is not None:
            # Filled from empty on either path (an empty dict is one no write has filled yet)?
            if any(m.entries or not (m.complete or m.extra is not None) for m in (self, other)):
                return Mapping(complete=False)
            if self.extra is None or other.extra is None:
                return Mapping(complete=False, extra=self.extra if other.extra is None else other.extra)
            return Mapping(complete=False, extra=join_items(self.extra, other.extra))
        theirs = dict(other.entries)
        same_keys = {k for k, _ in self.entries} == set(theirs)
        return Mapping(
            tuple((k, join_values(v, theirs[k])) for k, v in self.entries if k in theirs),
            self.complete and other.complete and same_keys,
        )


def any_of_several(value):
    """`value` standing for each of several objects made by the same code (the items of a
    comprehension): each has its own graph, built by the same ops, so no one identity, and
    no op of the graph is certain to be a given item's (a backward of one item frees
    nothing of the others)."""
    if isinstance(value, Tensor):
        return value.but(storage=None, uncertain=value.history)
    if isinstance(value, Sequence):
        each = any_of_several(value.each) if value.each is not None else None
        return Sequence(tuple(map(any_of_several, value.items)), each=each, names=value.names)
    return value


def join_all(values: list):
    """What each of `values` may be (unknown when there are none)."""
    joined = values[0] if values else UNKNOWN_VALUE
    for value in values[1:]:
        joined = join_values(joined, value)
    return joined


class JoinOf(enum.Enum):
    """What a State.join joins, for the history of the tensors it joins."""

    PATHS = "paths"  # alternatives (a branch): an op only one of them has is uncertain
    # The same point of a loop in two iterations (the back edge): a rule there speaks of the
    # next iteration, so the ops of either stay certain.
    ITERATIONS = "iterations"
    # The state before a loop (its first value) and after some of its iterations (its second):
    # a loop whose count is not known is taken to run, so the history is the second's
    # (`for t in range(x.size(1)): out = f(t)` makes `out` afresh: the `out` of before is gone).
    LOOP_RAN = "loop ran"


JOINING: ContextVar[JoinOf] = ContextVar("joining", default=JoinOf.PATHS)


def _joined_history(a: Tensor, b: Tensor) -> frozenset[SavedOp]:
    return b.history if JOINING.get() is JoinOf.LOOP_RAN else a.history | b.history


def _joined_uncertain(a: Tensor, b: Tensor) -> frozenset[SavedOp]:
    if a.history == b.history and not a.uncertain and not b.uncertain:
        return frozenset()
    joining = JOINING.get()
    if joining is JoinOf.ITERATIONS:
        return a.uncertain | b.uncertain
    if joining is JoinOf.LOOP_RAN:
        return b.uncertain
    return (a.history ^ b.history) | a.uncertain | b.uncertain  # not in both, or uncertain in one


def merged_uncertain(tensors) -> frozenset[SavedOp]:
    """`uncertain` of a value computed from all of `tensors` (its history is the union of
    theirs): an op is certain when any of them has it on every path."""
    with_history = [t for t in tensors if t.history]
    if len(with_history) == 1:  # a unary op, or an op with leaves and constants: the usual case
        return with_history[0].uncertain
    uncertain = frozenset().union(*(t.uncertain for t in with_history))
    if not uncertain:
        return uncertain
    return frozenset(op for op in uncertain if not any(op in t.history and op not in t.uncertain for t in with_history))


def join_values(a, b):
    if a == b:
        return a
    if torch_options(a) and torch_options(b):
        options = torch_options(a) | torch_options(b)
        return TorchChoice(options) if len(options) <= MAX_TORCH_CHOICES else UNKNOWN_VALUE
    if isinstance(a, (Tensor, Sequence, Module, Mapping)) and type(a) is type(b):
        return a.join(b)
    if isinstance(a, Tensor) and isinstance(b, Unknown):
        return a.join(UNKNOWN_TENSOR)
    if isinstance(b, Tensor) and isinstance(a, Unknown):
        return b.join(UNKNOWN_TENSOR)
    return UNKNOWN_VALUE
