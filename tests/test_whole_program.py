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
INTEGER = "Tensors of floating point and complex dtype can require gradients"

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
    "branch_decided_by_the_constructor_arguments": (
        """
import torch
import torch.nn as nn


class Unit(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        if stride == 2:
            self.project = True
        else:
            self.project = False
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        if self.project:
            identity = self.conv(x)
        else:
            identity = x
        identity = self.relu(identity)
        return self.relu(self.conv(x) + identity)


stage = nn.Sequential(Unit(2), Unit(1))
stage(torch.randn(1, 2, 4, 4)).sum().backward()
""",
        [("GW201", 21)],
        MODIFIED,
    ),
    "flag_another_method_may_have_changed": (
        """
import torch
import torch.nn as nn


class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.safe = False

    def make_safe(self):
        self.safe = True

    def forward(self, x):
        y = torch.sigmoid(self.fc(x))
        if self.safe:
            y = y.clone()
        y.add_(1)
        return y


gate = Gate()
gate.make_safe()
gate(torch.randn(2, 4)).sum().backward()
""",
        [],
        None,
    ),
    "row_modified_in_the_next_iteration": (
        """
import torch

w = torch.randn(3, 3, requires_grad=True)
b = w @ torch.randn(3, 1)
y = 0
for i in range(3):
    b[i] = b[i] + 1
    y = y + w @ b
y.sum().backward()
""",
        [("GW201", 8)],
        MODIFIED,
    ),
    "row_modified_in_a_single_iteration": (
        """
import torch

w = torch.randn(3, 3, requires_grad=True)
b = w @ torch.randn(3, 1)
y = 0
for i in range(1):
    b[i] = b[i] + 1
    y = y + w @ b
y.sum().backward()
""",
        [],
        None,
    ),
    "only_the_last_iteration_result_is_used": (
        """
import torch

w = torch.randn(3, 3, requires_grad=True)
b = torch.randn(3, 1)
for i in range(3):
    b[i] = 0.0
    y = w @ b
y.sum().backward()
""",
        [],
        None,
    ),
    "leaf_made_from_a_no_grad_submodule_output_updated_in_place": (
        """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)


net = Net()
with torch.no_grad():
    z = net.fc(torch.randn(2, 4))
s = z.clone().float().requires_grad_(True)
(s * 2).sum().backward()
s -= 0.1 * s.grad
s.grad.zero_()
""",
        [("GW202", 17)],
        "a leaf Variable that requires grad is being used in an in-place operation",
    ),
    "factory_flag_from_the_constructor_argument": (
        """
import torch
import torch.nn as nn


class Conv(nn.Module):
    def __init__(self, n, requires_grad=False):
        super().__init__()
        self.n, self.requires_grad = n, requires_grad
        w = torch.empty(n, n, requires_grad=self.requires_grad)
        w.normal_(std=0.1)
        self.w = nn.Parameter(w)

    def forward(self, x):
        return x @ self.w


frozen = Conv(2)
trained = Conv(2, requires_grad=True)
""",
        [("GW202", 11)],
        "a leaf Variable that requires grad is being used in an in-place operation",
    ),
    "parameter_of_a_module_list_item_edited_in_place": (
        """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


net = Net()
net.layers[0].weight[:, 1] += 1.0
""",
        [("GW202", 18)],
        "a view of a leaf Variable that requires grad is being used in an in-place operation",
    ),
    "step_then_backward_through_the_previous_iteration": (
        """
import torch
import torch.nn as nn

cell = nn.Linear(4, 4)
opt = torch.optim.SGD(cell.parameters(), lr=0.1)
h = torch.zeros(1, 4, requires_grad=True)
for x in [torch.randn(1, 4), torch.randn(1, 4)]:
    h = torch.tanh(cell(h) + x)
    opt.zero_grad()
    h.sum().backward(retain_graph=True)
    opt.step()
""",
        [("GW201", 12)],
        MODIFIED,
    ),
    "step_after_a_backward_whose_graph_kept_no_weight": (
        """
import torch
import torch.nn as nn

cell = nn.Linear(4, 4)
opt = torch.optim.SGD(cell.parameters(), lr=0.1)
h = torch.zeros(1, 4)
for x in [torch.randn(1, 4), torch.randn(1, 4)]:
    h = torch.tanh(cell(x) + h)
    opt.zero_grad()
    h.sum().backward(retain_graph=True)
    opt.step()
""",
        [],
        None,
    ),
    "shared_module_output_of_an_unknown_input_backpropagated_twice": (
        """
import torch
import torch.nn as nn

generator = nn.Linear(1, 4)
head_1 = nn.Linear(4, 1)
head_2 = nn.Linear(4, 1)
data = torch.Tensor([[1.0], [2.0]])
features = generator(data)
head_1(features).sum().backward()
head_2(features).sum().backward()
""",
        [("GW106", 11)],
        TWICE,
    ),
    "two_calls_of_a_helper_on_unknown_inputs_are_two_graphs": (
        """
import torch
import torch.nn as nn

generator = nn.Linear(1, 4)


def encode(x):
    return generator(x)


a = encode(torch.Tensor([[1.0], [2.0]]))
b = encode(torch.Tensor([[3.0], [4.0]]))
a.sum().backward()
b.sum().backward()
""",
        [],
        None,
    ),
    "nested_helper_sees_the_enclosing_names": (
        """
import torch


def penalty(features):
    def gram():
        return features @ features.t()

    loss = gram().pow(2).mean()
    loss.backward()


w = torch.randn(3, 3, requires_grad=True)
features = torch.tanh(torch.randn(2, 3) @ w)
features.sum().backward()
penalty(features)
""",
        [("GW106", 10)],
        TWICE,
    ),
    "indices_of_max_along_a_dimension_cannot_require_grad": (
        """
import torch

scores = torch.randn(4, 3)
values, indices = torch.max(scores, 1)
values.requires_grad_()
indices.requires_grad = True
""",
        [("GW109", 7)],
        INTEGER,
    ),
    "variable_of_a_long_tensor_requiring_grad": (
        """
import torch
from torch.autograd import Variable

weights = Variable(torch.Tensor([0.5, 1.0]), requires_grad=True)
ids = Variable(torch.LongTensor([1, 2]).long(), requires_grad=True)
""",
        [("GW109", 6)],
        INTEGER,
    ),
}


