"""Programs whose hazards pass through calls, instances built from their own constructor
call, containers and loop iterations: (code, expected (code, line) findings, what torch
raises or None). tests/test_whole_program.py checks each with gradwatch and with torch."""

from whole_program_errors import INTEGER, MODIFIED, NO_GRAPH, TWICE

# Options given as a SimpleNamespace (a script's stand-in for parsed arguments) decide a branch.
OPTIONS_TRAINER = """
from types import SimpleNamespace

import torch
import torch.nn as nn


class Trainer:
    def __init__(self, opt):
        self.model = nn.Linear(8, 6)
        if opt.freeze:
            for p in self.model.parameters():
                p.requires_grad = False

    def step(self, x):
        self.model(x).sum().backward()


Trainer(SimpleNamespace(freeze=True, lr=1e-4)).step(torch.randn(2, 8))
"""

# A recurrent state kept in a NamedTuple and handed to the next step.
NAMED_TUPLE_STATE = """
from typing import NamedTuple

import torch


class State(NamedTuple):
    h: torch.Tensor
    steps: int = 0


w = torch.randn(3, requires_grad=True)
state = State(torch.tanh(w), 1)
for step in range(2):
    h = torch.tanh(state.h * w)
    h.sum().backward()
    state = State(h=h, steps=state.steps + 1)
"""

# A custom Function that keeps only a Python number for its backward (no saved tensor).
SCALE_FUNCTION = """
import torch


class Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, alpha):
        ctx.alpha = alpha
        return v * alpha

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.alpha, None


v = torch.randn(4, requires_grad=True)
"""

