"""The shapes users already write: jaxtyping annotations and `assert`s on shapes.

- A parameter annotated `x: Float[Tensor, "batch 3"]` (jaxtyping, read from the
  syntax: neither jaxtyping nor the user's code is imported) enters its function
  as a tensor of that shape: a named dim is a Symbol, shared by the function's
  parameters that use the name; an integer is that size; `_`, `#name` and
  expressions (`dim+1`) are sizes not known; `*name` and `...` leave the rank
  unknown (no shape). `Int`/`UInt`/`Integer`/`Bool` make an integer tensor. When a
  call is followed, the caller's value wins: the annotation only fills what it
  does not prove (`fill_arguments`).
- After `assert x.shape == (B, 3)` (also `tuple(x.shape)`, `x.size()`,
  `torch.Size([...])`, `y.shape`), `assert x.shape[1] == 3` (`x.size(1)`) and
  `assert x.ndim == 2` (`x.dim()`, `len(x.shape)`), joined by `and`, x has that
  shape: the assert passing is the only way on. An integer literal or a name
  bound to a known int is exact; another name becomes a symbol when the function
  binds it once at most (a parameter, `B = x.shape[0]`), else the size is not known.

A size the code already proves is never replaced by a written one (a symbol only
by an int). `Float` must be imported from `jaxtyping` at the module's top level
(an import under `if TYPE_CHECKING:` is not seen); a parameter whose default is
None gets no shape. `typing.Annotated[Tensor, ...]` has no common convention for
shapes: it is not read.
"""

from __future__ import annotations

import ast
import re

from gradwatch.analysis.shapes import Symbol, is_size, multi_element
from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import dotted
from gradwatch.analysis.values import UNKNOWN, UNKNOWN_TENSOR, UNKNOWN_VALUE, Constant, Imported, Tensor

# jaxtyping's dtype markers that say the tensor holds integers or bools (the others say nothing of it).
_INTEGER = re.compile(r"(?:Int|UInt|Integer|Bool)\d*")
_DTYPES = re.compile(r"(?:Float|BFloat|Int|UInt|Integer|Bool|Complex|Num|Real|Inexact|Shaped)\d*")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_VARIADIC = object()


# ---------------------------------------------------------------- jaxtyping annotations


def parameter_tensors(ev, function: ast.FunctionDef) -> dict[str, Tensor]:
    """Parameter name -> the tensor its jaxtyping annotation describes (annotated ones only)."""
    scope = f"{function.name}:{function.lineno}"
    positional = function.args.posonlyargs + function.args.args
    defaults = [None] * (len(positional) - len(function.args.defaults)) + function.args.defaults
    found = {}
    for arg, default in zip(positional + function.args.kwonlyargs, defaults + function.args.kw_defaults):
        if isinstance(default, ast.Constant) and default.value is None:
            continue  # `x: Float[Tensor, "b"] = None`: maybe no tensor
        described = _annotated(ev, arg.annotation, scope) if arg.annotation is not None else None
        if described is not None:
            shape, integer = described
            # The annotation is where the sizes come from: a shape error cites it.
            origin = ev.reason(arg, f"the annotation of `{arg.arg}`")
            found[arg.arg] = Tensor(
                shape=shape, multi_element=multi_element(shape), integer=integer, deps=None, origin=origin
            )
    return found


def fill_arguments(ev, function: ast.FunctionDef, bound: dict) -> None:
    """A followed call's arguments (`bound`, parameter name -> value): where a parameter's
    annotation describes what the caller's value does not prove, fill it in. A symbol the
    caller's tensors give one size (an int, or the caller's own symbol) takes it."""
    annotated = parameter_tensors(ev, function)
    if not annotated:
        return
    sizes: dict = {}
    for name, tensor in annotated.items():
        actual = bound.get(name)
        if isinstance(actual, Tensor) and actual.shape is not None and tensor.shape is not None:
            if len(actual.shape) == len(tensor.shape):
                for written, size in zip(tensor.shape, actual.shape):
                    if isinstance(written, Symbol) and size is not None:
                        sizes.setdefault(written, set()).add(size)
    known = {symbol: next(iter(each)) for symbol, each in sizes.items() if len(each) == 1}
    for name, tensor in annotated.items():
        shape = tensor.shape and tuple(known.get(size, size) for size in tensor.shape)
        actual = bound.get(name)
        if actual is UNKNOWN_VALUE:
            bound[name] = tensor.but(shape=shape, multi_element=multi_element(shape))
        elif isinstance(actual, Tensor):
            bound[name] = _refined(actual, shape)


