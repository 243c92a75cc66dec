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
  absent otherwise.

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

FORMAT_VERSION = 1
PER_OP_BUDGET_SECONDS = 20.0
INPLACE_ERROR = "modified by an inplace operation"


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


# --------------------------------------------------------------- templates

# Tried in order for every function and method that has no override; the
# first that runs wins. `fn` is the op (an unbound method for Tensor methods).
GENERIC_TEMPLATES = [
    "fn(a)", "fn(a, b)", "fn(a, -1)", "fn(a, dim=-1)", "fn(a, 0)", "fn(a, 1)",
    "fn(a, b, c)", "fn(a, m)", "fn(m)", "fn(m, n)", "fn(spd)", "fn(spd, m)",
    "fn(a, 0, 1)", "fn(a, 1, 0, 2)", "fn(a, 3, 2)", "fn(a, (3, 2))",
    "fn(v)", "fn(v, w)", "fn(bm)", "fn(bm, bn)", "fn(bm, bn, bo)",
    "fn([a, b])", "fn([a, b], 0)", "fn(s)", "fn(p)", "fn(p, q)", "fn(pos)", "fn(pos, 1)",
    "fn(mask)", "fn(mask, flag)", "fn(ix)", "fn(idx)",
    "fn(seq)", "fn(seq, 2)", "fn(img)", "fn(img, 2)", "fn(vol)", "fn(vol, 2)",
    # factories: no tensor operand, recorded so that their results are known to be off the graph
    "fn(3)", "fn(2, 3)", "fn((2, 3), 0.5)", "fn(0.0, 1.0, 3)",
]

SCALAR_TEMPLATE = "fn(a, 2)"

