"""Programs whose hazards pass through grad modes, dtypes, frozen parameters and reductions,
followed through calls and submodules: (code, expected (code, line) findings, what torch
raises or None). tests/test_whole_program.py checks each with gradwatch and with torch."""

from whole_program_errors import NO_GRAPH, TWICE

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

NUMPY = "Can't call numpy() on Tensor that requires grad"

PROGRAMS = {
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
    "encoder_under_the_callers_no_grad_with_an_optimizer_of_its_own": (
        """
import torch
import torch.nn as nn

encoder = nn.Linear(4, 4)
head = nn.Linear(4, 1)
encoder_opt = torch.optim.SGD(encoder.parameters(), lr=0.1)
head_opt = torch.optim.SGD(head.parameters(), lr=0.1)


def encode(x):
    return torch.relu(encoder(x))


with torch.no_grad():
    features = encode(torch.randn(2, 4))
loss = head(features).sum()
loss.backward()
encoder_opt.step()
head_opt.step()
assert encoder.weight.grad is None and head.weight.grad is not None
""",
        [("GW102", 15)],
        None,
    ),
    "encoder_frozen_under_no_grad_beside_the_head_it_feeds": (
        """
import torch
import torch.nn as nn

encoder = nn.Linear(4, 4)
head = nn.Linear(4, 1)
optimizer = torch.optim.SGD([*encoder.parameters(), *head.parameters()], lr=0.1)
with torch.no_grad():
    features = encoder(torch.randn(2, 4))
loss = head(features).sum()
loss.backward()
optimizer.step()
assert encoder.weight.grad is None
""",
        [],
        None,
    ),
    "custom_layer_reads_its_parameters_through_data": (
        """
import torch
import torch.nn as nn


class MyLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3))

    def forward(self, x):
        return x @ self.weight.data


net = nn.Sequential(MyLinear(), nn.Linear(3, 1))
loss = net(torch.randn(2, 4)).sum()
loss.backward()
assert net[0].weight.grad is None
""",
        [("GW102", 12)],
        None,
    ),
    "manual_update_under_no_grad_keeps_the_parameter_in_the_graph": (
        """
import torch

w = torch.randn(3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
x = torch.randn(3)
for _ in range(3):
    loss = (x * w + b).sum()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
        b.clamp_(-1, 1)
        w.grad = None
        b.grad = None
assert w.grad is None
loss = (x * w + b).sum()
loss.backward()
assert w.grad is not None and b.grad is not None
""",
        [],
        None,
    ),
    "numpy_of_a_helper_result_followed_without_any_backward": (
        """
import torch
import torch.nn as nn


def rows(table, ids):
    return table.weight[ids]


def to_array(table, ids):
    picked = rows(table, ids)
    return picked.cpu().numpy()


to_array(nn.Embedding(10, 4), [1, 2])
""",
        [("GW108", 12)],
        NUMPY,
    ),
    "starred_list_of_tensors_fills_the_callees_star_args": (
        """
import torch


def show(*arrays, title=None):
    return [a.numpy() for a in arrays]


w = torch.randn(3, requires_grad=True)
maps = [torch.sigmoid(w * k) for k in range(2)]
show(*maps, title="maps")
""",
        [("GW108", 6)],
        NUMPY,
    ),
    "starred_list_of_detached_tensors_is_quiet": (
        """
import torch


def show(first, *rest):
    return [first.numpy()] + [a.numpy() for a in rest]


w = torch.randn(3, requires_grad=True)
maps = [torch.sigmoid(w * k).detach() for k in range(2)]
show(*maps)
show(maps[0], *maps)
""",
        [],
        None,
    ),
    "view_sized_by_the_unpacked_shape_still_requires_grad": (
        """
import torch
import torch.nn as nn

conv = nn.Conv2d(1, 2, 1)
y = conv(torch.randn(1, 1, 2, 2))
bs, c, h, w = y.shape
flat = y.view(bs, c * h * w)
flat.numpy()
""",
        [("GW108", 9)],
        NUMPY,
    ),
    "losses_of_targets_built_from_arrays_converted_by_numpy": (
        """
import numpy as np
import torch
import torch.nn as nn

net = nn.Linear(2, 1)
memory = np.zeros((4, 3), dtype=np.float32)
history = []
for step in range(2):
    batch = memory[:, :2].astype(np.float32)
    target = torch.Tensor(memory[:, 2:])
    loss = ((net(torch.Tensor(batch)) - target) ** 2).mean()
    loss.backward()
    history.append(loss)
costs = np.array(history)
""",
        [("GW108", 15)],
        NUMPY,
    ),
    "legacy_constructor_of_a_tensor_keeps_its_graph": (
        """
import numpy as np
import torch

w = torch.randn(3, requires_grad=True)
alias = torch.Tensor(w * 2)
copy = torch.Tensor(np.ones(3))
copy.numpy()
alias.detach().numpy()
""",
        [],
        None,
    ),
    "each_item_of_a_dict_logged_by_its_own_iteration": (
        """
import os

import torch


def to_float(value):
    if isinstance(value, torch.Tensor):
        return float(value.numpy())
    return float(value)


def log_all(values):
    for name, value in values.items():
        print(name, to_float(value))


w = torch.randn(1, requires_grad=True)
log_all({"loss": (w * 2).sum(), "pid": os.getpid()})
""",
        [("GW108", 9)],
        NUMPY,
    ),
    "each_item_of_a_dict_of_detached_values_is_quiet": (
        """
import os

import torch


def to_float(value):
    if isinstance(value, torch.Tensor):
        return float(value.numpy())
    return float(value)


w = torch.randn(1, requires_grad=True)
for name, value in {"loss": (w * 2).sum().detach(), "pid": os.getpid()}.items():
    print(name, to_float(value))
""",
        [],
        None,
    ),
    "freeze_helper_given_a_module_and_a_computed_tensor": (
        """
import torch
import torch.nn as nn


def freeze(*items):
    for item in items:
        params = item.parameters() if isinstance(item, nn.Module) else [item]
        for param in params:
            param.requires_grad_(False)


model = nn.Linear(4, 3)
raw = torch.randn(2, 4, requires_grad=True)
freeze(model, 2 * raw)
""",
        [("GW110", 10)],
        "you can only change requires_grad flags of leaf variables",
    ),
    "freeze_helper_given_a_module_and_a_leaf_is_quiet": (
        """
import torch
import torch.nn as nn


def freeze(*items):
    for item in items:
        params = item.parameters() if isinstance(item, nn.Module) else [item]
        for param in params:
            param.requires_grad_(False)


model = nn.Linear(4, 3)
raw = torch.randn(2, 4, requires_grad=True)
freeze(model, raw)
""",
        [],
        None,
    ),
    "grad_of_all_parameters_of_a_model_with_a_frozen_part_through_an_alias": (
        ENCODER_AND_HEAD
        + """
trained = model.train()
for p in model.encoder.parameters():
    p.requires_grad = False
loss = trained(torch.randn(2, 4)).sum()
grads = torch.autograd.grad(loss, trained.parameters())
""",
        [("GW103", 22)],
        "One of the differentiated Tensors does not require grad",
    ),
    "grad_of_the_parameters_of_the_unfrozen_part_is_quiet": (
        ENCODER_AND_HEAD
        + """
trained = model.train()
for p in model.encoder.parameters():
    p.requires_grad = False
loss = trained(torch.randn(2, 4)).sum()
grads = torch.autograd.grad(loss, trained.head.parameters())
""",
        [],
        None,
    ),
    "freezing_a_module_cloned_through_its_attribute_dicts": (
        """
import torch
import torch.nn as nn


def clone_module(module, copy_parameter):
    clone = module.__new__(type(module))
    clone.__dict__ = module.__dict__.copy()
    clone._parameters = module._parameters.copy()
    clone._modules = module._modules.copy()
    for key, param in module._parameters.items():
        if param is not None:
            clone._parameters[key] = copy_parameter(param)
    for key, child in module._modules.items():
        clone._modules[key] = clone_module(child, copy_parameter)
    return clone


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(4, 4)
        self.block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

    def forward(self, x):
        return self.block(self.stem(x))



fast = clone_module(Net(), lambda p: p.clone())
for p in fast.block.parameters():
    p.requires_grad = False
loss = fast(torch.randn(2, 4)).sum()
loss.backward()
""",
        [("GW110", 32)],
        "you can only change requires_grad flags of leaf variables",
    ),
    "freezing_a_module_cloned_with_detached_copies_is_quiet": (
        """
import torch
import torch.nn as nn


def clone_module(module, copy_parameter):
    clone = module.__new__(type(module))
    clone.__dict__ = module.__dict__.copy()
    clone._parameters = module._parameters.copy()
    clone._modules = module._modules.copy()
    for key, param in module._parameters.items():
        if param is not None:
            clone._parameters[key] = copy_parameter(param)
    for key, child in module._modules.items():
        clone._modules[key] = clone_module(child, copy_parameter)
    return clone


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(4, 4)
        self.block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

    def forward(self, x):
        return self.block(self.stem(x))



fast = clone_module(Net(), lambda p: p.detach().clone())
for p in fast.block.parameters():
    p.requires_grad = False
loss = fast(torch.randn(2, 4)).sum()
""",
        [],
        None,
    ),
    # torch.distributions: draws, densities and what one object computes once for all of them.
    "a_policy_gradient_step_backpropagates_the_log_prob_of_a_drawn_action": (
        """
import torch
import torch.nn as nn
from torch.distributions import Categorical

policy = nn.Linear(4, 3)
opt = torch.optim.Adam(policy.parameters())
for step in range(3):
    dist = Categorical(logits=policy(torch.randn(4)))
    action = dist.sample()
    loss = -dist.log_prob(action) * 0.5 - 0.01 * dist.entropy()
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
        [],
        None,
    ),
    "a_loss_from_a_draw_alone_has_no_graph_through_a_helper": (
        """
import torch
from torch.distributions import Normal


def draw(mu):
    return Normal(mu, 0.1).sample()


mu = torch.zeros(3, requires_grad=True)
loss = draw(mu).pow(2).sum()
loss.backward()
""",
        [("GW101", 12)],
        NO_GRAPH,
    ),
    "a_draw_under_no_grad_is_cut_by_the_no_grad": (
        """
import torch
from torch.distributions import Normal

mu = torch.zeros(3, requires_grad=True)
with torch.no_grad():
    z = Normal(mu, 1.0).sample()
loss = (z ** 2).sum()
loss.backward()
""",
        [("GW101", 9)],
        NO_GRAPH,
    ),
    "two_losses_from_one_categorical_of_probs_share_its_logits": (
        """
import torch
from torch.distributions import Categorical

probs = torch.tensor([0.2, 0.8], requires_grad=True)
choice = Categorical(probs)
first = -choice.log_prob(torch.tensor(0))
second = -choice.log_prob(torch.tensor(1))
first.backward()
second.backward()
""",
        [("GW106", 10)],
        TWICE,
    ),
    "two_losses_from_one_bernoulli_of_logits_have_their_own_graphs": (
        """
import torch
from torch.distributions import Bernoulli

p = torch.tensor(0.2, requires_grad=True)
coin = Bernoulli(logits=p)
heads = 2 * coin.log_prob(torch.tensor(1.0))
tails = 3 * coin.log_prob(torch.tensor(0.0))
heads.backward()
tails.backward()
""",
        [],
        None,
    ),
    "a_categorical_built_before_the_loop_is_backpropagated_in_every_iteration": (
        """
import torch
from torch.distributions import Categorical

logits = torch.zeros(3, requires_grad=True)
dist = Categorical(logits=logits)
for action in range(3):
    loss = -dist.log_prob(torch.tensor(action))
    loss.backward()
""",
        [("GW106", 9)],
        TWICE,
    ),
    "a_categorical_built_in_each_iteration_is_its_own": (
        """
import torch
from torch.distributions import Categorical

logits = torch.zeros(3, requires_grad=True)
for action in range(3):
    dist = Categorical(logits=logits)
    loss = -dist.log_prob(torch.tensor(action))
    loss.backward()
""",
        [],
        None,
    ),
    "a_categorical_shared_by_two_losses_of_one_helper_called_twice": (
        """
import torch
from torch.distributions import Categorical


def loss_of(logits, action):
    return -Categorical(logits=logits).log_prob(torch.tensor(action))


logits = torch.zeros(3, requires_grad=True)
loss_of(logits, 0).backward()
loss_of(logits, 1).backward()
""",
        [],
        None,
    ),
}
