"""The shapes gradwatch proves (shown on hover) are the shapes torch gives.

Each case is run twice: analysed by gradwatch, which names `y`'s shape on
hover, and executed by torch. Every size gradwatch claims must be torch's;
`?` (a size not known) matches any. Each case here must also be proved
(a shape on hover), so that a lost rule fails too.
"""

from __future__ import annotations

import re

import pytest

from gradwatch.checker import check_source

torch = pytest.importorskip("torch")

PRELUDE = """\
import torch
import torch.nn as nn
import torch.nn.functional as F
x = torch.randn(4, 5, 6, requires_grad=True)
m = torch.randn(6, 3)
i = torch.tensor([0, 2])
images = torch.randn(2, 4, 9, 9)
unit = 2
"""

CASES = [
    # factories
    "torch.zeros_like(x)",
    "torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])",
    "torch.full((2, 3), 1.5)",
    "torch.randint(0, 5, (3, 4))",
    "torch.randint(0, 5, size=(3, 4))",
    "torch.randint(7, (2,))",
    "torch.ones(size=(2, 3))",
    "torch.tensor(-1.5)",
    "torch.empty(0)",
    # kept by the measured ops
    "F.softmax(x, dim=1)",
    "x * 2",
    "x + torch.randn(6)",
    "torch.randn(5, 1) - x",
    "torch.relu(x).sigmoid()",
    "x.detach()",
    # reductions
    "x.sum()",
    "x.norm()",
    "nn.MSELoss()(x, torch.randn(4, 5, 6))",
    "x.sum(1)",
    "x.sum(dim=(0, 2))",
    "x.mean(-1, keepdim=True)",
    "x.amax(dim=1)",
    "x.argmax(1)",
    "x.logsumexp(2)",
    "x.std(1, True)",  # the second argument is `unbiased`, not `keepdim`
    "x.norm(2, 1)",  # the first argument is `p`
    # losses asked not to reduce
    "F.cross_entropy(x, torch.randint(0, 5, (4, 6)), reduction='none')",
    "F.cross_entropy(x, torch.softmax(torch.randn(4, 5, 6), dim=1), reduction='none')",
    "nn.NLLLoss(reduction='none')(x, torch.randint(0, 5, (4, 6)))",
    "F.mse_loss(x, torch.randn(6), reduction='none')",
    # squeeze, reshape, permute
    "x.unsqueeze(0)",
    "x.unsqueeze(-1)",
    "x.squeeze()",
    "torch.randn(4, 1, 6).squeeze(1)",
    "x.squeeze(0)",
    "x.flatten()",
    "x.flatten(1)",
    "torch.flatten(x, 0, 1)",
    "x.view(4, -1)",
    "x.reshape(-1, 6)",
    "x.reshape((2, 10, 6))",
    "x.permute(2, 0, 1)",
    "x.transpose(0, 2)",
    "m.t()",
    "m.T",
    # products
    "x @ m",
    "torch.matmul(x, m)",
    "torch.randn(6) @ m",
    "torch.bmm(x, torch.randn(4, 6, 2))",
    "torch.stack([m, m, m])",
    "torch.stack([m, m], dim=1)",
    "torch.cat([x, x], dim=2)",
    "torch.cat([m, torch.randn(2, 3)])",
    "F.interpolate(images, size=(12, 14))",
    "F.interpolate(images, scale_factor=2)",
    # indexing
    "x[0]",
    "x[:, 1]",
    "x[..., 0]",
    "x[None]",
    "x[:, None, :]",
    "x[:, i]",
    "x[1:3]",
    "x[0, :, i]",
    "x[i, 0]",
    "x[-1]",
    "x[:, unit]",
    "x[:, len('ab') - 1]",
    # modules
    "nn.Linear(6, 3)(x)",
    "nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))(x)",
    "nn.LayerNorm(6)(x)",
    "nn.BatchNorm1d(5)(x)",
    "nn.Flatten()(x)",
    "nn.Conv2d(4, 7, 3)(images)",
    "nn.AdaptiveAvgPool2d(1)(images)",
    "nn.AdaptiveAvgPool2d((2, 3))(images)",
]


def proved_shape(expression: str) -> list:
    text = PRELUDE + f"y = {expression}\ny.sum().backward()\n"
    line = PRELUDE.count("\n") + 1
    hovers = [n.description for n in check_source(text).names if n.name == "y" and n.span.line == line]
    assert hovers, f"no hover for y = {expression}"
    match = re.search(r"Tensor of shape \(([^)]*)\)", hovers[0])
    assert match, f"no shape proved for {expression}: {hovers[0]}"
    return [None if size.strip() == "?" else int(size) for size in match.group(1).split(",") if size.strip()]


@pytest.mark.parametrize("expression", CASES)
def test_the_proved_shape_is_the_one_torch_gives(expression):
    namespace: dict = {}
    exec(PRELUDE + f"y = {expression}\n", namespace)
    actual = list(namespace["y"].shape)
    proved = proved_shape(expression)
    assert len(proved) == len(actual), (expression, proved, actual)
    assert all(p is None or p == a for p, a in zip(proved, actual)), (expression, proved, actual)


@pytest.mark.parametrize(
    "expression",
    [
        "x.sum().type_as(x)",  # the result follows the scalar, not the broadcast with x
        "x[torch.randn(4, 5) > 0]",  # a boolean mask of rank 2: its count is not known
        "x.reshape(x.size(0), -1)",  # a size read at run time
        "x.norm(2)",  # p=2 over the whole tensor: one element, but not written like the measured call
    ],
)
def test_what_is_not_proved_shows_no_shape(expression):
    text = PRELUDE + f"y = {expression}\ny.sum().backward()\n"
    line = PRELUDE.count("\n") + 1
    hovers = [n.description for n in check_source(text).names if n.name == "y" and n.span.line == line]
    assert hovers and "shape" not in hovers[0]
