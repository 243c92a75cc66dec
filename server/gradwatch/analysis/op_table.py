"""What torch ops do to autograd, read from a table measured by running torch.

The table (`op_table.json` next to this file) is written by `gradwatch probe`
(`gradwatch/probe.py`) and checked against the installed torch by
`tests/test_op_table.py`. This module never imports torch.

Keys are qualified names: `torch.Tensor.add`, `torch.add`,
`torch.nn.functional.relu`, `torch.nn.Linear` (also the property pseudo-ops
`torch.Tensor.T`, `.mT`, `.H`, `.mH`, `.data`, `.real`). `lookup` also accepts
`Tensor.add`, `F.relu` and `nn.Linear`.

Operands are numbered by the tensor arguments of the call, in order: for a
Tensor method operand 0 is `self`; for a function, its tensor arguments
(list items counted in order); for a module, its forward's tensor inputs.
Python numbers and other non-tensor arguments are not operands.

Python-number operands (`x * 2`, `x ** 2`, `2 - x`): binary ops were also
measured with the other operand a Python number. Ask for that variant by
writing "scalar" in its place: `info.saved_operands([True, "scalar"])`, or
use `info.scalar_other` (an OpInfo whose only operand is the tensor). When an
op has no measured scalar variant, nothing is claimed: both answers are empty.

Element counts (`numel`): "same" means the result has exactly as many
elements as the broadcast of the tensor operands (elementwise ops,
activations, `x * 2`, `softmax(x, dim)`, in-place ops, transposes);
"scalar" means the result has exactly one element (`sum()`, `mean()`,
`mse_loss(a, b)`, `nn.CrossEntropyLoss()`); None means neither was observed
or nothing is claimed (matmul, reshape to fixed sizes, reductions over a
dim, ops that did not run at the second size, non-tensor or tuple results).
It is measured by calling the recorded template twice, with the operands'
template shapes and with every operand grown (`probe.GROWN_SHAPES`); both
calls must agree, and the inputs must actually change size (ops measured
only on 0-d or one-element operands get None). So it holds for calls whose
arguments look like the template (`info.args`): `torch.sum(x, 1)` is not
`torch.sum(x)`, and a module constructed for 3 features that fails on
other sizes is None. Python-number operands do not count towards the
broadcast. `scalar_other` and `inplace_true` carry their own `numel`.
`keeps_shape`, measured the same way, says the result's shape is the
broadcast of the operands' shapes (elementwise ops, `softmax(x, dim)`; not
`x.t()`, whose numel is "same").

The JSON: {"torch_version", "format", "operand_kinds" (legend of the
template operand names), "ops": {name: record}, "unmeasured": [names tried
without a working template]}. A record holds the OpInfo fields (`numel`
only when not None) plus
"saves_input" {"<operand>": [[operands requiring grad], ...]},
"saves_output" [[...], ...], "second_backward" [[...], ...] (a second backward
through the op raises), for modules with parameters "parameters" (their
names) and "saves_parameters" [[...], ...], and the nested "scalar_other" /
"inplace_true" records. A configuration is the sorted list of operands that required grad;
for modules the empty configuration counts (their parameters require grad).

Which table is read: the file named by the GRADWATCH_OP_TABLE environment
variable if set; else, when a caller names a torch version, the user cache
`~/.cache/gradwatch/op_table-<version>.json` (what `gradwatch probe` writes
by default) if it exists; else the shipped table. A user table that cannot be
read falls back to the shipped one, and says why in `OpTable.problem`.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence, Union

SHIPPED_TABLE = Path(__file__).with_name("op_table.json")
TABLE_ENV_VAR = "GRADWATCH_OP_TABLE"
SCALAR = "scalar"

# True: requires grad; False: does not; None: unknown; "scalar": a Python number.
RequiresGrad = Union[bool, None, str]

_SHORT_PREFIXES = (
    ("Tensor.", "torch.Tensor."),
    ("F.", "torch.nn.functional."),
    ("nn.functional.", "torch.nn.functional."),
    ("functional.", "torch.nn.functional."),
    ("nn.", "torch.nn."),
)


class OpTableError(Exception):
    """The table file is missing, not JSON, or not in the expected shape."""


Configuration = frozenset  # operand indices that require grad in one measured run


@dataclass(frozen=True)
class OpInfo:
    name: str
    grad: str  # "differentiable" | "zero" | "cut"
    returns: str  # "tensor" | "tuple" | "non_tensor"
    view: bool  # the result shares storage with operand 0 (a view, `detach`, `.data`)
    inplace: bool
    out_of_place: str | None  # short name of the out-of-place twin, in the op's own namespace
    inplace_twin: str | None  # short name of the torch.Tensor in-place method
    inplace_param: bool  # accepts inplace=
    has_parameters: bool | None  # modules only
    kind: str = "function"  # "method" | "property" | "function" | "module"
    args: str = ""  # the template that was run, e.g. "(a, dim=-1)"
    arity: int = 0  # tensor operands in that template
    returns_self: bool = False  # the result is operand 0 itself (in-place ops, `contiguous`)
    backward_error: str | None = None  # backward raises: "not_implemented" | "inplace_modified" | "other"
    differentiable_operands: frozenset[int] = frozenset()
    # (operand index, configurations in which it is saved), sorted by index; a tuple keeps OpInfo hashable
    saves_input_configs: tuple[tuple[int, frozenset[Configuration]], ...] = ()
    saves_output_configs: frozenset[Configuration] = frozenset()
    scalar_other: OpInfo | None = None  # measured with a Python number as the second operand
    inplace_true: OpInfo | None = None  # measured with inplace=True
    numel: str | None = None  # "same" | "scalar" | None: result size vs the operands' (module docstring)
    keeps_shape: bool = False  # the result has the broadcast shape of the tensor operands (measured)
    parameter_names: tuple[str, ...] = ()  # a module's parameters (`weight`, `bias`, `out_proj.weight`)
    saves_parameters_configs: frozenset[Configuration] = frozenset()  # when its forward keeps them for backward
    # When a second backward through the op's graph raises: the first freed what it kept
    # (saved operands, and also a Python number kept as a tensor: `x * 3`).
    second_backward_configs: frozenset[Configuration] = frozenset()

    @property
    def aliases_input(self) -> bool:
        """Writing to the result writes to operand 0."""
        return self.view or self.returns_self

    def saved_operands(self, requires_grad: Sequence[RequiresGrad]) -> tuple[frozenset[int], frozenset[int]]:
        """(definitely saved, possibly saved) operand indices for backward.

        `requires_grad[i]` is True / False / None (unknown, both considered)
        for operand i; missing entries are unknown; indices beyond the
        measured arity are never saved. "Definitely" means saved in every
        consistent configuration in which autograd records the op at all.
        """
        variant, flags = self._variant(requires_grad)
        if variant is None:
            return frozenset(), frozenset()
        saved_sets = [
            frozenset(i for i, configs in variant.saves_input_configs if config in configs)
            for config in variant._configurations(flags)
        ]
        if not saved_sets:
            return frozenset(), frozenset()
        return frozenset.intersection(*saved_sets), frozenset.union(*saved_sets)

    def saves_output(self, requires_grad: Sequence[RequiresGrad]) -> tuple[bool, bool]:
        """(definitely, possibly) saves its output: writing to the result in
        place then makes backward raise. Same conventions as saved_operands."""
        return self._measured_in(requires_grad, lambda variant: variant.saves_output_configs)

    def frees_on_backward(self, requires_grad: Sequence[RequiresGrad]) -> tuple[bool, bool]:
        """(definitely, possibly) backward frees state the op kept for it, so a second
        backward through the op raises. Same conventions as saved_operands."""
        return self._measured_in(requires_grad, lambda variant: variant.second_backward_configs)

    def _measured_in(self, requires_grad: Sequence[RequiresGrad], configs) -> tuple[bool, bool]:
        """(in all, in any) of the configurations `requires_grad` may be, of the variant's `configs`."""
        variant, flags = self._variant(requires_grad)
        if variant is None:
            return False, False
        hits = [config in configs(variant) for config in variant._configurations(flags)]
        return (bool(hits) and all(hits)), any(hits)

    def saves_parameters(self, requires_grad: Sequence[RequiresGrad]) -> tuple[bool, bool]:
        """(definitely, possibly) a module keeps its parameters for backward: an in-place
        update of them (`optimizer.step()`) before backward then makes it raise."""
        hits = [config in self.saves_parameters_configs for config in self._configurations(list(requires_grad))]
        return (bool(hits) and all(hits)), any(hits)

    def _variant(self, requires_grad: Sequence[RequiresGrad]) -> tuple[OpInfo | None, list[bool | None]]:
        flags = list(requires_grad)
        if SCALAR in flags:
            return self.scalar_other, [flag for flag in flags if flag != SCALAR]
        return self, flags

    def _configurations(self, flags: Sequence[bool | None]) -> list[Configuration]:
        """Measured configurations consistent with the flags."""
        choices = []
        for index in range(self.arity):
            flag = flags[index] if index < len(flags) else None
            if index not in self.differentiable_operands or flag is False:
                choices.append((False,))
            elif flag is True:
                choices.append((True,))
            else:
                choices.append((True, False))
        configurations = []
        for assignment in itertools.product(*choices):
            config = frozenset(i for i, on in enumerate(assignment) if on)
            # With no operand requiring grad only a module's own parameters put it in the graph.
            if config or self.has_parameters:
                configurations.append(config)
        return configurations