PROGRAMS = {
    "loss_module_built_not_to_reduce": (
        """
import torch
import torch.nn as nn
import torch.nn.functional as F

scores = torch.randn(4, 3, 5, requires_grad=True)
labels = torch.randint(0, 3, (4, 5))
criterion = nn.NLLLoss(reduce=False)
loss = criterion(F.log_softmax(scores, dim=1), labels)
loss.backward()
""",
        [("GW112", 10)],
        "grad can be implicitly created only for scalar outputs",
    ),
    "cross_entropy_per_sample_of_class_indices": (
        """
import torch
import torch.nn.functional as F

scores = torch.randn(4, 3, requires_grad=True)
labels = torch.tensor([0, 2, 1, 1])
F.cross_entropy(scores, labels.long(), reduction="none").mean().backward()
per_sample = F.cross_entropy(scores, labels.long(), reduction="none")
per_sample.backward()
""",
        [("GW112", 9)],
        "grad can be implicitly created only for scalar outputs",
    ),
    "batches_from_a_generator_with_weighted_losses_by_key": (
        """
import torch
import torch.nn as nn

model = nn.Linear(4, 2)


def batches(n):
    for _ in range(n):
        yield {"x": torch.randn(3, 4)}, torch.randn(3, 2)


weights = {"fit": 1.0, "size": 0.1}
for inputs, target in batches(2):
    out = model(inputs["x"])
    losses = {"fit": ((out - target) ** 2).mean(), "size": out.abs().mean()}
    loss = 0.0
    for key in weights:
        loss = loss + losses[key] * weights[key]
    loss.backward()
    assert inputs["x"].grad is None
""",
        [("GW104", 21)],
        None,
    ),
    "input_moved_to_the_device_keeps_its_flags": (
        """
import torch
import torch.nn as nn

device = torch.device("cpu")
model = nn.Linear(4, 2)
image = torch.rand(3, 4).to(device)
loss = model(image).sum()
loss.backward()
assert image.grad is None
""",
        [("GW104", 10)],
        None,
    ),
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
    "tensor_passed_for_an_optional_argument_runs_the_guarded_in_place": (
        """
import torch
import torch.nn as nn


class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3))

    def forward(self, x, mask=None):
        probs = (x @ self.w).softmax(dim=-1)
        if mask is not None:
            probs *= mask
        return probs.sum()


gate = Gate()
x = torch.randn(2, 4)
gate(x).backward()
gate(x, mask=(torch.rand(2, 3) > 0.5).float()).backward()
""",
        [("GW201", 14)],
        MODIFIED,
    ),
    "grad_read_that_may_be_none_does_not_decide_its_guard": (
        """
import torch

w = torch.randn(3, requires_grad=True)
y = w.exp()
g = w.grad
if g is not None:
    y *= 2
y.sum().backward()
""",
        [],
        None,
    ),
    "dict_of_options_with_the_key_runs_the_in_place": (
        """
import torch
import torch.nn as nn


class Loss(nn.Module):
    def __init__(self, reg=dict(bias=0.1, scale=2.0)):
        super().__init__()
        self.reg = reg

    def forward(self, logits):
        if not self.reg:
            return logits.mean()
        if "bias" in self.reg:
            logits += self.reg["bias"]
        return logits.mean()


head = nn.Linear(4, 3)
criterion = Loss()
criterion(torch.sigmoid(head(torch.randn(2, 4)))).backward()
""",
        [("GW201", 15)],
        MODIFIED,
    ),
    "dict_of_options_without_the_key_stays_quiet": (
        """
import torch
import torch.nn as nn


class Loss(nn.Module):
    def __init__(self, reg=dict(bias=0.1, scale=2.0)):
        super().__init__()
        self.reg = reg

    def forward(self, logits):
        if "bias" in self.reg:
            logits += self.reg["bias"]
        return logits.mean()


head = nn.Linear(4, 3)
criterion = Loss(reg=dict(scale=2.0))
criterion(torch.sigmoid(head(torch.randn(2, 4)))).backward()
""",
        [],
        None,
    ),
    "lambda_handed_to_a_constructor_builds_the_submodule": (
        """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, n_in, n_out, hidden):
        super().__init__()
        self.hidden = hidden
        self.body = nn.Sequential(nn.Linear(n_in, n_out), nn.ReLU())

    def forward(self, x):
        return self.body(x)


class Coupling(nn.Module):
    def __init__(self, make_net):
        super().__init__()
        self.net = make_net(4, 6)

    def forward(self, x):
        widths = self.net(x)[:, :3]
        widths /= 8.0
        return widths.sum()


coupling = Coupling(lambda n_in, n_out: Net(n_in, n_out, hidden=8))
coupling(torch.randn(2, 4)).backward()
""",
        [("GW201", 23)],
        MODIFIED,
    ),
    "hasattr_of_an_attribute_the_constructor_set_runs_the_in_place": (
        """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.hidden = hidden
        self.body = nn.Sequential(nn.Linear(4, 6), nn.ReLU())

    def forward(self, x):
        return self.body(x)


class Coupling(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        widths = self.net(x)[:, :3]
        if hasattr(self.net, "hidden"):
            widths /= self.net.hidden
        return widths.sum()


coupling = Coupling(Net(hidden=8))
coupling(torch.randn(2, 4)).backward()
""",
        [("GW201", 24)],
        MODIFIED,
    ),
    "hasattr_of_an_attribute_the_instance_lacks_stays_quiet": (
        """
import torch
import torch.nn as nn


class Coupling(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        widths = self.net(x)[:, :3]
        if hasattr(self.net, "hidden"):
            widths /= self.net.hidden
        return widths.sum()


coupling = Coupling(nn.Sequential(nn.Linear(4, 6), nn.ReLU()))
coupling(torch.randn(2, 4)).backward()
""",
        [],
        None,
    ),
    "hasattr_of_an_attribute_set_on_one_branch_stays_quiet": (
        """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        if hidden:
            self.hidden = hidden
        self.body = nn.Sequential(nn.Linear(4, 6), nn.ReLU())

    def forward(self, x):
        return self.body(x)


class Coupling(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        widths = self.net(x)[:, :3]
        if hasattr(self.net, "hidden"):
            widths /= self.net.hidden
        return widths.sum()


coupling = Coupling(Net(hidden=int(torch.rand(1).item() > 2)))
coupling(torch.randn(2, 4)).backward()
""",
        [],
        None,
    ),
    "distribution_transform_call_runs_its_call_method": (
        """
import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform


class Normalize(Transform):
    domain = constraints.real_vector
    codomain = constraints.simplex

    def _call(self, x):
        probs = x.exp()
        probs /= probs.sum(-1, True)
        return probs

    def _inverse(self, y):
        return y.log()


logits = torch.randn(4, 3, requires_grad=True)
Normalize()(logits).log().mean().backward()
""",
        [("GW201", 13)],
        MODIFIED,
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
    "topk_indices_returned_by_a_helper_cannot_require_grad": (
        """
import torch


def best_classes(logits, k):
    return logits.topk(k, dim=1)


class Picker:
    def __init__(self, k):
        self.k = k

    def pick(self, logits):
        return best_classes(logits, self.k).indices


picks = Picker(2).pick(torch.randn(4, 5))
picks.requires_grad = True
""",
        [("GW109", 18)],
        INTEGER,
    ),
    "comparison_mask_kept_through_a_reshape_cannot_require_grad": (
        """
import torch


def positive_mask(x):
    return (x > 0).view(-1).clone()


mask = positive_mask(torch.randn(2, 3))
mask.requires_grad_()
""",
        [("GW109", 10)],
        "only Tensors of floating point dtype can require gradients",
    ),
    "float_conversions_of_indices_and_masks_can_require_grad": (
        """
import torch


def as_weights(scores):
    order = scores.argsort(dim=1).float()
    mask = (scores > 0).to(torch.float32)
    return order, mask


order, mask = as_weights(torch.randn(3, 4))
order.requires_grad_()
mask.requires_grad = True
_, top = torch.sort(torch.randn(5))
top = top.double()
top.requires_grad_()
""",
        [],
        None,
    ),
    "dtype_test_before_requires_grad_on_mixed_inputs": (
        """
import torch


def track(inputs):
    for tensor in inputs:
        if not torch.is_floating_point(tensor):
            continue
        tensor.requires_grad_()
    return inputs


ids = torch.randint(0, 9, (2, 3))
track((torch.randn(2, 3), ids))
""",
        [],
        None,
    ),
    "dtype_test_in_the_caller_keeps_a_helper_quiet": (
        """
import torch


def enable(t):
    t.requires_grad_()
    return t


ids = torch.randint(0, 5, (3,))
if ids.is_floating_point():
    enable(ids)
if ids.dtype.is_floating_point or ids.dtype.is_complex:
    enable(ids)
if not torch.is_floating_point(ids):
    ids = ids.float()
enable(ids)
""",
        [],
        None,
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
    "value_cached_on_the_instance_by_a_helper_method_backpropagated_again": (
        """
import torch


class Calculator:
    def __init__(self):
        self._cache = None

    def _kernel(self, cell):
        if self._cache is not None:
            return self._cache
        kernel = cell.exp()
        self._cache = kernel
        return kernel

    def __call__(self, x, cell):
        return (x * self._kernel(cell)).sum()


calculator = Calculator()
cell = torch.ones(3, requires_grad=True)
out = calculator(torch.ones(3), cell)
out.backward()
out = calculator(torch.ones(3), torch.ones(3, requires_grad=True))
out.backward()
""",
        [("GW106", 25)],
        TWICE,
    ),
    "value_cached_on_the_instance_when_none_is_recomputed_per_instance": (
        """
import torch


class Calculator:
    def __init__(self):
        self._cache = None

    def kernel(self, cell):
        if self._cache is None:
            self._cache = cell.exp()
        return self._cache


cell = torch.ones(3, requires_grad=True)
out = (Calculator().kernel(cell) * 2).sum()
out.backward()
out = (Calculator().kernel(cell) * 2).sum()
out.backward()
""",
        [],
        None,
    ),
    "builtin_sum_of_a_list_of_losses_backpropagated_twice": (
        """
import torch

w = torch.randn(3, requires_grad=True)
parts = [w.exp().sum(), (w * 3).sum()]
total = sum(parts)
total.backward()
sum(parts, torch.zeros(())).backward()
""",
        [("GW106", 8)],
        TWICE,
    ),
    "tensor_of_a_list_holding_a_parameter_built_by_a_helper": (
        """
import torch


class Ramp:
    def __init__(self, amplitude, rise):
        self.amplitude, self.rise = amplitude, rise


def waveform(ramp):
    return torch.tensor([0.0, ramp.amplitude]), torch.tensor([0.0, ramp.rise])


amplitude = torch.tensor(2.0, requires_grad=True)
values, times = waveform(Ramp(amplitude * 3, 1e-5))
loss = values.sum() + amplitude
loss.backward()
assert amplitude.grad == 1.0
""",
        [("GW113", 11)],
        None,
    ),
    "as_tensor_of_a_list_of_loss_tensors_and_a_stacked_near_miss": (
        """
import torch

w = torch.randn(3, requires_grad=True)
losses = [w.sum(), (w * w).sum()]
stacked = torch.stack(losses)
stacked.sum().backward()
weights = torch.as_tensor([0.5, 2.0])
combined = torch.as_tensor(losses)
assert not combined.requires_grad
""",
        [("GW113", 9)],
        None,
    ),
    "number_times_leaf_built_once_then_backpropagated_twice": (
        """
import torch

x = torch.rand(4, 1, requires_grad=True)
t = 1 + 3 * x
first = t.sum()
first.backward()
second = (t * t).sum()
second.backward()
""",
        [("GW106", 9)],
        TWICE,
    ),
    "number_added_to_leaf_built_once_keeps_nothing_to_free": (
        """
import torch

x = torch.rand(4, 1, requires_grad=True)
t = 1 + x - 3
first = t.sum()
first.backward()
second = (t * t).sum()
second.backward()
""",
        [],
        None,
    ),
    "leaf_over_a_number_kept_with_retain_graph": (
        """
import torch

x = torch.rand(4, 1, requires_grad=True)
t = x / 3
t.sum().backward(retain_graph=True)
(t * t).sum().backward()
""",
        [],
        None,
    ),
    "linalg_inverse_computed_once_then_backpropagated_twice": (
        """
import torch

cell = torch.eye(3, requires_grad=True)
reciprocal = torch.linalg.inv(cell).T
first = reciprocal.sum()
first.backward()
second = (reciprocal ** 2).sum()
second.backward()
""",
        [("GW106", 9)],
        TWICE,
    ),
    "batch_loop_over_scaled_weights_that_runs_once": (
        """
import math

import torch

weights = torch.randn(20, 10, requires_grad=True) / math.sqrt(20)
x_train = torch.randn(8, 20)
bs = 8
for i in range(len(x_train) // bs):
    xb = x_train[i * bs:(i + 1) * bs]
    loss = (xb @ weights).sum()
    loss.backward()
""",
        [],
        None,
    ),
    "batch_loop_over_scaled_weights_that_runs_twice": (
        """
import math

import torch

weights = torch.randn(20, 10, requires_grad=True) / math.sqrt(20)
x_train = torch.randn(8, 20)
bs = 4
for i in range(len(x_train) // bs):
    xb = x_train[i * bs:(i + 1) * bs]
    loss = (xb @ weights).sum()
    loss.backward()
""",
        [("GW106", 12)],
        TWICE,
    ),
    "options_object_whose_flag_freezes_every_parameter": (
        OPTIONS_TRAINER,
        [("GW101", 16)],
        NO_GRAPH,
    ),
    "options_object_whose_flag_keeps_the_parameters_trained": (
        OPTIONS_TRAINER.replace("freeze=True", "freeze=False"),
        [],
        None,
    ),
    "named_tuple_state_handed_to_the_next_step": (
        NAMED_TUPLE_STATE,
        [("GW106", 16)],
        TWICE,
    ),
    "named_tuple_state_detached_between_steps": (
        NAMED_TUPLE_STATE.replace("State(h=h,", "State(h=h.detach(),"),
        [],
        None,
    ),
    "dataclass_outputs_backpropagated_twice": (
        """
from dataclasses import dataclass

import torch


@dataclass
class Outputs:
    logits: torch.Tensor
    loss: torch.Tensor


w = torch.randn(3, requires_grad=True)
logits = w.exp()
out = Outputs(logits, logits.sum())
out.loss.backward()
out.logits.sum().backward()
""",
        [("GW106", 17)],
        TWICE,
    ),
    "dataclass_that_rewrites_its_fields_after_init_is_not_followed": (
        """
from dataclasses import dataclass

import torch


@dataclass
class Outputs:
    loss: torch.Tensor

    def __post_init__(self):
        self.loss = self.loss.detach().requires_grad_()


w = torch.randn(3, requires_grad=True)
out = Outputs(w.exp().sum())
out.loss.backward()
out.loss.backward()
""",
        [],
        None,
    ),
    "custom_function_that_saves_its_input_backpropagated_twice": (
        """
import torch


class Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, alpha):
        ctx.save_for_backward(v)
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (v,) = ctx.saved_tensors
        return grad_output / (v.abs() + 1.0) ** 2, None


v = torch.randn(4, requires_grad=True)
loss = Spike.apply(v, 10.0).sum()
loss.backward()
loss.backward()
""",
        [("GW106", 20)],
        TWICE,
    ),
    "custom_function_that_keeps_only_numbers_backpropagated_twice": (
        SCALE_FUNCTION
        + """loss = Scale.apply(v, 10.0).sum()
loss.backward()
loss.backward()
""",
        [],
        None,
    ),
    "custom_function_applied_under_no_grad": (
        SCALE_FUNCTION
        + """with torch.no_grad():
    y = Scale.apply(v, 10.0)
y.sum().backward()
""",
        [("GW101", 19)],
        NO_GRAPH,
    ),
    "backward_twice_through_a_graph_that_kept_nothing": (
        """
import torch

w = torch.randn(3, requires_grad=True)
loss = (w + 1).sum()
for step in range(2):
    loss.backward()
""",
        [],
        None,
    ),
    "leaf_moved_to_the_gpu_or_scaled_is_no_leaf_either_way": (
        """
import torch

x = torch.ones(3, requires_grad=True)
y = x.cuda() if torch.cuda.is_available() else x * 2
loss = (y * y).sum()
loss.backward()
print(y.grad)
""",
        [("GW111", 8)],
        None,
    ),
    "leaf_made_on_the_device_it_is_used_on": (
        """
import torch

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
x = torch.ones(3, requires_grad=True, device=device)
y = x.to(device)
loss = (y * y).sum()
loss.backward()
print(x.grad, y.grad)
""",
        [],
        None,
    ),
    "a_torch_device_is_no_string_it_compares_to": (
        """
import torch

device = torch.device("cpu")
w = torch.randn(3, requires_grad=True)
if device == "cpu":  # False: a torch.device is never equal to a string
    loss = torch.zeros(1).sum()
else:
    loss = (w * 2).sum()
loss.backward()
""",
        [],
        None,
    ),
    "a_long_tensor_input_answered_without_its_graph": (
        """
import torch

x = torch.randint(1, 20, (3, 5))
w = torch.randn(5, requires_grad=True)
out = x.float() @ w
if isinstance(x, torch.LongTensor):
    out = out.data
out.sum().backward()
""",
        [("GW101", 9)],
        NO_GRAPH,
    ),
    "a_bool_or_float_input_is_no_long_tensor": (
        """
import torch

mask = torch.tensor([True, False, True])
x = torch.randint(1, 20, (3,)).float()
w = torch.randn(3, requires_grad=True)
out = (x * w)[mask]
if isinstance(mask, torch.LongTensor) or isinstance(x, torch.cuda.LongTensor):
    out = out.data
out.sum().backward()
""",
        [],
        None,
    ),
    "truncated_backpropagation_from_a_state_with_a_graph": (
        """
import torch

w = torch.randn(3, requires_grad=True)
h = torch.tanh(w)
for step in range(3):
    h2 = torch.tanh(h * w)
    h2.sum().backward()
    h = h2.detach()
""",
        [],
        None,
    ),
    "a_state_with_a_graph_carried_without_detach": (
        """
import torch

w = torch.randn(3, requires_grad=True)
h = torch.tanh(w)
for step in range(3):
    h2 = torch.tanh(h * w)
    h2.sum().backward()
    h = h2
""",
        [("GW106", 8)],
        TWICE,
    ),
}
