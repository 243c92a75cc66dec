"""Losses computed without reduction: `reduction='none'` or the legacy `reduce=False`.

The op table measured the default call, which reduces to one element. Without
reduction a loss returns one value per element instead (verified on torch 2.13):
the elementwise losses return the broadcast of input and target; NLL, and
cross-entropy with class-index targets, return one value per target element
(`(N, C, d1)` input, `(N, d1)` target -> `(N, d1)`). Cross-entropy with
probability targets drops the class dimension, which may leave one element:
nothing is claimed for it.
"""

from __future__ import annotations

import ast

from gradwatch.analysis import shapes
from gradwatch.analysis.syntax import keyword
from gradwatch.analysis.values import UNKNOWN, Tensor, Tri

_ELEMENTWISE = {
    "l1_loss", "L1Loss", "mse_loss", "MSELoss", "smooth_l1_loss", "SmoothL1Loss", "huber_loss", "HuberLoss",
    "binary_cross_entropy", "BCELoss", "binary_cross_entropy_with_logits", "BCEWithLogitsLoss",
    "kl_div", "KLDivLoss", "soft_margin_loss", "SoftMarginLoss", "poisson_nll_loss", "PoissonNLLLoss",
}  # fmt: skip
_PER_TARGET = {"nll_loss", "NLLLoss"}
_PER_INDEX_TARGET = {"cross_entropy", "CrossEntropyLoss"}
_REDUCTION_KEYWORDS = ("reduction", "reduce", "size_average")


def default_reduction(node: ast.Call) -> bool:
    """Built or called without any reduction keyword: the measured (reducing) form."""
    return all(keyword(node, name) is None for name in _REDUCTION_KEYWORDS)


def unreduced(node: ast.Call) -> bool:
    """The keywords say, literally, that nothing is reduced. The legacy `reduce` and
    `size_average` override `reduction` when given (`reduce=True` reduces whatever
    `reduction` says; `size_average` alone reduces)."""
    reduce = keyword(node, "reduce")
    if reduce is not None:
        return isinstance(reduce, ast.Constant) and reduce.value is False
    reduction = keyword(node, "reduction")
    return (
        keyword(node, "size_average") is None and isinstance(reduction, ast.Constant) and reduction.value == "none"
    )


def multi_element(qualname: str, operands: list) -> Tri:
    """More than one element in the unreduced loss of `operands` (input, target, ...)?"""
    name = qualname.rsplit(".", 1)[-1]
    pair = operands[:2]
    if len(pair) < 2 or not all(isinstance(o, Tensor) for o in pair):
        return UNKNOWN
    target = pair[1]
    if name in _ELEMENTWISE:
        return Tri.any_of(o.multi_element for o in pair)
    if name in _PER_TARGET or (name in _PER_INDEX_TARGET and target.integer):
        return target.multi_element
    return UNKNOWN


def shape(qualname: str, operands: list) -> tuple | None:
    """The shape of the unreduced loss: the broadcast of input and target for the
    elementwise losses; for NLL and cross-entropy, the input's shape without its class
    dimension (`(N, C, d1)` -> `(N, d1)`, `(C,)` -> `()`), whatever the target's kind."""
    name = qualname.rsplit(".", 1)[-1]
    pair = operands[:2]
    if len(pair) < 2 or not all(isinstance(o, Tensor) for o in pair):
        return None
    if name in _ELEMENTWISE:
        return shapes.broadcast([o.shape for o in pair])
    scores = pair[0].shape
    if name in _PER_TARGET | _PER_INDEX_TARGET and scores is not None:
        return (scores[0], *scores[2:]) if len(scores) >= 2 else ()
    return None