# By short name, whichever namespace the op lives in. Several entries are
# there because the namespaces order arguments differently.
OVERRIDES: dict[str, list[str]] = {
    "__getitem__": ["fn(a, slice(0, 1))"],
    "__setitem__": ["fn(a, 0, v)"],
    "__matmul__": ["fn(a, m)"],
    "__rmatmul__": ["fn(a, n)"],
    **{name: ["fn(a, dim=-1)"] for name in ("softmax", "log_softmax", "softmin")},
    "expand": ["fn(v, 2, 3)"],
    "expand_as": ["fn(v, a)"],
    "broadcast_to": ["fn(v, (2, 3))"],
    "permute": ["fn(a, 1, 0)", "fn(a, (1, 0))"],
    "view": ["fn(a, 3, 2)"],
    "reshape": ["fn(a, 3, 2)", "fn(a, (3, 2))"],
    "view_as": ["fn(a, c.reshape(3, 2))"],
    "reshape_as": ["fn(a, c.reshape(3, 2))"],
    "as_strided": ["fn(a, (3, 2), (1, 3))"],
    "narrow": ["fn(a, 1, 0, 2)"],
    "select": ["fn(a, 0, 1)"],
    "gather": ["fn(a, 1, idx)"],
    "take_along_dim": ["fn(a, idx, 1)"],
    "scatter": ["fn(a, 1, idx, b)"],
    "scatter_": ["fn(a, 1, idx, b)"],
    "scatter_add": ["fn(a, 1, idx, b)"],
    "scatter_add_": ["fn(a, 1, idx, b)"],
    "scatter_reduce": ["fn(a, 1, idx, b, 'sum')"],
    "scatter_reduce_": ["fn(a, 1, idx, b, 'sum')"],
    "index_select": ["fn(a, 0, ix)"],
    "index_add": ["fn(a, 0, ix, b)"],
    "index_add_": ["fn(a, 0, ix, b)"],
    "index_copy": ["fn(a, 0, ix, b)"],
    "index_copy_": ["fn(a, 0, ix, b)"],
    "index_fill": ["fn(a, 1, ix, 0.5)"],
    "index_fill_": ["fn(a, 1, ix, 0.5)"],
    "masked_fill": ["fn(a, mask, 0.5)"],
    "masked_fill_": ["fn(a, mask, 0.5)"],
    "masked_select": ["fn(a, mask)"],
    "masked_scatter": ["fn(a, mask, b)"],
    "masked_scatter_": ["fn(a, mask, b)"],
    "where": ["fn(mask, a, b)", "fn(a, mask, b)"],
    "matmul": ["fn(a, m)"],
    "mm": ["fn(a, m)"],
    "addmm": ["fn(a, b, m)"],
    "addmm_": ["fn(a, b, m)"],
    "addmv": ["fn(v, m, w)"],
    "addmv_": ["fn(v, m, w)"],
    "addr": ["fn(m, v, w)"],
    "addr_": ["fn(m, v, w)"],
    "mv": ["fn(m, v)"],
    "addbmm": ["fn(m, bm, bn)"],
    "addbmm_": ["fn(m, bm, bn)"],
    "cross": ["fn(a, b, dim=1)"],
    "einsum": ["fn('ij,jk->ik', a, m)"],
    "meshgrid": ["fn(v, w, indexing='ij')"],
    "split": ["fn(a, 1)"],
    "chunk": ["fn(a, 2)"],
    "tensor_split": ["fn(a, 2)"],
    "unflatten": ["fn(a, 1, (3, 1))"],
    "unfold": ["fn(a, 1, 2, 1)", "fn(img, 2)"],
    "repeat": ["fn(a, 2, 1)"],
    "tile": ["fn(a, (2, 1))"],
    "repeat_interleave": ["fn(a, 2)"],
    "roll": ["fn(a, 1, 1)"],
    "flip": ["fn(a, (0,))"],
    "clamp": ["fn(a, -0.5, 0.5)"],
    "clamp_": ["fn(a, -0.5, 0.5)"],
    "clip": ["fn(a, -0.5, 0.5)"],
    "clip_": ["fn(a, -0.5, 0.5)"],
    "clamp_min": ["fn(a, 0.1)"],
    "clamp_min_": ["fn(a, 0.1)"],
    "clamp_max": ["fn(a, 0.1)"],
    "clamp_max_": ["fn(a, 0.1)"],
    "kthvalue": ["fn(a, 1)"],
    "topk": ["fn(a, 2)"],
    "polygamma": ["fn(1, a)", "fn(a, 1)"],
    "mvlgamma": ["fn(pos, 1)"],
    "to": ["fn(a, torch.float64)"],
    "type": ["fn(a, torch.float64)"],
    "fill_": ["fn(a, 0.5)"],
    "fill": ["fn(a, 0.5)"],
    "new_full": ["fn(a, (2, 3), 0.5)"],
    "full_like": ["fn(a, 0.5)"],
    "threshold": ["fn(a, 0.1, 0.0)"],
    "threshold_": ["fn(a, 0.1, 0.0)"],
    "dropout": ["fn(a, 0.5, True)", "fn(a)"],
    "dropout_": ["fn(a, 0.5, True)"],
    "alpha_dropout": ["fn(a, 0.5, True)", "fn(a)"],
    "feature_dropout": ["fn(img, 0.5, True)"],
    "feature_alpha_dropout": ["fn(img, 0.5, True)", "fn(img)"],
    "prelu": ["fn(a, one)"],
    "linear": ["fn(a, m, v)"],
    "bilinear": ["fn(a, b, bm, bias)"],
    "conv1d": ["fn(seq, k1, bias)"],
    "conv2d": ["fn(img, k2, bias)"],
    "conv3d": ["fn(vol, k3, bias)"],
    "conv_transpose1d": ["fn(seq, k1, bias)"],
    "conv_transpose2d": ["fn(img, k2, bias)"],
    "conv_transpose3d": ["fn(vol, k3, bias)"],
    "embedding": ["fn(ix, m)", "fn(m, ix)"],
    "embedding_bag": ["fn(idx, m)"],
    "one_hot": ["fn(ix)"],
    "layer_norm": ["fn(a, (3,), v, w)"],
    "rms_norm": ["fn(a, (3,), v)"],
    "group_norm": ["fn(img, 1, g2, bias)"],
    "instance_norm": ["fn(img, weight=g2, bias=bias)", "fn(img, g2, bias, None, None, True, 0.1, 1e-05, False)"],
    "take": ["fn(a, idx)"],
    "put": ["fn(a, idx, b)"],
    "put_": ["fn(a, idx, b)"],
    "index_put": ["fn(a, (ix,), v)"],
    "index_put_": ["fn(a, (ix,), v)"],
    "index_reduce": ["fn(a, 0, ix, b, 'prod')"],
    "index_reduce_": ["fn(a, 0, ix, b, 'prod')"],
    "select_scatter": ["fn(a, v, 0, 0)"],
    "diagonal_scatter": ["fn(m, v)"],
    "split_with_sizes": ["fn(a, [1, 2], 1)"],
    "unsafe_split_with_sizes": ["fn(a, [1, 2], 1)"],
    "nonzero_static": ["fn(a, size=2)"],
    "view_as_complex": ["fn(x4.reshape(4, 2))"],
    "batch_norm": [
        "fn(img, rm, rv, g2, bias, training=True)",  # torch.nn.functional order
        "fn(img, g2, bias, rm, rv, True, 0.1, 1e-05, False)",  # torch.batch_norm order
    ],
    "local_response_norm": ["fn(img, 2)"],
    **{f"{pool}{d}d{suffix}": [f"fn({operand}, {size})"]
       for pool, size in (("max_pool", 2), ("avg_pool", 2), ("adaptive_avg_pool", 1), ("adaptive_max_pool", 1))
       for d, operand in ((1, "seq"), (2, "img"), (3, "vol"))
       for suffix in ("", "_with_indices")},
    **{name: ["fn(spd)"] for name in ("logdet", "slogdet", "det", "cholesky", "inverse", "pinverse", "matrix_exp")},
    # feature dropout drops whole channels: a small p keeps some, so the gradient is not all zero by chance
    **{name: ["fn(img, 0.1, True)", "fn(img, 0.1)"]
       for name in ("feature_dropout", "feature_alpha_dropout", "dropout1d", "dropout2d", "dropout3d")},
    "dropout1d": ["fn(seq, 0.1)"],
    "dropout3d": ["fn(vol, 0.1)"],
    "lp_pool1d": ["fn(seq, 2, 2)"],
    "lp_pool2d": ["fn(img, 2, 2)"],
    "lp_pool3d": ["fn(vol, 2, 2)"],
    "fractional_max_pool2d": ["fn(img, 2, output_size=2)"],
    "fractional_max_pool3d": ["fn(vol, 2, output_size=2)"],
    "interpolate": ["fn(img, scale_factor=2)"],
    "upsample": ["fn(img, scale_factor=2)"],
    "upsample_nearest": ["fn(img, scale_factor=2)"],
    "upsample_bilinear": ["fn(img, scale_factor=2)"],
    "grid_sample": ["fn(img, grid, align_corners=False)"],
    "affine_grid": ["fn(theta, (1, 2, 4, 4), align_corners=False)"],
    "pad": ["fn(a, (1, 1))"],
    "pixel_shuffle": ["fn(img4, 2)"],
    "fold": ["fn(fin, (3, 3), 2)"],
    "scaled_dot_product_attention": ["fn(bm, bn, bo)"],
    **{name: ["fn(a, cls)"] for name in ("cross_entropy", "nll_loss", "multi_margin_loss")},
    "binary_cross_entropy": ["fn(p, q)"],
    "multilabel_margin_loss": ["fn(a, idx.flip(-1) - 1)"],  # targets [1, 0] then -1: not every class
    "gaussian_nll_loss": ["fn(a, b, pos)"],
    "margin_ranking_loss": ["fn(v, w, sgn)"],
    "hinge_embedding_loss": ["fn(v, sgn)"],
    "cosine_embedding_loss": ["fn(a, b, sgn2)"],
}

