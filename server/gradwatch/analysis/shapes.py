"""Tensor shapes, as far as the code proves them.

A shape is a tuple of dimensions, each a known size (int), a Symbol (a size
not known as a number, shared by the values that provably have the same one:
`batch` from `x: Float[Tensor, "batch 3"]`) or None (a size not known here);
a tensor whose rank is not known has no shape (None). The sizes come from
literal factory sizes (`torch.randn(8, 20)`), from the configuration of torch
modules (`nn.Linear(32, 4)`), from the shapes users write (jaxtyping
annotations, `assert x.shape == ...`: shape_sources.py), and flow through the
ops below; every other op gives no shape, never a guess. A symbol is never
taken for a number: it may be 1 (or 0), so only equality with itself is used
(broadcasting `batch` with `batch`, the inner sizes of a product).

Which ops keep the broadcast shape of their operands is measured by the
probe (`OpInfo.keeps_shape`); the hand-written rules here (reductions,
indexing, reshapes, products) and in module_shapes.py are checked against
torch on meta tensors by tests/test_shape_functions.py, over a grid of
shapes and arguments, and on examples by tests/test_shapes.py.

An op that returns a tuple gets one shape for all its items (`x.chunk(3)`:
the size along the dim only when every piece has it). What torch modules
(layers) make is worked out in module_shapes.py.

The rules use a shape for one question: has the tensor provably not exactly
one element (`backward()` then needs a gradient)? A known size other than 1
answers it, whatever the other sizes are: 0 elements or at least 2.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

from gradwatch.analysis.values import NO, UNKNOWN, YES, Constant, Sequence, Tensor, Tri

Shape = tuple  # of int | Symbol | None


@dataclass(unsafe_hash=True)
class Symbol:
    """A size known only by its name; equal sizes share one (`scope`: where the name is
    meaningful, e.g. one function's annotations)."""

    name: str
    scope: str = ""

    def __str__(self) -> str:
        return self.name


def is_size(size) -> bool:
    """A size known as a number (not a symbol, not unknown)."""
    return type(size) is int


_SIZED_FACTORIES = {"randn", "rand", "zeros", "ones", "empty", "randint", "full"}
_LIKE_FACTORIES = {"randn_like", "rand_like", "zeros_like", "ones_like", "empty_like", "full_like", "randint_like"}
def multi_element(shape: Shape | None) -> Tri:
    """YES: provably not one element; NO: provably one; UNKNOWN otherwise."""
    if shape is None:
        return UNKNOWN
    if any(is_size(size) and size != 1 for size in shape):
        return YES
    return NO if all(size == 1 for size in shape) else UNKNOWN


# ---------------------------------------------------------------- factories


def of_factory(node: ast.Call, args: list) -> Shape | None:
    """The shape a factory call makes (`torch.randn(8, 20)`, `torch.zeros_like(x)`, `torch.tensor([[1, 2]])`)."""
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    if name in _LIKE_FACTORIES:
        return args[0].shape if args and isinstance(args[0], Tensor) else None
    if name in ("tensor", "as_tensor") and node.args:
        return _literal_shape(node.args[0])
    if name not in _SIZED_FACTORIES:
        return None
    sizes = node.args
    if name == "randint":
        # randint(low, high, size) / randint(high, size); randint(low, high, size=...) has none here
        sizes = node.args[-1:] if node.args and isinstance(node.args[-1], (ast.Tuple, ast.List)) else []
    elif name == "full":
        sizes = node.args[:1]
    explicit = len(sizes) == 1 and isinstance(sizes[0], (ast.Tuple, ast.List))
    if explicit:
        sizes = sizes[0].elts
    size_keyword = next((k.value for k in node.keywords if k.arg == "size"), None)
    if not sizes and isinstance(size_keyword, (ast.Tuple, ast.List)):
        sizes, explicit = size_keyword.elts, True
    if not sizes and explicit:
        return ()  # `torch.zeros(())`
    if not sizes or not all(isinstance(s, ast.Constant) and type(s.value) is int for s in sizes):
        return None
    return tuple(s.value for s in sizes)


def _literal_shape(data: ast.AST) -> Shape | None:
    """The shape of nested list/tuple literals of numbers (None when ragged or not literal)."""
    if isinstance(data, ast.Constant) and isinstance(data.value, (int, float, bool)):
        return ()
    if isinstance(data, ast.UnaryOp) and isinstance(data.operand, ast.Constant):
        return ()
    if not isinstance(data, (ast.List, ast.Tuple)):
        return None
    inner = [_literal_shape(item) for item in data.elts]
    if not inner:
        return (0,)
    if any(shape is None or shape != inner[0] for shape in inner):
        return None
    return (len(data.elts), *inner[0])


# ---------------------------------------------------------------- ops

# In-place ops that change the shape of the tensor they write: shaped like their out-of-place form.
RESHAPED_IN_PLACE = {
    "unsqueeze_": "unsqueeze", "squeeze_": "squeeze", "transpose_": "transpose", "swapaxes_": "swapaxes",
    "swapdims_": "swapdims", "t_": "t",
}  # fmt: skip
# Ops measured as giving one element on a matrix, that give one per matrix of a batch.
_PER_MATRIX = {"det", "logdet", "slogdet", "matrix_norm", "matrix_rank", "nuclear_norm", "tensordot", "trace"}
# Keywords that may pass a tensor operand the table did not measure (`torch.clamp(x, min=t)`).
_TENSOR_KEYWORDS = {
    "other", "min", "max", "input", "exponent", "weight", "end", "mask", "source", "src", "tensor1", "tensor2",
    "target", "condition", "values", "self",
}  # fmt: skip
# The hand-written rules apply to these namespaces (`torch.linalg.diagonal` has other defaults).
_RULE_NAMESPACES = {"torch", "torch.Tensor", "torch.nn.functional"}


def of_result(info, operands: list, node: ast.AST, index=None) -> Shape | None:
    """The shape of `info`'s result for these operands (None when not proved). For an op
    that returns a tuple, the shape of each of its items. Modules: module_shapes.py."""
    name = info.name.rsplit(".", 1)[-1]
    name = RESHAPED_IN_PLACE.get(name, name)
    scalar = info.numel == "scalar" and shaped_like_template(info, operands, node) and name not in _PER_MATRIX
    if scalar:
        return ()  # measured: one element (`x.sum()`, `x.norm()`, `F.mse_loss(a, b)`)
    rule = _RULES.get(name) if info.name.rsplit(".", 1)[0] in _RULE_NAMESPACES else None
    if rule is not None:
        call = _Call(operands, node, index)
        return None if rule.first_shaped and call.shape is None else rule(call, name)
    return kept(info, operands, node) if info.keeps_shape else None


def kept(info, operands: list, node: ast.AST) -> Shape | None:
    """Measured (`keeps_shape`): the broadcast shape of the tensor operands."""
    if isinstance(node, ast.Call) and any(
        k.arg in _TENSOR_KEYWORDS and k.arg not in literal_keywords(node) for k in node.keywords
    ):
        return None
    tensors = [o for o in operands if isinstance(o, Tensor)]
    measured = tensors[: info.arity] if info.arity else tensors
    return broadcast([t.shape for t in measured]) if measured else None


def shaped_like_template(info, operands: list, node: ast.AST) -> bool:
    """Tensors alone, no more than measured, no keyword: the call looks like the measured one
    (`x.sum(0)` and `torch.max(x, y)` do not)."""
    keywords = node.keywords if isinstance(node, ast.Call) else ()
    return not keywords and all(isinstance(o, Tensor) for o in operands) and len(operands) <= max(info.arity, 1)


class Arguments:
    """The non-tensor arguments of a call: positional values, and literal keywords."""

    def __init__(self, positional: list, node: ast.AST):
        self.positional = positional
        self.keywords: dict = {}
        if isinstance(node, ast.Call):
            known = literal_keywords(node)
            self.keywords = {k.arg: known.get(k.arg, UNKNOWN_ARGUMENT) for k in node.keywords if k.arg is not None}
            self.starred = any(isinstance(arg, ast.Starred) for arg in node.args)
        else:
            self.starred = False

    def get(self, position: int, name: str, default=None):
        """The argument's Python value, `default` when not given, `UNKNOWN_ARGUMENT` when not known."""
        if self.starred:
            return UNKNOWN_ARGUMENT
        if position < len(self.positional):
            value = literal(self.positional[position])
            return UNKNOWN_ARGUMENT if value is None else value
        alias = _NUMPY_NAMES.get(name)
        if alias in self.keywords:
            return self.keywords[alias]  # torch takes NumPy's names too: `torch.cat(xs, axis=1)`
        return self.keywords.get(name, default)

    def all_positional(self) -> list | None:
        values = [self.get(i, "") for i in range(len(self.positional))]
        return None if UNKNOWN_ARGUMENT in values else values

    def sizes(self, name: str) -> tuple | None:
        """Sizes given one by one or as one tuple (`x.view(2, 3)`, `x.view((2, 3))`, `shape=`)."""
        sizes = self.all_positional()
        if not sizes:
            sizes = [self.keywords.get(name)] if self.keywords.get(name) not in (None, UNKNOWN_ARGUMENT) else None
        if sizes is not None and len(sizes) == 1 and isinstance(sizes[0], tuple):
            sizes = list(sizes[0])
        return tuple(sizes) if sizes is not None and all(type(size) is int for size in sizes) else None


class _Call(Arguments):
    """A call's operands: the tensors' shapes (`shape`: operand 0's), and the other
    arguments after operand 0 (as Arguments)."""

    def __init__(self, operands: list, node: ast.AST, index=None):
        super().__init__(operands[1:], node)
        self.operands = operands
        self.shapes = [o.shape for o in operands if isinstance(o, Tensor)]
        self.shape = operands[0].shape if operands and isinstance(operands[0], Tensor) else None
        self.node = node
        self.index = index


# An argument that may have been passed but whose value is not known (Arguments.get).
UNKNOWN_ARGUMENT = object()
# NumPy's names for arguments, which torch accepts too (`x.sum(axis=1, keepdims=True)`).
_NUMPY_NAMES = {"dim": "axis", "keepdim": "keepdims"}
_RULES: dict = {}


def _rule(*names: str, first_shaped: bool = True):
    """Register a shape function `(call, name) -> shape` for these op names; by default
    it runs only when operand 0 is a tensor of known rank (`call.shape`)."""

    def register(function):
        function.first_shaped = first_shaped
        _RULES.update(dict.fromkeys(names, function))
        return function

    return register


def literal_keywords(node: ast.Call) -> dict:
    """The keyword arguments written as literals (`dim=-1`, `size=(12, 12)`), by name."""
    known = {}
    for keyword in node.keywords:
        if keyword.arg is not None:
            try:
                known[keyword.arg] = ast.literal_eval(keyword.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
    return known


def literal(value):
    """The Python value of an abstract one known to be a number, string or bool, or a tuple or
    list of them (as a tuple); None when not known."""
    if isinstance(value, Constant):
        return value.value
    if isinstance(value, Sequence) and value.each is None:
        items = [literal(item) for item in value.items]
        return None if None in items else tuple(items)
    return None


def broadcast(shapes: list) -> Shape | None:
    if any(shape is None for shape in shapes):
        return None
    rank = max((len(shape) for shape in shapes), default=0)
    result = []
    for position in range(-rank, 0):
        sizes = {shape[position] for shape in shapes if len(shape) >= -position}
        known = {size for size in sizes if is_size(size) and size != 1}
        symbols = {size for size in sizes if isinstance(size, Symbol)}
        if len(known) > 1:
            return None  # would not broadcast: torch raises, nothing to claim
        if known:
            result.append(known.pop())  # a valid broadcast takes the size above 1
        elif None in sizes or len(symbols) > 1:
            result.append(None)  # (two symbols: either may be 1)
        else:
            result.append(symbols.pop() if symbols else 1)
    return tuple(result)


def _same(sizes) -> tuple[bool, int | Symbol | None]:
    """Sizes that must be equal: (whether they can be, the size when known; a symbol
    stands for an int, and two symbols for one size once torch accepted them)."""
    known = {size for size in sizes if is_size(size)}
    symbol = next((size for size in sizes if isinstance(size, Symbol)), None)
    return len(known) <= 1, next(iter(known), symbol)


def _axis(dim, rank: int) -> int | None:
    """`dim` of a tensor of this rank as an index (None when not one: a 0-d tensor has none)."""
    if type(dim) is not int or not -rank <= dim < rank:
        return None
    return dim % rank


def _dropped(shape: Shape, axis: int) -> Shape:
    return (*shape[:axis], *shape[axis + 1 :])


def _with(shape: Shape, axis: int, size) -> Shape:
    return (*shape[:axis], size, *shape[axis + 1 :])


# Reductions over `dim` (an int or a tuple of ints), with `keepdim`.
_REDUCTIONS = {
    "sum", "mean", "prod", "amax", "amin", "logsumexp", "nansum", "nanmean", "std", "var", "all", "any",
    "argmax", "argmin", "max", "min", "median", "norm", "count_nonzero",
}  # fmt: skip
# Where `dim` and `keepdim` are among the positional arguments: `x.norm(p, dim, keepdim)`,
# `x.std(dim, unbiased, keepdim)`; the others take `(dim, keepdim)`.
_REDUCTION_POSITIONS = {"norm": (1, 2), "std": (0, 2), "var": (0, 2)}
# Reductions over one dim only (a tuple raises).
_ONE_DIM = {"argmax", "argmin", "max", "min", "median", "prod"}


@_rule(*_REDUCTIONS)
def _reduced(call: _Call, name: str) -> Shape | None:
    shape = call.shape
    if name in ("max", "min") and len(call.shapes) == 2 and len(call.operands) == 2:
        return broadcast(call.shapes)  # `torch.max(a, b)`: elementwise
    dim_at, keepdim_at = _REDUCTION_POSITIONS.get(name, (0, 1))
    dim = call.get(dim_at, "dim", None)
    keepdim = call.get(keepdim_at, "keepdim", False)
    if dim is UNKNOWN_ARGUMENT or keepdim not in (True, False) or len(call.shapes) > 1:
        return None
    if dim is None or (isinstance(dim, tuple) and name in _ONE_DIM):
        return None  # the whole tensor: measured ("scalar"), not claimed here
    dims = dim if isinstance(dim, tuple) else (dim,)
    axes = {_axis(d, len(shape)) for d in dims}
    if None in axes or not shape:
        return None
    if keepdim:
        return tuple(1 if i in axes else size for i, size in enumerate(shape))
    return tuple(size for i, size in enumerate(shape) if i not in axes)


@_rule("unsqueeze", "squeeze")
def _squeezed(call: _Call, name: str) -> Shape | None:
    shape = call.shape
    dim = call.get(0, "dim", None)
    if name == "unsqueeze":
        axis = _axis(dim, len(shape) + 1)
        return None if axis is None else (*shape[:axis], 1, *shape[axis:])
    if dim is None:
        if not all(is_size(size) for size in shape):
            return None  # a symbol may be 1
        return tuple(size for size in shape if size != 1)
    axis = _axis(dim, len(shape))
    if axis is None or not is_size(shape[axis]):
        return None
    return shape if shape[axis] != 1 else _dropped(shape, axis)


@_rule("flatten", "view", "reshape")
def reshaped(call: Arguments, name: str, shape: Shape | None = None) -> Shape | None:
    shape = call.shape if shape is None else shape
    if name == "flatten":
        start, end = call.get(0, "start_dim", 0), call.get(1, "end_dim", -1)
        if not shape:
            return (1,)
        first, last = _axis(start, len(shape)), _axis(end, len(shape))
        if first is None or last is None or first > last:
            return None
        return (*shape[:first], _product_of(shape[first : last + 1]), *shape[last + 1 :])
    sizes = call.sizes("shape")
    if not sizes or not all(size >= -1 for size in sizes) or sizes.count(-1) > 1:
        return None
    total = math.prod(shape) if all(is_size(size) for size in shape) else None
    rest = math.prod(size for size in sizes if size != -1)
    if -1 not in sizes:
        return sizes if total in (None, rest) else None
    symbols = [size for size in shape if isinstance(size, Symbol)]
    numbers = math.prod(size for size in shape if is_size(size))
    if total is None and None not in shape and len(symbols) == 1 and rest and numbers == rest:
        return tuple(symbols[0] if size == -1 else size for size in sizes)  # `(batch, 3, 4).view(-1, 12)`
    if total is None:
        return tuple(None if size == -1 else size for size in sizes)
    if not rest or total % rest:
        return None  # torch raises
    return tuple(total // rest if size == -1 else size for size in sizes)


def _product_of(sizes: Shape):
    """The size of dims merged into one: known when they are, a symbol alone (next to 1s) is kept."""
    if all(is_size(size) for size in sizes):
        return math.prod(sizes)
    rest = [size for size in sizes if size != 1]
    return rest[0] if len(rest) == 1 and isinstance(rest[0], Symbol) else None


@_rule("permute", "transpose", "swapaxes", "swapdims", "t", "T", "movedim", "moveaxis")
def _permuted(call: _Call, name: str) -> Shape | None:
    shape = call.shape
    rank = len(shape)
    if name in ("t", "T"):
        return shape[::-1] if rank <= 2 or name == "T" else None
    if name == "permute":
        axes = [_axis(d, rank) for d in call.sizes("dims") or ()]
        if len(axes) != rank or None in axes or len(set(axes)) != rank:
            return None
        return tuple(shape[axis] for axis in axes)
    if name in ("movedim", "moveaxis"):
        source, destination = call.get(0, "source"), call.get(1, "destination")
        source, destination = [d if isinstance(d, tuple) else (d,) for d in (source, destination)]
        moved = {_axis(d, rank): _axis(s, rank) for s, d in zip(source, destination)}  # destination: source
        if len(source) != len(destination) or len(moved) != len(source) or len(set(moved.values())) != len(moved):
            return None
        if None in moved or None in moved.values():
            return None
        rest = iter(i for i in range(rank) if i not in moved.values())
        return tuple(shape[moved[i]] if i in moved else shape[next(rest)] for i in range(rank))
    first, second = _axis(call.get(0, "dim0"), rank), _axis(call.get(1, "dim1"), rank)
    if first is None or second is None:
        return None
    result = list(shape)
    result[first], result[second] = result[second], result[first]
    return tuple(result)


# ---------------------------------------------------------------- products

# The ranks of the two matrices of each product, and the result's dims: `i` rows of the
# first, `j` columns of the second, `b` the batch.
_PRODUCTS = {"mm": (2, 2, "ij"), "bmm": (3, 3, "bij"), "mv": (2, 1, "i"), "outer": (1, 1, "ij"), "ger": (1, 1, "ij")}
# The matrices of `addmm(c, a, b)`-like ops: operands 1 and 2, multiplied by the product named.
_ADDED_PRODUCTS = {"addmm": "mm", "baddbmm": "bmm", "addmv": "mv", "addr": "outer"}


@_rule("matmul", "__matmul__", *_PRODUCTS, *_ADDED_PRODUCTS)
def _product(call: _Call, name: str) -> Shape | None:
    if name in _ADDED_PRODUCTS:
        product = _product(_Call(call.operands[1:], call.node), _ADDED_PRODUCTS[name])
        # the added tensor broadcasts to the product (a larger one raises)
        added = broadcast([call.shape, product]) if product is not None else None
        return added if added is not None and len(added) == len(product) else None
    factors = call.shapes
    if len(factors) != 2 or None in factors:
        return None
    a, b = factors
    if name in ("matmul", "__matmul__"):
        return _matmul(a, b)
    first_rank, second_rank, dims = _PRODUCTS[name]
    if (len(a), len(b)) != (first_rank, second_rank):
        return None
    if name in ("outer", "ger"):
        return (a[0], b[0])
    if not _same([a[-1], b[-2] if second_rank > 1 else b[-1]])[0]:
        return None
    batch_ok, batch = _same([a[0], b[0]]) if "b" in dims else (True, None)
    sizes = {"b": batch, "i": a[-2], "j": b[-1]}
    return tuple(sizes[d] for d in dims) if batch_ok else None


def _matmul(a: Shape, b: Shape) -> Shape | None:
    if not a or not b or not _same([a[-1], b[-2] if len(b) > 1 else b[0]])[0]:
        return None
    if len(a) == 1 and len(b) == 1:
        return ()
    if len(b) == 1:
        return a[:-1]
    if len(a) == 1:
        return (*b[:-2], b[-1])
    batch = broadcast([a[:-2], b[:-2]])
    return None if batch is None else (*batch, a[-2], b[-1])


_EINSUM_TERM = r"[A-Za-z]*(\.\.\.)?[A-Za-z]*"  # subscripts, with at most one `...`


@_rule("einsum", first_shaped=False)
def _einsum(call: _Call, name: str) -> Shape | None:
    """`torch.einsum("bij,bjk->bik", a, b)` with a literal equation (`...` broadcast, sizes of
    one subscript broadcast too)."""
    equation = literal(call.operands[0]) if call.operands else None
    operands = call.operands[1:]
    if len(operands) == 1 and isinstance(operands[0], Sequence) and operands[0].each is None:
        operands = list(operands[0].items)
    if not isinstance(equation, str) or not all(isinstance(o, Tensor) and o.shape is not None for o in operands):
        return None
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands) or not all(re.fullmatch(_EINSUM_TERM, t) for t in terms):
        return None
    sizes: dict = {}
    ellipses = []
    for term, operand in zip(terms, operands):
        letters = term.replace("...", "")
        covered = len(operand.shape) - len(letters)
        if covered < 0 or (covered and "..." not in term):
            return None
        before = term.index("...") if "..." in term else len(term)
        ellipses.append(operand.shape[before : before + covered])
        for letter, size in zip(letters, operand.shape[:before] + operand.shape[before + covered :]):
            sizes.setdefault(letter, []).append((size,))
    ellipsis = broadcast(ellipses)
    letters_of = {letter: broadcast(each) for letter, each in sizes.items()}
    if ellipsis is None or None in letters_of.values():
        return None
    if not arrow:
        counts = inputs.replace("...", "").replace(",", "")
        output = "..." + "".join(sorted(letter for letter in sizes if counts.count(letter) == 1))
    labels = output.replace("...", "")
    if not re.fullmatch(_EINSUM_TERM, output) or any(labels.count(c) > 1 or c not in sizes for c in labels):
        return None
    before, _, after = output.partition("...")
    middle = ellipsis if "..." in output else ()
    return (*(letters_of[c][0] for c in before), *middle, *(letters_of[c][0] for c in after))


# ---------------------------------------------------------------- joining and splitting


@_rule("stack", "cat", "concat", "concatenate", first_shaped=False)
def _joined(call: _Call, name: str) -> Shape | None:
    """`torch.stack(items, dim)`: the items' common shape with their count inserted at `dim`;
    `torch.cat(items, dim)`: the sizes along `dim` add up, the others are the items' own."""
    items = call.operands[0] if call.operands else None
    if not isinstance(items, Sequence) or items.each is not None or not items.items:
        return None
    shapes = [item.shape if isinstance(item, Tensor) else None for item in items.items]
    if None in shapes or len({len(shape) for shape in shapes}) != 1:
        return None
    rank = len(shapes[0]) + (name == "stack")
    axis = _axis(call.get(0, "dim", 0), rank)
    if axis is None or not shapes[0]:
        return None
    common = [_same(sizes) for sizes in zip(*shapes)]
    sizes = tuple(size for _, size in common)
    if name == "stack":
        return (*sizes[:axis], len(shapes), *sizes[axis:]) if all(ok for ok, _ in common) else None
    if not all(ok for i, (ok, _) in enumerate(common) if i != axis):
        return None  # the other sizes must be equal
    along = [shape[axis] for shape in shapes]
    return _with(sizes, axis, sum(along) if all(is_size(size) for size in along) else None)


@_rule("split", "chunk", "unbind")
def _pieces(call: _Call, name: str) -> Shape | None:
    """Each item of `x.split(size, dim)`, `x.chunk(n, dim)`, `x.unbind(dim)`: the size along
    `dim` when every piece has the same, else not known."""
    shape = call.shape
    axis = _axis(call.get(0 if name == "unbind" else 1, "dim", 0), len(shape))
    if axis is None or not shape:
        return None
    if name == "unbind":
        return _dropped(shape, axis)
    size, whole = call.get(0, "chunks" if name == "chunk" else "split_size", UNKNOWN_ARGUMENT), shape[axis]
    if size is UNKNOWN_ARGUMENT:
        size = call.keywords.get("split_size_or_sections", UNKNOWN_ARGUMENT)
    if isinstance(size, tuple) and all(type(s) is int for s in size):
        if is_size(whole) and sum(size) != whole:
            return None  # torch raises
        pieces = set(size)  # sections
    elif type(size) is not int or size <= 0:
        return None
    elif not is_size(whole) or whole == 0:
        pieces = {0 if whole == 0 else None}
    else:
        step = -(-whole // size) if name == "chunk" else size  # a chunk has ceil(whole / chunks)
        pieces = {min(step, whole - start) for start in range(0, whole, step)}
    return _with(shape, axis, pieces.pop() if len(pieces) == 1 else None)


# ---------------------------------------------------------------- repeating


@_rule("expand", "repeat", "tile")
def _repeated(call: _Call, name: str) -> Shape | None:
    shape = call.shape
    sizes = call.sizes("size" if name == "expand" else "dims")
    if sizes is None or (name == "repeat" and len(sizes) < len(shape)):
        return None
    if name == "tile":
        sizes = (1,) * (len(shape) - len(sizes)) + sizes
    grown = (1,) * (len(sizes) - len(shape)) + shape
    if name != "expand":
        return tuple(
            size * times if is_size(size) else size if times == 1 else None for size, times in zip(grown, sizes)
        )
    result = []
    for position, (size, wanted) in enumerate(zip(grown, sizes)):
        new = position < len(sizes) - len(shape)
        if wanted == -1 and not new:
            result.append(size)
        elif wanted < 0 or (is_size(size) and size not in (1, wanted)) or (new and wanted == -1):
            return None  # torch raises
        else:
            result.append(wanted)
    return tuple(result)


# ---------------------------------------------------------------- selecting


@_rule("narrow", "select", "index_select", "gather", "diagonal", "topk", "sort", "msort")
def _selected(call: _Call, name: str) -> Shape | None:
    shape = call.shape
    if not shape:
        return None
    if name in ("sort", "msort"):
        return shape
    if name == "diagonal":
        return _diagonal(shape, call.get(0, "offset", 0), call.get(1, "dim1", 0), call.get(2, "dim2", 1))
    if name == "topk":
        k, axis = call.get(0, "k"), _axis(call.get(1, "dim", -1), len(shape))
        return None if type(k) is not int or axis is None else _with(shape, axis, k)
    axis = _axis(call.get(0, "dim"), len(shape))
    if axis is None:
        return None
    if name == "narrow":
        start, length = call.get(1, "start"), call.get(2, "length")
        return _with(shape, axis, length) if type(start) is int and type(length) is int and length >= 0 else None
    if name == "select":
        return _dropped(shape, axis)
    index = call.shapes[1] if len(call.shapes) == 2 else None
    if index is None:
        return None
    if name == "gather":
        return index if len(index) == len(shape) else None
    return _with(shape, axis, (index or (1,))[0]) if len(index) <= 1 else None


def _diagonal(shape: Shape, offset, dim1, dim2) -> Shape | None:
    first, second = _axis(dim1, len(shape)), _axis(dim2, len(shape))
    if type(offset) is not int or first is None or second is None or first == second:
        return None
    rows, columns = shape[first], shape[second]
    if not is_size(rows) or not is_size(columns):
        length = rows if rows == columns and isinstance(rows, Symbol) and offset == 0 else None
    else:
        length = max(0, min(rows, columns - offset) if offset >= 0 else min(rows + offset, columns))
    return (*(size for i, size in enumerate(shape) if i not in (first, second)), length)


# ---------------------------------------------------------------- measured as keeping the shape, but not always


@_rule("atleast_1d", "atleast_2d", "atleast_3d")
def _at_least(call: _Call, name: str) -> Shape | None:
    rank, shape = int(name[-2]), call.shape
    if len(call.operands) != 1 or len(shape) >= rank:
        return shape if len(call.operands) == 1 else None  # several tensors: a tuple
    if rank == 3 and shape:
        return (*shape, 1) if len(shape) == 2 else (1, *shape, 1)
    return (1,) * (rank - len(shape)) + shape


@_rule("where", "masked_scatter", "slice_scatter", "searchsorted", "cartesian_prod")
def _following(call: _Call, name: str) -> Shape | None:
    """`torch.where(c)` gives the indices (a tuple); `a.masked_scatter(mask, source)` has the
    shape of `a` and `mask` broadcast, `a.slice_scatter(src)` of `a`, `searchsorted(s, v)` of
    `v`; `torch.cartesian_prod(a, b)` is one row per pair."""
    if name == "where":
        return broadcast(call.shapes) if len(call.operands) == 3 and not call.node.keywords else None
    if name == "masked_scatter":
        return broadcast(call.shapes[:2])
    if name == "slice_scatter":
        return call.shape
    if name == "searchsorted":
        return call.shapes[1] if len(call.shapes) == 2 else None
    if not all(shape is not None and len(shape) == 1 for shape in call.shapes):
        return None
    if len(call.shapes) == 1:
        return call.shape
    sizes = [shape[0] for shape in call.shapes]
    return (_product_of(sizes), len(sizes))


@_rule("embedding")
def _looked_up(call: _Call, name: str) -> Shape | None:
    """`F.embedding(indices, weight)`: one row of `weight` per index."""
    weight = call.shapes[1] if len(call.shapes) == 2 else None
    return (*call.shape, weight[1]) if weight is not None and len(weight) == 2 else None


@_rule("interpolate", "upsample")
def _resized(call: _Call, name: str) -> Shape | None:
    """`F.interpolate(x, size=...)`: batch and channels, then the sizes asked for."""
    shape = call.shape
    size = call.get(0, "size", None)
    spatial = len(shape) - 2
    if spatial < 1 or size is None or size is UNKNOWN_ARGUMENT:
        return (*shape[:2], *[None] * spatial) if spatial >= 1 else None
    sizes = (size,) * spatial if type(size) is int else size
    if not isinstance(sizes, tuple) or len(sizes) != spatial or not all(type(s) is int for s in sizes):
        return (*shape[:2], *[None] * spatial)
    return (*shape[:2], *sizes)


@_rule("__getitem__")
def _indexed(call: _Call, name: str) -> Shape | None:
    """`x[...]` with ints, slices, None, `...` and at most one tensor index of known rank."""
    shape, node, index = call.shape, call.node, call.index
    if not isinstance(node, ast.Subscript):
        return None
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    values = index.items if isinstance(index, Sequence) and isinstance(node.slice, ast.Tuple) else [index]
    if len(values) != len(parts):
        values = [None] * len(parts)
    consumed = sum(0 if _is_constant(p, None) or _is_constant(p, Ellipsis) else 1 for p in parts)
    if consumed > len(shape) or sum(_is_constant(p, Ellipsis) for p in parts) > 1:
        return None
    result: list = []
    position = 0
    tensor_indices = 0
    for part, value in zip(parts, values):
        if _is_constant(part, Ellipsis):
            skipped = len(shape) - consumed
            result.extend(shape[position : position + skipped])
            position += skipped
        elif _is_constant(part, None):
            result.append(1)
        elif isinstance(part, ast.Slice):
            result.append(shape[position] if part.lower is None and part.upper is None and part.step is None else None)
            position += 1
        elif (isinstance(part, ast.Constant) and type(part.value) is int) or (
            isinstance(value, Constant) and type(value.value) is int
        ):
            position += 1  # `x[0]`, `x[:, self.unit]`: the dimension goes
        elif isinstance(value, Tensor) and value.shape is not None and len(value.shape) == 1 and not tensor_indices:
            # n integer indices give n items; a boolean mask as many as it has True (not known here)
            result.append(None)
            position += 1
            tensor_indices += 1
        else:
            return None
    return (*result, *shape[position:])


def _is_constant(node: ast.AST, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value
