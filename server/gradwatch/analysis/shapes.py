"""Tensor shapes, as far as the code proves them.

A shape is a tuple of dimensions, each a known size (int) or None (a size
not known here); a tensor whose rank is not known has no shape (None). The
sizes come from literal factory sizes (`torch.randn(8, 20)`), from the
configuration of torch modules (`nn.Linear(32, 4)`), and flow through the
ops below; every other op gives no shape, never a guess.

Which ops keep the broadcast shape of their operands is measured by the
probe (`OpInfo.keeps_shape`); the hand-written rules here (reductions,
indexing, reshapes, `matmul`, `Linear`) are checked against torch on meta
tensors by tests/test_shapes.py.

The rules use a shape for one question: has the tensor provably not exactly
one element (`backward()` then needs a gradient)? A known size other than 1
answers it, whatever the other sizes are: 0 elements or at least 2.
"""

from __future__ import annotations

import ast
import math

from gradwatch.analysis.values import NO, UNKNOWN, YES, Constant, Sequence, Tensor, Tri

Shape = tuple  # of int | None

_SIZED_FACTORIES = {"randn", "rand", "zeros", "ones", "empty", "randint", "full"}
_LIKE_FACTORIES = {"randn_like", "rand_like", "zeros_like", "ones_like", "empty_like", "full_like", "randint_like"}
# Reductions over `dim` (an int or a tuple of ints), with `keepdim`.
_REDUCTIONS = {
    "sum", "mean", "prod", "amax", "amin", "logsumexp", "nansum", "nanmean", "std", "var", "all", "any",
    "argmax", "argmin", "max", "min", "median", "norm", "count_nonzero",
}  # fmt: skip
# Where `dim` and `keepdim` are among the positional arguments: `x.norm(p, dim, keepdim)`,
# `x.std(dim, unbiased, keepdim)`; the others take `(dim, keepdim)`.
_REDUCTION_POSITIONS = {"norm": (1, 2), "std": (0, 2), "var": (0, 2)}


def multi_element(shape: Shape | None) -> Tri:
    """YES: provably not one element; NO: provably one; UNKNOWN otherwise."""
    if shape is None:
        return UNKNOWN
    if any(size is not None and size != 1 for size in shape):
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
    if len(sizes) == 1 and isinstance(sizes[0], (ast.Tuple, ast.List)):
        sizes = sizes[0].elts
    size_keyword = next((k.value for k in node.keywords if k.arg == "size"), None)
    if not sizes and isinstance(size_keyword, (ast.Tuple, ast.List)):
        sizes = size_keyword.elts
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


def of_result(info, operands: list, node: ast.AST, module=None, index=None) -> Shape | None:
    """The shape of `info`'s result for these operands (None when not proved)."""
    tensors = [o for o in operands if isinstance(o, Tensor)]
    name = info.name.rsplit(".", 1)[-1]
    if info.keeps_shape:
        measured = tensors[: info.arity] if info.arity else tensors
        return broadcast([t.shape for t in measured]) if measured else None
    if info.numel == "scalar" and (module is None or module.default_reduction) and _shaped_like_template(operands, node):
        return ()  # measured: one element (`x.sum()`, `x.norm()`, `nn.MSELoss()(a, b)`)
    if module is not None:
        return _module_result(module, tensors)
    if name in ("stack", "cat", "concat", "concatenate") and operands and isinstance(operands[0], Sequence):
        items = operands[0]
        if items.each is not None or not items.items:
            return None
        arguments = _Arguments(operands[1:], node)
        return of_stack(list(items.items), arguments) if name == "stack" else _joined(list(items.items), arguments)
    if not tensors or tensors[0].shape is None:
        return None
    shape = tensors[0].shape
    arguments = _Arguments(operands[1:], node)
    if name == "__getitem__":
        return _indexed(shape, node, index)
    if name in _REDUCTIONS:
        return _reduced(shape, name, arguments)
    if name in ("unsqueeze", "squeeze"):
        return _squeezed(shape, name, arguments)
    if name in ("flatten", "view", "reshape"):
        return _reshaped(shape, name, arguments)
    if name in ("permute", "transpose", "swapaxes", "swapdims", "t", "T"):
        return _permuted(shape, name, arguments)
    if name in ("matmul", "__matmul__", "mm", "bmm") and len(tensors) == 2 and tensors[1].shape is not None:
        return _matmul(shape, tensors[1].shape)
    if name in ("interpolate", "upsample"):
        return _resized(shape, arguments)
    return None


