"""The engine follows a program the way torch runs it: calls in their context, instances
built from their own constructor call, containers, loop iterations. Each program is
checked twice: gradwatch finds exactly the stated findings, and torch does what they say."""

from __future__ import annotations

import pytest

from gradwatch.checker import check_source
from gradwatch.findings import Severity
from test_oracle import run

MODIFIED = "modified by an inplace operation"
NO_GRAPH = "does not require grad and does not have a grad_fn"
TWICE = "Trying to backward through the graph a second time"

PROGRAMS = {
    "helper_result_modified_by_caller": (
        """
import torch


def gate(x):
    return torch.sigmoid(x)


x = torch.randn(3, requires_grad=True)
g = gate(x)
g.mul_(2)
g.sum().backward()
""",
        [("GW201", 11)],
        MODIFIED,
    ),
    "two_calls_of_one_helper_are_two_tensors": (
        """
import torch


def gate(x):
    return torch.sigmoid(x)


x = torch.randn(3, requires_grad=True)
a = gate(x)
b = gate(x)
a.add_(1)
b.sum().backward()
""",
        [],
        None,
    ),
    "instance_built_with_inplace_true": (
        """
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, inplace):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU(inplace=inplace)

    def forward(self, x):
        return self.act(torch.sigmoid(self.fc(x)))


block = Block(inplace=True)
block(torch.randn(2, 4)).sum().backward()
""",
        [("GW201", 13)],
        MODIFIED,
    ),
    "instance_built_with_inplace_false": (
        """
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, inplace):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU(inplace=inplace)

    def forward(self, x):
        return self.act(torch.sigmoid(self.fc(x)))


block = Block(inplace=False)
block(torch.randn(2, 4)).sum().backward()
""",
        [],
        None,
    ),
    "tuple_returned_by_forward_then_argmax": (
        """
import torch
import torch.nn as nn


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x):
        out = self.fc(x)
        return out[:, :3], out[:, 3:]


first, second = Heads()(torch.randn(2, 4))
picked = torch.stack([first.argmax(dim=1), second.argmax(dim=1)]).float()
picked.mean().backward()
""",
        [("GW101", 18)],
        NO_GRAPH,
    ),
    "hidden_state_carried_to_the_next_iteration": (
        """
import torch
import torch.nn as nn

rnn = nn.RNN(2, 3, batch_first=True)
h = None
for step in range(2):
    out, h = rnn(torch.randn(1, 4, 2), h)
    out.sum().backward()
""",
        [("GW106", 9)],
        TWICE,
    ),
    "hidden_state_detached_between_iterations": (
        """
import torch
import torch.nn as nn

rnn = nn.RNN(2, 3, batch_first=True)
h = None
for step in range(2):
    out, h = rnn(torch.randn(1, 4, 2), h)
    out.sum().backward()
    h = h.detach()
""",
        [],
        None,
    ),
    "dict_of_losses_from_a_no_grad_helper": (
        """
import torch

w = torch.randn(3, requires_grad=True)


def compute(x):
    with torch.no_grad():
        return {"loss": (x * w).sum()}


losses = compute(torch.randn(3))
losses["loss"].backward()
""",
        [("GW101", 13)],
        NO_GRAPH,
    ),
    "trainer_object_whose_step_runs_in_evaluation": (
        """
import torch
import torch.nn as nn


class Trainer:
    def __init__(self, model):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(self, x):
        loss = self.model(x).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


trainer = Trainer(nn.Linear(4, 1))
with torch.no_grad():
    trainer.step(torch.randn(2, 4))
""",
        [("GW101", 14)],
        NO_GRAPH,
    ),
    "methods_without_an_instance_parameter": (
        """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    @staticmethod
    def scale(x):
        return x * 2

    def forward(*args):
        return args[0].fc(args[1])


net = Net()
net.scale(torch.randn(2))
net.forward(torch.randn(2, 4)).sum().backward()
""",
        [],
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradwatch_finds_what_the_program_does(name: str) -> None:
    code, expected, _ = PROGRAMS[name]
    loud = [f for f in check_source(code).findings if f.severity in (Severity.ERROR, Severity.WARNING)]
    assert [(f.code, f.span.line) for f in loud] == expected, [f.message for f in loud]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_torch_agrees(name: str) -> None:
    pytest.importorskip("torch")
    code, _, error = PROGRAMS[name]
    _, raised, _ = run(code)
    if error is None:
        assert raised is None, f"torch raised {raised!r}"
    else:
        assert raised is not None and error in str(raised), f"torch: {raised!r}"


def _training_loops(count: int) -> str:
    head = """
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(8, 8), nn.ReLU(inplace=True), nn.Linear(8, 2))

    def forward(self, x):
        return self.features(x)

model = Net()
opt = torch.optim.SGD(model.parameters(), 0.1)
"""
    loop = """
for step in range(2):
    x = torch.randn(4, 8)
    loss = model(x).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
"""
    return head + loop * count


def test_facts_about_shared_parameters_grow_linearly_with_the_loops(monkeypatch) -> None:
    # Every loop over the same model used to relabel the saved ops of all loops
    # before it, doubling them per loop: a module of twenty training loops took minutes.
    from gradwatch.analysis import iterations

    sizes: list[int] = []
    carried_over = iterations.Iterations.carried_over

    def measured(self, state, loop, start):
        carried = carried_over(self, state, loop, start)
        sizes.append(sum(len(saved) for saved in carried.saved_by.values()))
        return carried

    monkeypatch.setattr(iterations.Iterations, "carried_over", measured)
    largest = {}
    for count in (4, 8, 16):
        sizes.clear()
        check_source(_training_loops(count))
        largest[count] = max(sizes)
    assert largest[16] <= 2.5 * largest[8] and largest[8] <= 2.5 * largest[4], largest


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_arguments_that_spend_the_call_budget_do_not_stop_the_analysis(monkeypatch, budget: int) -> None:
    # The arguments of a followed call are evaluated after the budget was checked; when
    # they spend the rest of it, the call still runs (it used to crash the analysis).
    from gradwatch.analysis import calls

    monkeypatch.setattr(calls, "CALL_BUDGET", budget)
    source = """
import torch
import torch.nn as nn

def helper(x):
    return x * 2

class Net(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return helper(self.fc(x))

net = Net(helper(helper(torch.ones(1))))
x = torch.ones(2, 4, requires_grad=True)
y = net(helper(helper(x))).sigmoid()
y.add_(1)
y.sum().backward()
"""
    result = check_source(source)
    assert not any(f.code == "GW002" for f in result.findings)