NUMEL_RELATIONS = ("same", "scalar")


def _numel(raw) -> str | None:
    if raw is None:
        return None
    if raw not in NUMEL_RELATIONS:
        raise ValueError(f"numel must be one of {NUMEL_RELATIONS} or null, not {raw!r}")
    return raw


def _configs(raw) -> frozenset[Configuration]:
    return frozenset(frozenset(config) for config in raw)


def op_info_from_record(name: str, record: Mapping, kind: str | None = None) -> OpInfo:
    """Build an OpInfo from one JSON record (variants reuse the parent's naming facts)."""
    scalar = record.get("scalar_other")
    inplace_true = record.get("inplace_true")
    return OpInfo(
        name=name,
        grad=record["grad"],
        returns=record["returns"],
        view=bool(record["view"]),
        inplace=bool(record.get("inplace", False)),
        out_of_place=record.get("out_of_place"),
        inplace_twin=record.get("inplace_twin"),
        inplace_param=bool(record.get("inplace_param", False)),
        has_parameters=record.get("has_parameters"),
        kind=kind or record.get("kind", "function"),
        args=record.get("args", ""),
        arity=int(record.get("arity", 0)),
        returns_self=bool(record.get("returns_self", False)),
        backward_error=record.get("backward_error"),
        numel=_numel(record.get("numel")),
        keeps_shape=bool(record.get("keeps_shape", False)),
        differentiable_operands=frozenset(record.get("differentiable_operands", ())),
        saves_input_configs=tuple(
            sorted((int(i), _configs(configs)) for i, configs in record.get("saves_input", {}).items())
        ),
        saves_output_configs=_configs(record.get("saves_output", ())),
        parameter_names=tuple(record.get("parameters", ())),
        saves_parameters_configs=_configs(record.get("saves_parameters", ())),
        second_backward_configs=_configs(record.get("second_backward", ())),
        scalar_other=op_info_from_record(name, {**scalar, "inplace": record.get("inplace")}, record.get("kind"))
        if scalar
        else None,
        inplace_true=op_info_from_record(
            name, {**inplace_true, "inplace": True, "has_parameters": record.get("has_parameters")}, record.get("kind")
        )
        if inplace_true
        else None,
    )