# Modules: (constructor, call). Not listed: `nn.Name()` with the generic calls.
MODULE_OVERRIDES: dict[str, tuple[str, str]] = {
    "Linear": ("nn.Linear(3, 3)", "mod(a)"),
    "LazyLinear": ("nn.LazyLinear(3)", "mod(a)"),
    "Bilinear": ("nn.Bilinear(3, 3, 2)", "mod(a, b)"),
    "Conv1d": ("nn.Conv1d(2, 2, 3)", "mod(seq)"),
    "Conv2d": ("nn.Conv2d(2, 2, 3)", "mod(img)"),
    "Conv3d": ("nn.Conv3d(2, 2, 3)", "mod(vol)"),
    "ConvTranspose1d": ("nn.ConvTranspose1d(2, 2, 3)", "mod(seq)"),
    "ConvTranspose2d": ("nn.ConvTranspose2d(2, 2, 3)", "mod(img)"),
    "ConvTranspose3d": ("nn.ConvTranspose3d(2, 2, 3)", "mod(vol)"),
    "LazyConv1d": ("nn.LazyConv1d(2, 3)", "mod(seq)"),
    "LazyConv2d": ("nn.LazyConv2d(2, 3)", "mod(img)"),
    "LazyConv3d": ("nn.LazyConv3d(2, 3)", "mod(vol)"),
    "LazyConvTranspose1d": ("nn.LazyConvTranspose1d(2, 3)", "mod(seq)"),
    "LazyConvTranspose2d": ("nn.LazyConvTranspose2d(2, 3)", "mod(img)"),
    "LazyConvTranspose3d": ("nn.LazyConvTranspose3d(2, 3)", "mod(vol)"),
    "BatchNorm1d": ("nn.BatchNorm1d(2)", "mod(seq)"),
    "BatchNorm2d": ("nn.BatchNorm2d(2)", "mod(img)"),
    "BatchNorm3d": ("nn.BatchNorm3d(2)", "mod(vol)"),
    "LazyBatchNorm1d": ("nn.LazyBatchNorm1d()", "mod(seq)"),
    "LazyBatchNorm2d": ("nn.LazyBatchNorm2d()", "mod(img)"),
    "LazyBatchNorm3d": ("nn.LazyBatchNorm3d()", "mod(vol)"),
    "InstanceNorm1d": ("nn.InstanceNorm1d(2)", "mod(seq)"),
    "InstanceNorm2d": ("nn.InstanceNorm2d(2)", "mod(img)"),
    "InstanceNorm3d": ("nn.InstanceNorm3d(2)", "mod(vol)"),
    "LazyInstanceNorm1d": ("nn.LazyInstanceNorm1d()", "mod(seq)"),
    "LazyInstanceNorm2d": ("nn.LazyInstanceNorm2d()", "mod(img)"),
    "LazyInstanceNorm3d": ("nn.LazyInstanceNorm3d()", "mod(vol)"),
    "LayerNorm": ("nn.LayerNorm(3)", "mod(a)"),
    "RMSNorm": ("nn.RMSNorm(3)", "mod(a)"),
    "GroupNorm": ("nn.GroupNorm(1, 2)", "mod(img)"),
    "LocalResponseNorm": ("nn.LocalResponseNorm(2)", "mod(img)"),
    "CrossMapLRN2d": ("nn.CrossMapLRN2d(2)", "mod(img)"),
    "Embedding": ("nn.Embedding(3, 3)", "mod(ix)"),
    "EmbeddingBag": ("nn.EmbeddingBag(3, 3)", "mod(idx)"),
    "RNN": ("nn.RNN(3, 3)", "mod(a)"),
    "LSTM": ("nn.LSTM(3, 3)", "mod(a)"),
    "GRU": ("nn.GRU(3, 3)", "mod(a)"),
    "RNNCell": ("nn.RNNCell(3, 3)", "mod(a)"),
    "LSTMCell": ("nn.LSTMCell(3, 3)", "mod(a)"),
    "GRUCell": ("nn.GRUCell(3, 3)", "mod(a)"),
    "MultiheadAttention": ("nn.MultiheadAttention(4, 2)", "mod(x4, y4, z4)"),
    "TransformerEncoderLayer": ("nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)", "mod(x4)"),
    "TransformerDecoderLayer": ("nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0)", "mod(x4, y4)"),
    "TransformerEncoder": (
        "nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0), 1, enable_nested_tensor=False)",
        "mod(x4)",
    ),
    "TransformerDecoder": ("nn.TransformerDecoder(nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0), 1)", "mod(x4, y4)"),
    "Transformer": ("nn.Transformer(4, 2, 1, 1, 8, dropout=0.0)", "mod(x4, y4)"),
    "MaxPool1d": ("nn.MaxPool1d(2)", "mod(seq)"),
    "MaxPool2d": ("nn.MaxPool2d(2)", "mod(img)"),
    "MaxPool3d": ("nn.MaxPool3d(2)", "mod(vol)"),
    "AvgPool1d": ("nn.AvgPool1d(2)", "mod(seq)"),
    "AvgPool2d": ("nn.AvgPool2d(2)", "mod(img)"),
    "AvgPool3d": ("nn.AvgPool3d(2)", "mod(vol)"),
    "AdaptiveAvgPool1d": ("nn.AdaptiveAvgPool1d(1)", "mod(seq)"),
    "AdaptiveAvgPool2d": ("nn.AdaptiveAvgPool2d(1)", "mod(img)"),
    "AdaptiveAvgPool3d": ("nn.AdaptiveAvgPool3d(1)", "mod(vol)"),
    "AdaptiveMaxPool1d": ("nn.AdaptiveMaxPool1d(1)", "mod(seq)"),
    "AdaptiveMaxPool2d": ("nn.AdaptiveMaxPool2d(1)", "mod(img)"),
    "AdaptiveMaxPool3d": ("nn.AdaptiveMaxPool3d(1)", "mod(vol)"),
    "LPPool1d": ("nn.LPPool1d(2, 2)", "mod(seq)"),
    "LPPool2d": ("nn.LPPool2d(2, 2)", "mod(img)"),
    "LPPool3d": ("nn.LPPool3d(2, 2)", "mod(vol)"),
    "FractionalMaxPool2d": ("nn.FractionalMaxPool2d(2, output_size=2)", "mod(img)"),
    "FractionalMaxPool3d": ("nn.FractionalMaxPool3d(2, output_size=2)", "mod(vol)"),
    "Upsample": ("nn.Upsample(scale_factor=2)", "mod(img)"),
    "UpsamplingNearest2d": ("nn.UpsamplingNearest2d(scale_factor=2)", "mod(img)"),
    "UpsamplingBilinear2d": ("nn.UpsamplingBilinear2d(scale_factor=2)", "mod(img)"),
    "PixelShuffle": ("nn.PixelShuffle(2)", "mod(img4)"),
    "PixelUnshuffle": ("nn.PixelUnshuffle(2)", "mod(img)"),
    "ChannelShuffle": ("nn.ChannelShuffle(2)", "mod(img)"),
    "Unfold": ("nn.Unfold(2)", "mod(img)"),
    "Fold": ("nn.Fold((3, 3), 2)", "mod(fin)"),
    "Unflatten": ("nn.Unflatten(1, (3, 1))", "mod(a)"),
    "Softmax": ("nn.Softmax(dim=-1)", "mod(a)"),
    "LogSoftmax": ("nn.LogSoftmax(dim=-1)", "mod(a)"),
    "Softmin": ("nn.Softmin(dim=-1)", "mod(a)"),
    "Threshold": ("nn.Threshold(0.1, 0.0)", "mod(a)"),
    **{f"{style}Pad{d}d": (f"nn.{style}Pad{d}d({'1, 0.5' if style == 'Constant' else '1'})", f"mod({operand})")
       for style in ("Zero", "Constant", "Reflection", "Replication", "Circular")
       for d, operand in ((1, "seq"), (2, "img"), (3, "vol"))},
    "CosineSimilarity": ("nn.CosineSimilarity()", "mod(a, b)"),
    "PairwiseDistance": ("nn.PairwiseDistance()", "mod(a, b)"),
    "CrossEntropyLoss": ("nn.CrossEntropyLoss()", "mod(a, cls)"),
    "NLLLoss": ("nn.NLLLoss()", "mod(a, cls)"),
    "MultiMarginLoss": ("nn.MultiMarginLoss()", "mod(a, cls)"),
    "BCELoss": ("nn.BCELoss()", "mod(p, q)"),
    "MultiLabelMarginLoss": ("nn.MultiLabelMarginLoss()", "mod(a, idx.flip(-1) - 1)"),
    "Dropout1d": ("nn.Dropout1d(0.1)", "mod(seq)"),
    "Dropout2d": ("nn.Dropout2d(0.1)", "mod(img)"),
    "Dropout3d": ("nn.Dropout3d(0.1)", "mod(vol)"),
    "FeatureAlphaDropout": ("nn.FeatureAlphaDropout(0.1)", "mod(img)"),
    "GaussianNLLLoss": ("nn.GaussianNLLLoss()", "mod(a, b, pos)"),
    "MarginRankingLoss": ("nn.MarginRankingLoss()", "mod(v, w, sgn)"),
    "HingeEmbeddingLoss": ("nn.HingeEmbeddingLoss()", "mod(v, sgn)"),
    "CosineEmbeddingLoss": ("nn.CosineEmbeddingLoss()", "mod(a, b, sgn2)"),
    "AdaptiveLogSoftmaxWithLoss": ("nn.AdaptiveLogSoftmaxWithLoss(3, 3, [2])", "mod(a, cls)"),
}
GENERIC_MODULE_CALLS = ["mod(a)", "mod(a, b)", "mod(img)", "mod(seq)", "mod(vol)", "mod(p, q)", "mod(a, b, c)"]