def _annotated(ev, annotation: ast.AST, scope: str) -> tuple | None:
    """(shape, integer) of a `Float[Tensor, "batch 3"]` annotation; None for any other."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body  # `x: "Float[Tensor, 'b 3']"`
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
    if not isinstance(annotation, ast.Subscript) or not isinstance(annotation.slice, ast.Tuple):
        return None
    parts = annotation.slice.elts
    head = annotation.value
    marker = head.attr if isinstance(head, ast.Attribute) else getattr(head, "id", "")
    if len(parts) != 2 or not _DTYPES.fullmatch(marker) or not _is_tensor_type(parts[0]):
        return None
    if not (isinstance(parts[1], ast.Constant) and isinstance(parts[1].value, str)):
        return None
    origin = ev.eval(head, State(outer=ev.globals))
    if not (isinstance(origin, Imported) and origin.qualname.split(".", 1)[0] == "jaxtyping"):
        return None
    dims = [_dim(word, scope) for word in parts[1].value.split()]
    return (None if _VARIADIC in dims else tuple(dims)), bool(_INTEGER.fullmatch(marker))


def _is_tensor_type(node: ast.AST) -> bool:
    """`Tensor`, `torch.Tensor`: the array type of a torch annotation (not NumPy's, JAX's)."""
    return (isinstance(node, ast.Name) and node.id == "Tensor") or (
        isinstance(node, ast.Attribute) and node.attr == "Tensor"
    )


def _dim(word: str, scope: str):
    if word.startswith("*") or word == "..." or "*" in word[:2]:
        return _VARIADIC
    if word.isdigit():
        return int(word)
    if _NAME.fullmatch(word):  # (`_`, `_name`: not checked by jaxtyping, `#name`: may be 1)
        return Symbol(word, scope)
    return None


# ---------------------------------------------------------------- asserts


def refine(ev, test: ast.AST, state: State) -> None:
    """After `assert test` passed: the shapes it states."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        for value in test.values:
            refine(ev, value, state)
        return
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return
    left, right = test.left, test.comparators[0]
    for subject, stated in ((left, right), (right, left)):
        found = _stated_shape(ev, subject, stated, state)
        if found is not None:
            path, tensor, shape = found
            state.bind(path, _refined(tensor, shape))
            return


def _stated_shape(ev, subject: ast.AST, stated: ast.AST, state: State):
    """(path, its tensor, the shape `subject == stated` gives it) or None."""
    whole = _shape_of(subject)
    if whole is not None:
        path, tensor = _tensor(whole, state)
        sizes = _sizes(ev, stated, state)
        return None if tensor is None or sizes is None else (path, tensor, sizes)
    rank_of = _rank_of(subject)
    if rank_of is not None:
        path, tensor = _tensor(rank_of, state)
        rank = _size(ev, stated, state)
        if tensor is None or not is_size(rank) or rank < 0:
            return None
        return path, tensor, (None,) * rank
    indexed = _dim_of(subject)
    if indexed is not None:
        path, tensor = _tensor(indexed[0], state)
        if tensor is None or tensor.shape is None or not -len(tensor.shape) <= indexed[1] < len(tensor.shape):
            return None
        size = _size(ev, stated, state)
        shape = list(tensor.shape)
        shape[indexed[1]] = size
        return path, tensor, tuple(shape)
    return None


