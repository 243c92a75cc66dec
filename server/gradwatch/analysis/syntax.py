"""Small questions about Python syntax the analysis asks everywhere."""

from __future__ import annotations

import ast
import weakref

from gradwatch.analysis.values import NO, UNKNOWN, Tri

INTEGER_DTYPES = {"torch." + name for name in "long int int64 int32 int16 int8 uint8 bool short".split()}
_DTYPE_ALIASES = {"torch.double": "torch.float64", "torch.float": "torch.float32", "torch.half": "torch.float16"}


# The legacy tensor types (`torch.LongTensor`: CPU tensors) by their dtype; `torch.cuda.<type>`
# is the same dtype on a GPU.
_LEGACY_TENSOR_TYPES = {
    "FloatTensor": "torch.float32",
    "DoubleTensor": "torch.float64",
    "HalfTensor": "torch.float16",
    "BFloat16Tensor": "torch.bfloat16",
    "LongTensor": "torch.int64",
    "IntTensor": "torch.int32",
    "ShortTensor": "torch.int16",
    "CharTensor": "torch.int8",
    "ByteTensor": "torch.uint8",
    "BoolTensor": "torch.bool",
}


def legacy_tensor_type(qualname: str) -> tuple[str, bool] | None:
    """(dtype, on a GPU) of a legacy tensor type's name (`torch.cuda.FloatTensor`); None for another."""
    parts = qualname.split(".")
    if parts[0] != "torch" or parts[-1] not in _LEGACY_TENSOR_TYPES or parts[1:-1] not in ([], ["cuda"]):
        return None
    return _LEGACY_TENSOR_TYPES[parts[-1]], parts[1:-1] == ["cuda"]


def canonical_dtype(qualname: str) -> str:
    """`torch.double` is `torch.float64`: one name per dtype."""
    return _DTYPE_ALIASES.get(qualname, qualname)


def literal_true(node: ast.AST | None) -> Tri:
    if node is None:
        return NO
    if isinstance(node, ast.Constant):
        return Tri.of(bool(node.value))
    return UNKNOWN


def keyword(node: ast.Call, name: str) -> ast.AST | None:
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value
    return None


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def inner_statements(statement: ast.AST):
    """`statement` and every statement inside its blocks, however deep. Expressions hold
    no statements: walking only blocks skips most of a function's nodes."""
    stack = [statement]
    while stack:
        node = stack.pop()
        yield node
        for block in _BLOCKS:
            inner = getattr(node, block, None)
            if isinstance(inner, list):
                stack.extend(inner)


def module_scope_names(tree: ast.Module) -> frozenset:
    """The names the module's own code binds at module level: assigned, imported, defined,
    looped over, caught, or declared `global` in a function. Such a name never comes from
    a `from M import *`, even where the analysis does not know its value."""
    names: set[str] = set()
    for statement in tree.body:
        # Per statement, kept while its tree lives: an edit re-parses only the statements it touched.
        bound = _BOUND_AT_MODULE_LEVEL.get(statement)
        if bound is None:
            bound = _BOUND_AT_MODULE_LEVEL[statement] = _names_bound(statement)
        names |= bound
    names.discard("*")
    return frozenset(names)


_BOUND_AT_MODULE_LEVEL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _names_bound(statement: ast.stmt) -> frozenset:
    names = set()
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            # `global` is a statement: the blocks are enough, not every expression in them.
            names.update(n for inner in inner_statements(node) if isinstance(inner, ast.Global) for n in inner.names)
        elif isinstance(node, ast.Lambda):
            continue
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".", 1)[0])
        else:
            if isinstance(node, ast.ExceptHandler) and node.name:
                names.add(node.name)
            stack.extend(ast.iter_child_nodes(node))
    return frozenset(names)


def dotted(node: ast.AST) -> str | None:
    """`self.fc` -> "self.fc"; None for anything that is not a chain of names."""
    kind = node.__class__  # the common cases first: asked at every call, attribute and assignment
    if kind is ast.Name:
        return node.id
    if kind is not ast.Attribute:
        return None
    if node.value.__class__ is ast.Name:
        return node.value.id + "." + node.attr
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


# node -> (the names and attribute names it uses, those of them it only calls)
_NAME_USES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Calls that call the function they are given, there and then (`self.apply(self._init_weights)`).
_APPLIERS = frozenset({"apply", "named_apply"})


def used_names(node: ast.AST) -> frozenset:
    """The names and attribute names a text uses (once per node)."""
    return _name_uses(node)[0]


def names_called_only(node: ast.AST) -> frozenset:
    """The names and attribute names `node` only calls (`helper(x)`, `self.make(x)`, a function
    handed to `apply`), never uses as a value it keeps or hands on (`self.act = helper`)."""
    return _name_uses(node)[1]


# How a node is used, handed down the walk in `_name_uses`.
_KEPT, _CALLED, _IN_APPLIED = 0, 1, 2  # a value; the callee of a call; inside what `apply` is given

_Name, _Attribute, _Call, _AST = ast.Name, ast.Attribute, ast.Call, ast.AST


def _name_uses(node: ast.AST) -> tuple[frozenset, frozenset]:
    """Both of the above in one walk (ast.walk's generators cost more than the walk does):
    parents come before their children, so each name is seen with how it is used."""
    known = _NAME_USES.get(node)
    if known is not None:
        return known
    called: set[str] = set()
    kept: set[str] = set()
    stack = [(node, _KEPT)]
    pop, push = stack.pop, stack.append
    while stack:
        item, use = pop()
        kind = item.__class__
        if kind is _Name:
            (called if use else kept).add(item.id)
            continue
        inner = _IN_APPLIED if use == _IN_APPLIED else _KEPT
        if kind is _Attribute:
            (called if use else kept).add(item.attr)
            push((item.value, inner))
            continue
        if kind is _Call:
            func = item.func
            push((func, use or _CALLED))
            callee = func.attr if func.__class__ is _Attribute else getattr(func, "id", None)
            given = _IN_APPLIED if callee in _APPLIERS else inner
            for argument in item.args:
                push((argument, given))
            for argument in item.keywords:
                push((argument, inner))
            continue
        for field in item._fields:
            value = getattr(item, field, None)
            if value.__class__ is list:
                for child in value:
                    if isinstance(child, _AST):
                        push((child, inner))
            elif isinstance(value, _AST):
                push((value, inner))
    known = _NAME_USES[node] = (frozenset(called | kept), frozenset(called - kept))
    return known
