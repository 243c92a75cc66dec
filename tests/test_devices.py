"""Where a tensor is, as far as autograd facts depend on it (devices.py, conversions.py).

Moving a tensor to another device copies it (torch's documentation of `Tensor.to` and
`Tensor.cuda`: the tensor itself is returned only when it is already there). This
machine has no GPU, so the moves are checked here on gradwatch's side only; the programs
of tests/whole_program_flow.py that torch runs take the CPU branch of the same code."""

from __future__ import annotations

import textwrap

import pytest

from gradwatch.checker import check_source

READ_AFTER_MOVE = """
import torch

{setup}
w = torch.randn(3, requires_grad=True{created}).{move}
loss = (w * w).sum()
loss.backward()
print(w.grad)
"""


def _grad_of_non_leaf_lines(setup: str, move: str, created: str = "") -> list[int]:
    text = READ_AFTER_MOVE.format(setup=setup, move=move, created=created)
    return [f.span.line for f in check_source(textwrap.dedent(text)).findings if f.code == "GW111"]


@pytest.mark.parametrize(
    "move",
    [
        "cuda()",
        "cuda(0)",
        'to("cuda")',
        'to("cuda:1")',
        'to(torch.device("cuda:0"))',
        'to(device="cuda")',
        "type(torch.cuda.FloatTensor)",
        'type("torch.DoubleTensor")',
    ],
)
def test_a_leaf_made_on_the_cpu_and_moved_to_a_gpu_is_a_copy(move: str) -> None:
    assert _grad_of_non_leaf_lines("", move) == [8]


@pytest.mark.parametrize(
    "setup, move, created",
    [
        ("", 'to("cpu")', ""),  # already there: the tensor itself
        ("", "to(torch.device('cpu'))", ""),
        ('device = torch.device("cuda" if torch.cuda.is_available() else "cpu")', "to(device)", ""),  # either
        ("", "cuda()", ", device='cuda'"),  # made there
        ("", "cuda()", ", device=dev"),  # made where `dev` says: maybe there
        ('torch.set_default_device("cuda")', "cuda()", ""),  # made on the default device, there
        ("", 'type("torch.FloatTensor")', ""),  # the type it has: the tensor itself (a string is no device)
    ],
)
def test_a_move_that_may_return_the_tensor_itself_is_not_claimed(setup: str, move: str, created: str) -> None:
    assert _grad_of_non_leaf_lines(setup, move, created) == []