class OpTable:
    def __init__(self, data: Mapping, source: Path, problem: str | None = None):
        if not isinstance(data, Mapping) or not isinstance(data.get("ops"), Mapping):
            raise OpTableError(f"{source}: not an op table (no 'ops' mapping)")
        self.source = source
        self.problem = problem
        self.torch_version: str = str(data.get("torch_version", "unknown"))
        self._records: Mapping[str, Mapping] = data["ops"]
        self._unmeasured = frozenset(data.get("unmeasured", ()))

    def lookup(self, qualname: str) -> OpInfo | None:
        name = canonical_name(qualname)
        if name not in self._records:
            return None
        try:
            return self._info(name)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            # A hand-edited or foreign table: unknown op, never a crash.
            self.problem = f"{self.source}: bad record for {name}: {error!r}"
            return None

    @functools.lru_cache(maxsize=None)  # noqa: B019 - tables live for the process
    def _info(self, name: str) -> OpInfo:
        return op_info_from_record(name, self._records[name])

    def names(self) -> list[str]:
        return sorted(self._records)

    def was_tried(self, qualname: str) -> bool:
        """Known to torch but no template ran it: facts unknown, not absent."""
        return canonical_name(qualname) in self._unmeasured


def canonical_name(qualname: str) -> str:
    if qualname.startswith("torch."):
        return qualname
    for short, full in _SHORT_PREFIXES:
        if qualname.startswith(short):
            return full + qualname[len(short) :]
    return qualname