# The dunders that Python syntax calls; underscore names are otherwise skipped.
OPERATOR_DUNDERS = (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __matmul__ __pow__ __rpow__ "
    "__neg__ __abs__ __getitem__ __lt__ __le__ __gt__ __ge__ __eq__ __ne__ __and__ __or__ __invert__"
).split()
INPLACE_DUNDERS = {"__iadd__": "__add__", "__isub__": "__sub__", "__imul__": "__mul__",
                   "__itruediv__": "__truediv__", "__setitem__": None}
TENSOR_PROPERTIES = ("T", "mT", "H", "mH", "data", "real", "imag")

# Not measured: they change global state, do I/O, need another device or
# layout, are random generators with no tensor input, or are not ops at all.
_SKIP_PREFIXES = (
    "set_", "get_", "cudnn_", "miopen_", "mkldnn_", "fbgemm_", "quantize", "q_", "sparse_", "sym_", "autocast_",
    "to_sparse", "is_", "import_ir", "parse_", "has_torch_function", "fake_quantize", "to_mkldnn", "rand",
)
_SKIP_NAMES = frozenset("""
    compile cond while_loop vmap fork wait load save from_file from_numpy frombuffer from_dlpack to_dlpack
    manual_seed seed initial_seed use_deterministic_algorithms are_deterministic_algorithms_enabled
    merge_type_from_type_comment unify_type_list prepare_multiprocessing_environment init_num_threads
    thread_safe_generator classproperty compiled_with_cxx11_abi clear_autocast_cache
    profiler_allow_cudagraph_cupti_lazy_reinit_cuda12 dequantize int_repr choose_qparams_optimized
    fused_moving_avg_obs_fake_quant dsmm hsmm smm spmm saddmm sspaddmm hspmm resize_as_sparse_ empty_quantized
    lobpcg pca_lowrank svd_lowrank bernoulli bernoulli_ multinomial normal normal_ poisson binomial
    cauchy_ exponential_ geometric_ log_normal_ uniform_ random_
    backward register_hook register_post_accumulate_grad_hook share_memory_ pin_memory record_stream
    set_ apply_ map_ map2_ module_load cuda cpu ipu xpu mtia storage untyped_storage storage_type data_ptr
    const_data_ptr indices values crow_indices col_indices ccol_indices row_indices coalesce sparse_mask
    sparse_resize_ sparse_resize_and_clear_ to_dense to_padded_tensor qscheme reinforce as_subclass
    handle_torch_function boolean_dispatch assert_int_or_pair Optional multi_head_attention_forward
    grouped_mm scaled_grouped_mm scaled_mm linear_cross_entropy ctc_loss
    Module Sequential ModuleList ModuleDict ParameterList ParameterDict Container SyncBatchNorm DataParallel
    RNNBase RNNCellBase NLLLoss2d resize_ resize_as_ as_strided_scatter as_strided_ bitwise_left_shift
    bitwise_right_shift bitwise_left_shift_ bitwise_right_shift_ gcd gcd_ lcm lcm_ MaxUnpool1d MaxUnpool2d MaxUnpool3d CTCLoss LinearCrossEntropyLoss
""".split())