def of_stack(items: list, arguments) -> Shape | None:
    """`torch.stack(items, dim)`: the items' common shape with their count inserted at `dim`."""
    shapes = {item.shape if isinstance(item, Tensor) else None for item in items}
    if len(shapes) != 1 or None in shapes:
        return None
    shape = shapes.pop()
    axis = _axis(arguments.get(0, "dim", 0), len(shape) + 1)
    return None if axis is None else (*shape[:axis], len(items), *shape[axis:])


def _joined(items: list, arguments) -> Shape | None:
    """`torch.cat(items, dim)`: the sizes along `dim` add up; the others are the items' own."""
    shapes = [item.shape if isinstance(item, Tensor) else None for item in items]
    if None in shapes or len({len(shape) for shape in shapes}) != 1 or not shapes[0]:
        return None
    axis = _axis(arguments.get(0, "dim", 0), len(shapes[0]))
    if axis is None:
        return None
    sizes = [shape[axis] for shape in shapes]
    result = list(broadcast([(*shape[:axis], 1, *shape[axis + 1 :]) for shape in shapes]) or [])
    if not result:
        return None
    result[axis] = None if None in sizes else sum(sizes)
    return tuple(result)


def _resized(shape: Shape, arguments: _Arguments) -> Shape | None:
    """`F.interpolate(x, size=...)`: batch and channels, then the sizes asked for."""
    size = arguments.get(0, "size", None)
    spatial = len(shape) - 2
    if spatial < 1 or size is None or size is _UNKNOWN:
        return (*shape[:2], *[None] * spatial) if spatial >= 1 else None
    sizes = (size,) * spatial if type(size) is int else size
    if not isinstance(sizes, tuple) or len(sizes) != spatial or not all(type(s) is int for s in sizes):
        return (*shape[:2], *[None] * spatial)
    return (*shape[:2], *sizes)


def _shaped_like_template(operands: list, node: ast.AST) -> bool:
    """Tensors alone, no keyword: the call looks like the measured one (`x.sum(0)` does not)."""
    keywords = node.keywords if isinstance(node, ast.Call) else ()
    return not keywords and all(isinstance(o, Tensor) for o in operands)


def broadcast(shapes: list) -> Shape | None:
    if any(shape is None for shape in shapes):
        return None
    rank = max((len(shape) for shape in shapes), default=0)
    result = []
    for position in range(-rank, 0):
        sizes = {shape[position] for shape in shapes if len(shape) >= -position}
        known = {size for size in sizes if size is not None and size != 1}
        if len(known) > 1:
            return None  # would not broadcast: torch raises, nothing to claim
        if known:
            result.append(known.pop())  # a valid broadcast takes the size above 1
        elif None in sizes:
            result.append(None)
        else:
            result.append(1)
    return tuple(result)


class _Arguments:
    """The non-tensor arguments of a call: positional values, and literal keywords."""

    def __init__(self, positional: list, node: ast.AST):
        self.positional = positional
        self.keywords: dict = {}
        if isinstance(node, ast.Call):
            known = literal_keywords(node)
            self.keywords = {k.arg: known.get(k.arg, _UNKNOWN) for k in node.keywords if k.arg is not None}
            self.starred = any(isinstance(arg, ast.Starred) for arg in node.args)
        else:
            self.starred = False

    def get(self, position: int, name: str, default=None):
        """The argument's Python value, `default` when not given, `_UNKNOWN` when not known."""
        if self.starred:
            return _UNKNOWN
        if position < len(self.positional):
            value = literal(self.positional[position])
            return _UNKNOWN if value is None else value
        return self.keywords.get(name, default)

    def all_positional(self) -> list | None:
        values = [self.get(i, "") for i in range(len(self.positional))]
        return None if _UNKNOWN in values else values


_UNKNOWN = object()


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


def _axis(dim, rank: int) -> int | None:
    if type(dim) is not int or not -rank <= dim < max(rank, 1):
        return None
    return dim % rank if rank else 0


def _reduced(shape: Shape, name: str, arguments: _Arguments) -> Shape | None:
    dim_at, keepdim_at = _REDUCTION_POSITIONS.get(name, (0, 1))
    dim = arguments.get(dim_at, "dim", None)
    keepdim = arguments.get(keepdim_at, "keepdim", False)
    if dim is _UNKNOWN or keepdim not in (True, False):
        return None
    if dim is None:
        return None  # the whole tensor: measured ("scalar"), not claimed here
    dims = dim if isinstance(dim, tuple) else (dim,)
    axes = {_axis(d, len(shape)) for d in dims}
    if None in axes or not shape:
        return None
    if keepdim:
        return tuple(1 if i in axes else size for i, size in enumerate(shape))
    return tuple(size for i, size in enumerate(shape) if i not in axes)