def read_table(path: Path) -> OpTable:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise OpTableError(f"cannot read op table {path}: {error}") from error
    return OpTable(data, path)


def user_cache_path(for_torch: str) -> Path:
    return Path.home() / ".cache" / "gradwatch" / f"op_table-{for_torch}.json"


def load(for_torch: str | None = None) -> OpTable:
    """The table to use (see the module docstring for the order); cached. Without a version,
    the version of the torch installed where gradwatch runs (if any) picks the user cache."""
    return _load(os.environ.get(TABLE_ENV_VAR) or None, for_torch or installed_torch_version())


@functools.lru_cache(maxsize=1)
def installed_torch_version() -> str | None:
    """torch's version from its package metadata: no import of torch. Read from the
    `torch-*.dist-info` folder next to the package where there is one (importing
    importlib.metadata costs a run 60 ms), else through importlib.metadata."""
    version = _version_beside_package("torch")
    if version is not None:
        return version
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def _version_beside_package(name: str) -> str | None:
    """The `Version:` of the `<name>-*.dist-info` in the folder that holds package `name`."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = os.path.dirname(next(iter(spec.submodule_search_locations)))
        infos = [entry for entry in os.listdir(folder) if entry.startswith(name + "-") and entry.endswith(".dist-info")]
        if len(infos) != 1:
            return None  # none, or leftovers of several installs: importlib.metadata decides
        with open(os.path.join(folder, infos[0], "METADATA"), encoding="utf-8") as metadata_file:
            for line in metadata_file:
                if line.startswith("Version:"):
                    return line[len("Version:") :].strip()
                if not line.strip():
                    return None  # the headers end at the first blank line
    except (OSError, ValueError, ImportError):
        return None
    return None


@functools.lru_cache(maxsize=8)
def _load(env_path: str | None, for_torch: str | None) -> OpTable:
    candidates = []
    if env_path:
        candidates.append(Path(env_path).expanduser())
    if for_torch:
        cached = user_cache_path(for_torch)
        if cached.is_file():
            candidates.append(cached)
    problems = []
    for candidate in candidates:
        try:
            return read_table(candidate)
        except OpTableError as error:
            problems.append(str(error))
    table = read_table(SHIPPED_TABLE)
    table.problem = "; ".join(problems) or None
    return table


def lookup(qualname: str, for_torch: str | None = None) -> OpInfo | None:
    return load(for_torch).lookup(qualname)


def torch_version(for_torch: str | None = None) -> str:
    """The torch version the table in use was measured with."""
    return load(for_torch).torch_version