def skipped(name: str) -> bool:
    return name in _SKIP_NAMES or name.startswith(_SKIP_PREFIXES) or name.endswith("_copy")


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
        numel = numel_relation(plan)
        if numel is not None:
            record["numel"] = numel
    record["grad"] = classify_gradient(run)
    if record["grad"].startswith("backward_error:"):
        # In the graph, but backward raises: a fact the analyser can report.
        record["backward_error"] = record["grad"].split(":", 1)[1]
        record["grad"] = "differentiable"
    saves_input: dict[str, list[list[int]]] = {}
    saves_output: list[list[int]] = []
    saves_parameters: list[list[int]] = []
    for config in configs:
        if not graph_runs(plan, config):
            continue
        for position in range(len(plan.operands)):
            if breaks_backward(plan, config, position):
                saves_input.setdefault(str(position), []).append(sorted(config))
        if breaks_backward(plan, config, None):
            saves_output.append(sorted(config))
        if plan.parameter_names and breaks_backward(plan, config, "parameters"):
            saves_parameters.append(sorted(config))
    record["saves_input"] = saves_input
    record["saves_output"] = saves_output
    if plan.parameter_names:
        record["parameters"] = list(plan.parameter_names)
        record["saves_parameters"] = saves_parameters
    return record


def numel_relation(plan: Plan) -> str | None:
    """"same", "scalar" or None (see the module docstring). Operands do not
    require grad here: only sizes are read."""
    observed = []
    for grown in (False, True):
        env = {name: make_operand(name, i, grown) for i, name in enumerate(plan.operands)}
        try:
            torch.manual_seed(0)
            result, _ = plan.run(env)
        except Exception:  # noqa: BLE001 - does not run at this size: no claim
            return None
        if result is None and plan.inplace and plan.operands:
            result = env[plan.operands[0]]
        if not isinstance(result, torch.Tensor):
            return None
        shapes = [env[name].shape for name in plan.operands]
        try:
            broadcast = math.prod(torch.broadcast_shapes(*shapes))
        except RuntimeError:
            broadcast = None
        observed.append((result.numel(), broadcast, sum(math.prod(shape) for shape in shapes)))
    (small_out, small_broadcast, small_size), (big_out, big_broadcast, big_size) = observed
    if small_size == big_size:
        return None  # only 0-d or size-1 operands: the input size never changed
    if small_out == small_broadcast and big_out == big_broadcast:
        return "same"
    if small_out == 1 and big_out == 1:
        return "scalar"
    return None


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
    for prefix, namespace in (("torch", torch), ("torch.nn.functional", F)):
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
        home = F if target.qualname.startswith("torch.nn.functional.") else torch
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
