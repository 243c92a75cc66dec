"""Every shape gradwatch proves for an op is the shape torch gives, over a grid of inputs.

Each case is one call, `y<k> = <expression>`, on operands of known shapes
(ranks 0-4, sizes of 1 that broadcast, sizes gradwatch does not know: the
`[:n]` of a longer tensor) and with keyword values (`dim=`, `keepdim=`,
negative dims). The cases come from the measured op table (every op marked
`keeps_shape` or `numel: "scalar"`, called like its template) and from the
families of hand-written shape functions in gradwatch/analysis/shapes.py.

All the cases are analysed at once by gradwatch (the hover text of `y<k>`:
"Tensor of shape (...)") and run by torch on meta tensors (no memory, no
compute). A size gradwatch leaves unknown (`?`) matches any size; a rank it
claims must be torch's. Where torch raises, the line is never reached: a
claim there proves nothing either way, so such a case is not counted (the
number of them is printed). An op counts as verified when gradwatch proved
its shape in at least one case that torch ran, and in none got it wrong.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import defaultdict

import pytest

from gradwatch.analysis import op_table, shapes
from gradwatch.checker import check_source

torch = pytest.importorskip("torch")

MIN_VERIFIED_OPS = 150
PRELUDE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\ntwo = int('2')\n"
LINES_PER_FILE = 1500  # well within the analysis budget of one file (12,000 steps)

# ---------------------------------------------------------------- operands

_operands: dict = {}  # name -> source


def operand(shape: tuple, kind: str = "f", partial: bool = False) -> str:
    """The name of a tensor operand of this shape, defined once in the prelude. `kind`:
    f float, m bool mask, i int64 indices in [0, 2); `partial`: its first size is not
    known to gradwatch (a slice of a longer tensor)."""
    sizes = "_".join(map(str, shape))
    name = f"{kind}{'p' if partial else ''}_{sizes}"
    if name not in _operands:
        made = (shape[0] + 2, *shape[1:]) if partial else shape
        sizes = tuple_text(made)
        made_as = {"f": f"torch.randn({sizes})", "m": f"(torch.randn({sizes}) > 0)", "i": f"torch.randint(0, 2, {sizes})"}
        _operands[name] = made_as[kind] + (f"[:{shape[0]}]" if partial else "")
    return name


def tuple_text(sizes: tuple) -> str:
    return "(" + ", ".join(map(str, sizes)) + ("," if len(sizes) == 1 else "") + ")"


A_SHAPES = [(), (5,), (1,), (4, 5), (4, 1), (3, 1, 5), (2, 3, 4, 5), (2, 1, 4, 1)]
PARTIAL_SHAPES = [(4, 5), (2, 3, 4, 5)]


def each_a(kind: str = "f", min_rank: int = 0):
    """Operands of every grid shape (and partly known ones) of at least `min_rank`."""
    for shape in A_SHAPES:
        if len(shape) >= min_rank:
            yield shape, operand(shape, kind)
    for shape in PARTIAL_SHAPES:
        if len(shape) >= min_rank:
            yield (None, *shape[1:]), operand(shape, kind, partial=True)


def dims(rank: int) -> list:
    """Every valid dim of a tensor of this rank, and one past the end (torch raises)."""
    return list(range(-max(rank, 1), max(rank, 1))) + [max(rank, 1)]


# ---------------------------------------------------------------- cases from the op table

_TABLE = json.loads(op_table.SHIPPED_TABLE.read_text())
_KINDS = {"mask": "m", "flag": "m", "idx": "i", "ix": "i", "cls": "i"}
# Sizes of every operand in turn (the others keep the first shape): equal, broadcast, not broadcastable.
_BROADCAST_GRID = [(4, 5), (5,), (1, 5), (4, 1), (), (3, 4, 5), (3, 5)]
_SAME_GRID = [(), (5,), (4, 5), (3, 1, 5), (2, 3, 4, 5), (4, 4), (3, 4, 4)]


def _spelled(name: str, record: dict, args: str) -> str:
    """The call of op `name` as its template (`args`) writes it."""
    short = name.replace("torch.nn.functional.", "F.").replace("torch.nn.", "nn.")
    kind = record.get("kind")
    if kind == "module":
        return args
    if kind in ("method", "property"):
        call = ast_call(args)
        receiver, rest = call[0], call[1:]
        member = name.rsplit(".", 1)[1]
        if kind == "property":
            return f"{receiver}.{member}"
        if record.get("inplace") or member.startswith("__i"):
            receiver = f"{receiver}.clone()"  # the prelude's operands are shared by every case
        return f"{receiver}.{member}({', '.join(rest)})"
    if record.get("inplace"):
        first, *rest = ast_call(args)
        return f"{short}({', '.join([first + '.clone()', *rest])})"
    return short + args


def ast_call(args: str) -> list:
    import ast

    call = ast.parse("f" + args, mode="eval").body
    return [ast.unparse(a) for a in call.args] + [ast.unparse(k) for k in call.keywords]


def _substituted(template: str, names: dict) -> str:
    """The template with each operand name replaced (`a` -> `f_4_5`)."""
    return re.sub(r"\b[a-z][a-z0-9]*\b", lambda m: names.get(m.group(0), m.group(0)), template)


def table_cases():
    """Every op whose shape the op table's measurements give (`keeps_shape`: the broadcast of
    its operands; numel "scalar": one element), called like its template on the grid."""
    kinds = _TABLE["operand_kinds"]
    for name, record in sorted(_TABLE["ops"].items()):
        if not (record.get("keeps_shape") or record.get("numel") == "scalar") or name.endswith("__setitem__"):
            continue
        template = _spelled(name, record, record["args"])
        used = [w for w in dict.fromkeys(re.findall(r"\b[a-z][a-z0-9]*\b", record["args"])) if w in kinds]
        if not used:
            continue
        grids = [[shape] * len(used) for shape in _SAME_GRID]
        for position in range(len(used)) if len(used) > 1 else ():
            for other in _BROADCAST_GRID:
                grids.append([other if i == position else (4, 5) for i in range(len(used))])
        for grid in grids:
            names = {w: operand(shape, _KINDS.get(w, "f")) for w, shape in zip(used, grid)}
            yield name, _substituted(template, names)
        # one operand partly known
        names = {w: operand((4, 5), _KINDS.get(w, "f"), partial=(i == 0)) for i, w in enumerate(used)}
        yield name, _substituted(template, names)


# ---------------------------------------------------------------- hand-written families


def both(op: str, call: str):
    """`torch.op(x, ...)` and `x.op(...)` for `call` written as "{x}, <rest>"."""
    receiver, _, rest = call.partition(", ")
    yield f"torch.{op}", f"torch.{op}({call})"
    yield f"torch.Tensor.{op}", f"{receiver}.{op}({rest})"


def reduction_cases():
    for op in sorted(shapes._REDUCTIONS):
        for shape, a in each_a():
            yield f"torch.Tensor.{op}", f"{a}.{op}()"
            for d in dims(len(shape)):
                if op == "norm":
                    yield from both(op, f"{a}, 2, {d}")
                    yield from both(op, f"{a}, dim={d}, keepdim=True")
                    continue
                if op in ("max", "min", "median"):
                    yield f"torch.{op}", f"torch.{op}({a}, {d})[0]"
                    yield f"torch.Tensor.{op}", f"{a}.{op}({d}, keepdim=True)[1]"
                    yield f"torch.Tensor.{op}", f"{a}.{op}(dim={d}).values"
                    continue
                yield from both(op, f"{a}, {d}")
                yield from both(op, f"{a}, dim={d}, keepdim=True")
                if op in ("std", "var"):
                    yield from both(op, f"{a}, {d}, True, True")
            if len(shape) >= 2:
                yield from both(op, f"{a}, dim=(0, -1)")
                yield from both(op, f"{a}, (1, 0), keepdim=True")


def reshape_cases():
    for shape, a in each_a():
        rank = len(shape)
        yield from both("flatten", f"{a}")
        for d in dims(rank):
            yield from both("unsqueeze", f"{a}, {d}")
            yield from both("squeeze", f"{a}, {d}")
            yield from both("flatten", f"{a}, {d}")
            yield from both("flatten", f"{a}, 0, {d}")
            yield "torch.Tensor.flatten", f"{a}.flatten(start_dim=1, end_dim={d})"
        yield from both("squeeze", f"{a}")
        for sizes in ["-1", "(-1,)", "2, -1", "-1, 5", "(5, 4)", "20", "1, 20", "2, 3, -1", "6, -1", "-1, 2, 2"]:
            yield "torch.Tensor.view", f"{a}.view({sizes})"
            yield "torch.Tensor.reshape", f"{a}.reshape({sizes})"
            yield "torch.reshape", f"torch.reshape({a}, {sizes if sizes.startswith('(') else '(' + sizes + ',)'})"
        for d0 in dims(rank):
            for d1 in dims(rank):
                yield from both("transpose", f"{a}, {d0}, {d1}")
                yield from both("swapaxes", f"{a}, {d0}, {d1}")
                yield from both("swapdims", f"{a}, {d0}, {d1}")
                yield from both("movedim", f"{a}, {d0}, {d1}")
                yield from both("moveaxis", f"{a}, ({d0}, {d1}), (0, -1)")
        yield from both("t", f"{a}")
        for op in ("atleast_1d", "atleast_2d", "atleast_3d"):
            yield f"torch.{op}", f"torch.{op}({a})"
            yield f"torch.{op}", f"torch.{op}({a}, {a})[0]"
        yield "torch.Tensor.T", f"{a}.T"
        yield "torch.Tensor.mT", f"{a}.mT"
        for order in ["0", "-1", "1, 0", "(1, 0)", "0, 2, 1", "2, 0, 1", "(3, 1, 2, 0)", "-1, 0, 1, 2", "0, 0, 1"]:
            yield "torch.Tensor.permute", f"{a}.permute({order})"
            yield "torch.permute", f"torch.permute({a}, {order if order.startswith('(') else '(' + order + ',)'})"


def product_cases():
    shapes_ = [(5,), (3,), (4, 5), (5, 3), (2, 4, 5), (2, 5, 3), (1, 5, 3), (3, 2, 4, 5), (4, 1)]
    for first in shapes_:
        for second in shapes_:
            a, b = operand(first), operand(second)
            yield "torch.matmul", f"torch.matmul({a}, {b})"
            yield "torch.Tensor.__matmul__", f"{a} @ {b}"
            yield from both("mm", f"{a}, {b}")
            yield from both("bmm", f"{a}, {b}")
            yield from both("mv", f"{a}, {b}")
            yield from both("dot", f"{a}, {b}")
            yield from both("outer", f"{a}, {b}")
            yield from both("ger", f"{a}, {b}")
            yield from both("addr", f"{operand((5, 5))}, {a}, {b}")
    partial_a, partial_b = operand((4, 5), partial=True), operand((5, 3), partial=True)
    yield "torch.matmul", f"torch.matmul({partial_a}, {operand((5, 3))})"
    yield "torch.mm", f"torch.mm({operand((4, 5))}, {partial_b})"
    yield "torch.bmm", f"torch.bmm({operand((2, 4, 5))}, {operand((2, 5, 3), partial=True)})"
    for bias in [(4, 3), (3,), (1, 3), (), (4, 1), (2, 3), (2, 4, 3), (1, 4, 3)]:
        c = operand(bias)
        yield from both("addmm", f"{c}, {operand((4, 5))}, {operand((5, 3))}")
        yield from both("baddbmm", f"{c}, {operand((2, 4, 5))}, {operand((2, 5, 3))}")
        yield from both("addmv", f"{c}, {operand((3, 5))}, {operand((5,))}")
    for equation, sizes in [
        ("ij,jk->ik", [(4, 5), (5, 3)]),
        ("bij,bjk->bik", [(2, 4, 5), (2, 5, 3)]),
        ("ij->ji", [(4, 5)]),
        ("ii->i", [(4, 4)]),
        ("ij->", [(4, 5)]),
        ("i,j->ij", [(4,), (5,)]),
        ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 1, 5)]),
        ("...ij,...jk->...ik", [(2, 4, 5), (5, 3)]),
        ("ij,jk", [(4, 5), (5, 3)]),
        ("ba,ab->a", [(4, 5), (5, 4)]),
        ("i j, j k -> i k", [(4, 5), (5, 3)]),
        ("ij,jk->ik", [(4, 5), (6, 3)]),
        ("ij,ij->i", [(4, 5), (1, 5)]),
        ("ij,ij->i", [(4, 5), (4, 5)]),
        ("bij,bjk->bik", [(1, 4, 5), (2, 5, 3)]),
    ]:
        tensors = ", ".join(operand(s) for s in sizes)
        yield "torch.einsum", f"torch.einsum({equation!r}, {tensors})"
        yield "torch.einsum", f"torch.einsum({equation!r}, [{tensors}])"
    yield "torch.einsum", f"torch.einsum('ij,jk->ik', {partial_a}, {operand((5, 3))})"


def joining_cases():
    for shape, a in each_a():
        for other in [shape, tuple(2 if s is None else s for s in shape)[:-1] + (3,) if shape else ()]:
            b = operand(tuple(4 if s is None else s for s in other))
            for d in dims(len(shape) + 1):
                yield "torch.stack", f"torch.stack([{a}, {a}, {a}], {d})"
                yield "torch.stack", f"torch.stack(({a}, {b}), dim={d})"
                for op in ("cat", "concat", "concatenate"):
                    yield f"torch.{op}", f"torch.{op}([{a}, {b}], {d})"
                    yield f"torch.{op}", f"torch.{op}(({a}, {a}, {b}), dim={d})"
        yield "torch.cat", f"torch.cat([{a}, {a}])"
        yield "torch.stack", f"torch.stack([{a}])"


def indexing_cases():
    index = operand((2,), "i")
    mask = operand((4,), "m")
    for shape, a in each_a():
        for subscript in [
            "0", "-1", ":", "1:3", "::2", "None", "...", "..., 0", "0, :", ":, 1", ":, None, :", "None, ..., None",
            "0, 0", "0, ..., 0", "{i}", ":, {i}", "{i}, 0", "0, :, {i}", "..., {i}", "{m}", "{i}, {i}",
            ":, :, :, :, :",
        ]:  # fmt: skip
            yield "torch.Tensor.__getitem__", f"{a}[{subscript.format(i=index, m=mask)}]"


def selecting_cases():
    for shape, a in each_a():
        rank = len(shape)
        for d in dims(rank):
            yield from both("narrow", f"{a}, {d}, 0, 1")
            yield from both("narrow", f"{a}, {d}, 1, 2")
            yield from both("select", f"{a}, {d}, 0")
            yield from both("select", f"{a}, {d}, -1")
            yield from both("index_select", f"{a}, {d}, {operand((3,), 'i')}")
            yield from both("index_select", f"{a}, {d}, {operand((), 'i')}")
            for index_shape in [shape, (1,) * rank, tuple(1 if i % 2 else s for i, s in enumerate(shape)), (4, 2)]:
                index = operand(tuple(3 if s is None else s for s in index_shape), "i")
                yield from both("gather", f"{a}, {d}, {index}")
                yield from both("take_along_dim", f"{a}, {index}, {d}")
            for op in ("cumsum", "cumprod", "softmax", "log_softmax", "logcumsumexp"):
                yield from both(op, f"{a}, {d}")
                yield from both(op, f"{a}, dim={d}")
            yield "torch.nn.functional.softmax", f"F.softmax({a}, dim={d})"
            yield "torch.nn.functional.log_softmax", f"F.log_softmax({a}, {d})"
            yield from both("roll", f"{a}, 1, {d}")
            yield from both("flip", f"{a}, ({d},)")
            yield from both("flip", f"{a}, [0, {d}]")
            yield "torch.sort", f"torch.sort({a}, {d})[0]"
            yield "torch.Tensor.sort", f"{a}.sort({d})[1]"
            yield "torch.Tensor.sort", f"{a}.sort(dim={d}, descending=True)[1]"
            yield from both("argsort", f"{a}, {d}")
            yield "torch.topk", f"torch.topk({a}, 1, {d})[0]"
            yield "torch.Tensor.topk", f"{a}.topk(2, dim={d}).indices"
        yield "torch.Tensor.sort", f"{a}.sort()[0]"
        yield "torch.topk", f"torch.topk({a}, 2)[1]"
        yield from both("roll", f"{a}, 1")
        yield from both("roll", f"{a}, (1, 1), (0, 1)")
        for op in ("tril", "triu"):
            yield from both(op, f"{a}")
            yield from both(op, f"{a}, -1")
            yield from both(op, f"{a}, diagonal=1")
        yield from both("diagonal", f"{a}")
        yield from both("diagonal", f"{a}, 1")
        yield from both("diagonal", f"{a}, 0, -2, -1")
        yield from both("diagonal", f"{a}, dim1=1, dim2=0")
        yield from both("diagonal", f"{a}, -1, 0, 1")
        yield from both("diagonal", f"{a}, 9")


def elementwise_keyword_cases():
    """Ops measured as keeping the broadcast shape, with other operands and keywords than
    their templates: `where`, `masked_fill`, `clamp` by tensors, binary operators."""
    for first in _BROADCAST_GRID:
        for second in _BROADCAST_GRID:
            a, b, m = operand(first), operand(second), operand(second, "m")
            yield "torch.where", f"torch.where({m}, {a}, {b})"
            yield "torch.where", f"torch.where({m}, {a}, 0.0)"
            yield "torch.where", f"torch.where({m})[0]"
            yield "torch.Tensor.where", f"{a}.where({m}, {b})"
            yield "torch.Tensor.masked_fill", f"{a}.masked_fill({m}, 0.0)"
            yield "torch.masked_fill", f"torch.masked_fill({a}, {m}, 1.0)"
            yield "torch.Tensor.masked_fill_", f"{a}.clone().masked_fill_({m}, 0.0)"
            yield "torch.clamp", f"torch.clamp({a}, min={b})"
            for operator in ("+", "-", "*", "/", "**", "<", "==", "//", "%"):
                yield f"torch.Tensor.__{_DUNDER[operator]}__", f"{a} {operator} {b}"
            yield "torch.Tensor.add_", f"{a}.clone().add_({b})"
            yield "torch.maximum", f"torch.maximum({a}, {b})"
            yield "torch.max", f"torch.max({a}, {b})"
            yield "torch.Tensor.min", f"{a}.min({b})"
            yield "torch.nn.functional.mse_loss", f"F.mse_loss({a}, {b}, reduction='none')"


_DUNDER = {
    "+": "add", "-": "sub", "*": "mul", "/": "truediv", "**": "pow", "<": "lt", "==": "eq",
    "//": "floordiv", "%": "mod",
}  # fmt: skip


def expanding_cases():
    for shape, a in each_a():
        for sizes in ["4, 5", "(4, 5)", "-1, 5", "3, -1, -1", "2, 3, 4, 5", "3, 1", "-1", "[2, 4, 1]", "2, 2, -1, 5"]:
            yield "torch.Tensor.expand", f"{a}.expand({sizes})"
            times = sizes.replace("-1", "1")
            yield "torch.Tensor.repeat", f"{a}.repeat({times})"
            yield "torch.tile", f"torch.tile({a}, {times if times[0] in '([' else '(' + times + ',)'})"
            yield "torch.Tensor.tile", f"{a}.tile({times})"
        for other in [(4, 5), (3, 4, 5), (1, 5), (2, 3, 4, 5)]:
            yield "torch.Tensor.expand_as", f"{a}.expand_as({operand(other)})"
        yield "torch.Tensor.repeat", f"{a}.repeat(())"
        for chunks in (1, 2, 3, 5):
            for d in dims(len(shape)):
                for item in (0, -1):
                    yield from both("chunk", f"{a}, {chunks}, {d}")
                    yield "torch.Tensor.chunk", f"{a}.chunk({chunks}, dim={d})[{item}]"
                    yield "torch.split", f"torch.split({a}, {chunks}, {d})[{item}]"
                    yield "torch.Tensor.split", f"{a}.split({chunks}, dim={d})[{item}]"
                    yield "torch.Tensor.split", f"{a}.split([1, {chunks}], {d})[{item}]"
                    yield "torch.Tensor.unbind", f"{a}.unbind({d})[{item}]"
            yield "torch.chunk", f"torch.chunk({a}, {chunks})[0]"
            yield "torch.Tensor.split", f"{a}.split({chunks})[-1]"


def module_cases():
    seq = {(2, 3, 10): operand((2, 3, 10)), (3, 10): operand((3, 10)), (2, 7, 3): operand((2, 7, 3))}
    img = {s: operand(s) for s in [(2, 3, 9, 8), (3, 9, 8), (2, 3, 1, 1), (2, 3, 9)]}
    img_partial = operand((2, 3, 9, 8), partial=True)
    vol = {s: operand(s) for s in [(2, 3, 6, 7, 8), (3, 6, 7, 8)]}
    for x in [*seq.values(), *img.values(), img_partial, *vol.values(), operand((4, 3)), operand((3,))]:
        yield "torch.nn.Linear", f"nn.Linear(3, 6)({x})"
        yield "torch.nn.Flatten", f"nn.Flatten()({x})"
        yield "torch.nn.Flatten", f"nn.Flatten(0, -2)({x})"
        yield "torch.nn.LayerNorm", f"nn.LayerNorm({x.rsplit('_', 1)[-1]})({x})"
        yield "torch.nn.BatchNorm1d", f"nn.BatchNorm1d(3)({x})"
        yield "torch.nn.BatchNorm2d", f"nn.BatchNorm2d(3)({x})"
        for scale in ("size=(12, 14)", "size=5", "scale_factor=2", "size=(3, 4, 5)"):
            yield "torch.nn.functional.interpolate", f"F.interpolate({x}, {scale})"
            yield "torch.nn.functional.upsample", f"F.upsample({x}, {scale})"
        for output in ("1", "(3,)", "(2, 3, 4)", "(None, 2, None)"):
            yield "torch.nn.AdaptiveAvgPool1d", f"nn.AdaptiveAvgPool1d({output})({x})"
            yield "torch.nn.AdaptiveMaxPool3d", f"nn.AdaptiveMaxPool3d({output})({x})"
        yield "torch.nn.Conv2d", f"nn.Conv2d(3, 8, 3, two)({x})"  # a stride not known here
        yield "torch.nn.MaxPool2d", f"nn.MaxPool2d(3, padding=two - 1)({x})"
        yield "torch.nn.Flatten", f"nn.Flatten(two)({x})"
        yield "torch.nn.GroupNorm", f"nn.GroupNorm(1, 3)({x})"
        for output in ("1", "(2, 3)", "(None, 3)", "4"):
            yield "torch.nn.AdaptiveAvgPool2d", f"nn.AdaptiveAvgPool2d({output})({x})"
            yield "torch.nn.AdaptiveMaxPool2d", f"nn.AdaptiveMaxPool2d({output})({x})"
        for config in ["3, 8, 3", "3, 8, 3, stride=2", "3, 8, (3, 2), padding=1", "3, 8, 3, padding='same'",
                       "3, 8, kernel_size=2, stride=(2, 1), dilation=2", "3, 6, 1, groups=3", "4, 8, 3",
                       "3, 8, 3, 1, 2, 2", "3, 8, 5, padding=2, bias=False", "3, 8, 3, padding=(1, 0)"]:  # fmt: skip
            for kind in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"):
                if "same" in config and "Transpose" in kind:
                    continue
                yield f"torch.nn.{kind}", f"nn.{kind}({config})({x})"
        for config in ["2", "3", "2, 1", "3, 2, 1", "(2, 3)", "kernel_size=3, stride=1, padding=1", "2, ceil_mode=True",
                       "3, 2, 1, ceil_mode=True", "2, stride=(1, 2)"]:  # fmt: skip
            for kind in ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d"):
                yield f"torch.nn.{kind}", f"nn.{kind}({config})({x})"
    for indices in [operand((4,), "i"), operand((2, 3), "i"), operand((), "i"), operand((2, 3), "i", partial=True)]:
        yield "torch.nn.Embedding", f"nn.Embedding(10, 4)({indices})"
        yield "torch.nn.Embedding", f"nn.Embedding(num_embeddings=10, embedding_dim=7)({indices})"
        yield "torch.nn.functional.embedding", f"F.embedding({indices}, {operand((10, 4))})"
    for x in [*seq.values(), operand((3,))]:
        for config in ["10, 4", "10, 4, 2", "10, 4, batch_first=True", "10, 4, bidirectional=True",
                       "10, 4, num_layers=3, bidirectional=True, batch_first=True",
                       "10, 4, 1, True, True"]:  # fmt: skip
            for kind in ("RNN", "GRU", "LSTM"):
                yield f"torch.nn.{kind}", f"nn.{kind}({config})({x})[0]"
                yield f"torch.nn.{kind}", f"nn.{kind}({config})({x})[1]" + ("[0]" if kind == "LSTM" else "")
                if kind == "LSTM":
                    yield f"torch.nn.{kind}", f"nn.{kind}({config})({x})[1][1]"
                    yield f"torch.nn.{kind}", f"nn.{kind}({config}, proj_size=2)({x})[1][0]"
                    yield f"torch.nn.{kind}", f"nn.{kind}({config}, proj_size=2)({x})[0]"
            yield "torch.nn.LSTM", f"nn.LSTM(10, 4, batch_first=two > 1)({x})[0]"  # not known here
            yield "torch.nn.GRU", f"nn.GRU(10, 4, two)({x})[1]"


FAMILIES = [
    table_cases, reduction_cases, reshape_cases, product_cases, joining_cases, indexing_cases, selecting_cases,
    elementwise_keyword_cases, expanding_cases, module_cases,
]  # fmt: skip


# ---------------------------------------------------------------- running them


def proved_shapes(lines: list[str]) -> dict:
    """Line number (in `lines`) -> the shape gradwatch proves for its `y<k>`, or None."""
    result = {}
    for start in range(0, len(lines), LINES_PER_FILE):
        chunk = lines[start : start + LINES_PER_FILE]
        text = (
            PRELUDE
            + "".join(f"{name} = {source}\n" for name, source in _operands.items())
            + "".join(f"y{start + k} = {line}\n" for k, line in enumerate(chunk))
            + "torch.ones(1, requires_grad=True).sum().backward()\n"  # names are described where backward runs
        )
        for line, sizes in hover_sizes(text).items():
            result[line] = tuple(None if s == "?" else int(s) for s in sizes)
    return result


def hover_sizes(text: str) -> dict[int, list[str]]:
    """k -> the sizes the hover of `y<k>` names, as written (`4`, `?`, `batch`), for each `y<k>`
    with a proved shape in `text` (which must analyse: no GW001 or GW002)."""
    checked = check_source(text)
    assert not any(f.code in ("GW001", "GW002") for f in checked.findings), checked.findings[:3]
    found = {}
    for name in checked.names:
        if name.name.startswith("y") and name.name[1:].isdigit():
            match = re.search(r"Tensor of shape \(([^)]*)\)", name.description)
            if match:
                found[int(name.name[1:])] = [s.strip() for s in match.group(1).split(",") if s.strip()]
    return found


def torch_shapes(lines: list[str]) -> dict:
    """Line number -> the shape torch gives on meta tensors; absent where torch raises."""
    result = {}
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Meta kernels resize the output of an in-place op to the broadcast shape (with this
        # warning) where torch on a device raises.
        warnings.filterwarnings("error", message="An output with one or more elements was resized")
        namespace = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional, "two": 2}
        for name, source in _operands.items():
            namespace[name] = eval(source, namespace)
        made = {name: namespace[name].shape for name in _operands}
        for k, line in enumerate(lines):
            try:
                value = eval(line, namespace)
            except Exception:  # noqa: BLE001 - torch refuses these inputs: the case is not counted
                continue
            finally:
                if re.search(r"[a-z]_\(", line):  # in place: on a copy, the operands are shared
                    assert all(namespace[name].shape == made[name] for name in made), f"{line} resized an operand"
            if isinstance(value, torch.Tensor):
                result[k] = tuple(value.shape)
    return result


def agrees(proved: tuple, actual: tuple) -> bool:
    return len(proved) == len(actual) and all(p is None or p == a for p, a in zip(proved, actual))


@pytest.fixture(scope="module")
def outcome():
    cases = list(dict.fromkeys(case for family in FAMILIES for case in family()))
    lines = [expression for _, expression in cases]
    proved, actual = proved_shapes(lines), torch_shapes(lines)
    verified, wrong, raised = defaultdict(int), [], []
    for k, (op, expression) in enumerate(cases):
        if k not in proved:
            continue
        if k not in actual:
            raised.append((op, expression, proved[k]))
        elif agrees(proved[k], actual[k]):
            verified[op] += 1
        else:
            wrong.append((op, expression, proved[k], actual[k]))
    return cases, verified, wrong, raised


def test_every_proved_shape_is_the_one_torch_gives(outcome):
    cases, verified, wrong, raised = outcome
    print(f"\n{len(cases)} cases; proved and run by torch: {sum(verified.values())}; "
          f"proved where torch raises (never reached): {len(raised)}")  # fmt: skip
    assert not wrong, "\n".join(f"{op}: {e} proved {p}, torch {a}" for op, e, p, a in wrong[:40])


def test_the_shape_functions_of_at_least_150_ops_are_verified(outcome):
    _, verified, wrong, _ = outcome
    ops = set(verified) - {op for op, *_ in wrong}
    print(f"\nverified ops: {len(ops)}")
    assert len(ops) >= MIN_VERIFIED_OPS, sorted(ops)


MODULES = {
    "Linear", "Embedding", "Flatten", "LayerNorm", "BatchNorm1d", "BatchNorm2d", "GroupNorm", "RNN", "GRU", "LSTM",
    *(f"{kind}{n}d" for kind in ("Conv", "ConvTranspose", "MaxPool", "AvgPool") for n in (1, 2, 3)),
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
}  # fmt: skip


def test_every_shape_function_is_verified(outcome):
    """A shape function added to shapes.py without cases here would not be verified."""
    _, verified, _, _ = outcome
    names = {op.rsplit(".", 1)[-1] for op in verified}
    assert set(shapes._RULES) <= names, set(shapes._RULES) - names
    assert MODULES <= names, MODULES - names