# Grad mode, dtypes and frozen parameters, followed through calls and submodules.

ENCODER_AND_HEAD = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(torch.relu(self.encoder(x)))


model = Net()
"""

PROGRAMS.update(
    {
        "dtype_argument_is_no_tensor_operand": (
            """
import torch

w = torch.randn(4, 3, requires_grad=True)
labels = torch.randint(0, 3, (4,)).type(torch.float32)
preds = torch.softmax(w, dim=1).argmax(dim=1).type(torch.float32)
loss = ((preds - labels) ** 2).mean()
loss.backward()
""",
            [("GW101", 8)],
            NO_GRAPH,
        ),
        "loss_of_unknown_inputs_under_the_callers_no_grad": (
            """
import torch
import torch.nn.functional as F


def compute_loss(batch):
    return F.l1_loss(batch[("pred", 0)], batch["target"])


w = torch.randn(3, requires_grad=True)
batch = {("pred", 0): w * 2, "target": torch.zeros(3)}
with torch.no_grad():
    loss = compute_loss(batch)
loss.backward()
""",
            [("GW101", 14)],
            NO_GRAPH,
        ),
        "op_that_may_return_its_input_under_no_grad_stays_unknown": (
            """
import torch
import torch.nn.functional as F

w = torch.randn(3, requires_grad=True)
batch = {("pred", 0): w * 2}
with torch.no_grad():
    kept = F.dropout(batch[("pred", 0)], training=False)
kept.sum().backward()
""",
            [],
            None,
        ),
        "enable_grad_inside_the_callers_inference_mode": (
            """
import torch


def jacobian_row(n):
    with torch.enable_grad():
        x = torch.randn(n, requires_grad=True)
        y = x ** 2
        return torch.autograd.grad(y.sum(), x)[0]


with torch.no_grad():
    jacobian_row(3)
with torch.inference_mode():
    jacobian_row(3)
""",
            [("GW101", 9)],
            NO_GRAPH,
        ),
        "freezing_every_named_parameter_on_both_branches": (
            ENCODER_AND_HEAD
            + """for name, p in model.named_parameters():
    if name.startswith("encoder"):
        p.requires_grad = False
    else:
        p.requires_grad = False
loss = model(torch.randn(2, 4)).sum()
loss.backward()
""",
            [("GW101", 23)],
            NO_GRAPH,
        ),
        "freezing_named_parameters_but_the_head": (
            ENCODER_AND_HEAD
            + """for name, p in model.named_parameters():
    if name.startswith("encoder"):
        p.requires_grad = False
loss = model(torch.randn(2, 4)).sum()
loss.backward()
""",
            [],
            None,
        ),
        "grad_of_a_list_of_inputs_passed_to_a_helper": (
            """
import torch


def partial_derivatives(output, inputs):
    return torch.autograd.grad(output, inputs, allow_unused=True)


a = torch.tensor([1.0, 2.0])
b = torch.tensor([3.0, 4.0], requires_grad=True)
inputs = [a, b]
partial_derivatives(a @ b, inputs)
""",
            [("GW103", 6)],
            "One of the differentiated Tensors does not require grad",
        ),
        "requires_grad_false_freezes_every_submodule": (
            """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(torch.relu(self.encoder(x)))


tuned = Net()
tuned.requires_grad_(False)
tuned.head.requires_grad_(True)
tuned(torch.randn(2, 4)).sum().backward()
frozen = Net()
frozen.requires_grad_(False)
loss = frozen(torch.randn(2, 4)).sum()
loss.backward()
""",
            [("GW101", 23)],
            NO_GRAPH,
        ),
    }
)


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