def _squeezed(shape: Shape, name: str, arguments: _Arguments) -> Shape | None:
    dim = arguments.get(0, "dim", None)
    if name == "unsqueeze":
        axis = _axis(dim, len(shape) + 1)
        return None if axis is None else (*shape[:axis], 1, *shape[axis:])
    if dim is None:
        if None in shape:
            return None
        return tuple(size for size in shape if size != 1)
    axis = _axis(dim, len(shape))
    if axis is None or shape[axis] is None:
        return None
    return shape if shape[axis] != 1 else (*shape[:axis], *shape[axis + 1 :])


def _reshaped(shape: Shape, name: str, arguments: _Arguments) -> Shape | None:
    if name == "flatten":
        start, end = arguments.get(0, "start_dim", 0), arguments.get(1, "end_dim", -1)
        if not shape:
            return (1,)
        first, last = _axis(start, len(shape)), _axis(end, len(shape))
        if first is None or last is None or first > last:
            return None
        merged = shape[first : last + 1]
        size = None if None in merged else math.prod(merged)
        return (*shape[:first], size, *shape[last + 1 :])
    sizes = arguments.all_positional()
    if sizes is None and arguments.keywords.get("shape") is not None:
        sizes = [arguments.keywords["shape"]]
    if not sizes:
        return None
    if len(sizes) == 1 and isinstance(sizes[0], tuple):
        sizes = list(sizes[0])
    if not all(type(size) is int and size >= -1 for size in sizes) or sizes.count(-1) > 1:
        return None
    if -1 not in sizes:
        return tuple(sizes)
    total = None if None in shape else math.prod(shape)
    rest = math.prod(size for size in sizes if size != -1)
    inferred = total // rest if total is not None and rest and total % rest == 0 else None
    return tuple(inferred if size == -1 else size for size in sizes)


def _permuted(shape: Shape, name: str, arguments: _Arguments) -> Shape | None:
    rank = len(shape)
    if name in ("t", "T"):
        return shape[::-1] if rank <= 2 or name == "T" else None
    if name == "permute":
        dims = arguments.all_positional()
        if dims and len(dims) == 1 and isinstance(dims[0], tuple):
            dims = list(dims[0])
        axes = [_axis(d, rank) for d in dims or ()]
        if len(axes) != rank or None in axes or len(set(axes)) != rank:
            return None
        return tuple(shape[axis] for axis in axes)
    first, second = _axis(arguments.get(0, "dim0"), rank), _axis(arguments.get(1, "dim1"), rank)
    if first is None or second is None:
        return None
    result = list(shape)
    result[first], result[second] = result[second], result[first]
    return tuple(result)


def _matmul(a: Shape, b: Shape) -> Shape | None:
    if not a or not b:
        return None
    if len(a) == 1 and len(b) == 1:
        return ()
    if len(b) == 1:
        return a[:-1]
    if len(a) == 1:
        return (*b[:-2], b[-1])
    batch = broadcast([a[:-2], b[:-2]])
    return None if batch is None else (*batch, a[-2], b[-1])


def _indexed(shape: Shape, node: ast.AST, index) -> Shape | None:
    """`x[...]` with ints, slices, None, `...` and at most one tensor index of known rank."""
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


# ---------------------------------------------------------------- modules


# Modules whose output has their input's shape (measured only at one channel count by the probe).
_NORMALIZATIONS = {
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "LocalResponseNorm",
}  # fmt: skip


def _module_result(module, tensors: list) -> Shape | None:
    kind = module.kind.rsplit(".", 1)[-1]
    config = dict(module.config)
    if not tensors or tensors[0].shape is None:
        return None
    shape = tensors[0].shape
    if kind in _NORMALIZATIONS:
        return shape
    if kind == "Linear":
        out = config.get(1, config.get("out_features"))
        return (*shape[:-1], out if type(out) is int else None) if shape else None
    if kind in ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d") and len(shape) in (3, 4):
        size = config.get(0, config.get("output_size"))
        size = (size, size) if type(size) is int else size
        if isinstance(size, tuple) and len(size) == 2:
            return (*shape[:-2], *(s if type(s) is int else None for s in size))
        return None
    if kind == "Conv2d" and len(shape) in (3, 4):
        out = config.get(1, config.get("out_channels"))
        return (*shape[:-3], out if type(out) is int else None, None, None)
    if kind == "Flatten":
        start, end = config.get(0, config.get("start_dim", 1)), config.get(1, config.get("end_dim", -1))
        return _reshaped(shape, "flatten", _Arguments([Constant(value=start), Constant(value=end)], None))
    return None