def _shape_of(node: ast.AST) -> ast.AST | None:
    """The tensor expression of `x.shape`, `x.size()`, `tuple(x.shape)`, `list(x.size())`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tuple", "list"):
        node = node.args[0] if len(node.args) == 1 and not node.keywords else None
    if isinstance(node, ast.Attribute) and node.attr == "shape":
        return node.value
    if isinstance(node, ast.Call) and not node.args and not node.keywords and _method(node) == "size":
        return node.func.value
    return None


def _rank_of(node: ast.AST) -> ast.AST | None:
    """The tensor expression of `x.ndim`, `x.dim()`, `x.ndimension()`, `len(x.shape)`."""
    if isinstance(node, ast.Attribute) and node.attr == "ndim":
        return node.value
    if isinstance(node, ast.Call) and not node.args and not node.keywords and _method(node) in ("dim", "ndimension"):
        return node.func.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len" and len(node.args) == 1:
        return _shape_of(node.args[0])
    return None


def _dim_of(node: ast.AST) -> tuple | None:
    """(tensor expression, dim) of `x.shape[1]`, `x.size(1)`, `x.size()[1]`, `x.size(dim=1)`."""
    if isinstance(node, ast.Subscript):
        owner, index = _shape_of(node.value), _integer(node.slice)
        return (owner, index) if owner is not None and index is not None else None
    if isinstance(node, ast.Call) and _method(node) == "size":
        given = node.args if not node.keywords else [k.value for k in node.keywords if k.arg == "dim"]
        index = _integer(given[0]) if len(given) == 1 and len(node.args) + len(node.keywords) == 1 else None
        return (node.func.value, index) if index is not None else None
    return None


def _method(node: ast.Call) -> str | None:
    return node.func.attr if isinstance(node.func, ast.Attribute) else None


def _integer(node: ast.AST) -> int | None:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if type(value) is int else None


def _tensor(node: ast.AST, state: State) -> tuple:
    """(path, value) of a name or attribute path the scope bound to a tensor, or of a name
    bound to a value not known (`.shape` shows an array: a tensor not known, as ops take it)."""
    path = dotted(node)
    value = state.bindings.get(path) if path is not None else None
    if value is UNKNOWN_VALUE and "." not in path:
        return path, UNKNOWN_TENSOR.but(deps=None)
    return (path, value) if isinstance(value, Tensor) else (None, None)


def _sizes(ev, node: ast.AST, state: State) -> tuple | None:
    """The sizes of `(B, 3)`, `[B, 3]`, `torch.Size([B, 3])`, `y.shape`/`y.size()` (y's proved shape)."""
    if isinstance(node, ast.Call) and _method(node) == "Size" and len(node.args) == 1 and not node.keywords:
        node = node.args[0]
    if isinstance(node, (ast.Tuple, ast.List)):
        if any(isinstance(item, ast.Starred) for item in node.elts):
            return None
        return tuple(_size(ev, item, state) for item in node.elts)
    other = _shape_of(node)
    if other is not None:
        path = dotted(other)
        value = state.lookup(path) if path is not None else None
        return value.shape if isinstance(value, Tensor) else None
    return None


def _size(ev, node: ast.AST, state: State):
    """One size as written: an int, a symbol, or None (not known)."""
    number = _integer(node)
    if number is not None:
        return number if number >= 0 else None
    indexed = _dim_of(node)
    if indexed is not None:  # `y.shape[0]`: y's size there
        path = dotted(indexed[0])
        value = state.lookup(path) if path is not None else None
        shape = value.shape if isinstance(value, Tensor) else None
        return shape[indexed[1]] if shape is not None and -len(shape) <= indexed[1] < len(shape) else None
    if not isinstance(node, ast.Name):
        return None
    value = state.lookup(node.id)
    if isinstance(value, Constant):
        return value.value if type(value.value) is int and value.value >= 0 else _named(ev, node.id)
    return _named(ev, node.id) if value is UNKNOWN_VALUE else None


def _named(ev, name: str) -> Symbol | None:
    """A symbol for a name the function binds once at most (so every mention is one size)."""
    function = ev.current_function
    if function is None:
        return None
    arguments = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
    stores = sum(
        1
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load)
    )
    stores += sum(arg.arg == name for arg in arguments)
    return Symbol(name, f"{function.name}:{function.lineno}:names") if stores <= 1 else None


def _refined(tensor: Tensor, stated: tuple | None) -> Tensor:
    """The tensor with what `stated` adds: a size where it has none, an int for a symbol;
    a rank that contradicts it keeps the tensor's own."""
    shape = tensor.shape
    if stated is None or (shape is not None and len(shape) != len(stated)):
        return tensor
    if shape is None:
        shape = stated
    else:
        shape = tuple(
            own if is_size(own) else new if is_size(new) else own if own is not None else new
            for own, new in zip(shape, stated)
        )
    counted = tensor.multi_element if tensor.multi_element is not UNKNOWN else multi_element(shape)
    return tensor.but(shape=shape, multi_element=counted)
