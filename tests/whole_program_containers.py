"""Programs whose modules and tensors are held by containers built the ways real code
builds them: `nn.Sequential(*layers)` of a list (written out, or grown in a loop),
`nn.Sequential` of an `OrderedDict`, subclasses of `nn.Sequential` that pass their
layers to `super().__init__`, lists made by comprehensions: (code, expected
(code, line) findings, what torch raises or None).
tests/test_whole_program.py checks each with gradwatch and with torch."""

from whole_program_errors import MODIFIED, NO_GRAPH

# A ResNet-style block whose shortcut is an empty nn.Sequential() unless the stride changes.
SHORTCUT = """
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, stride=1):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.shortcut = nn.Sequential()
        if stride != 1:
            self.shortcut = nn.Sequential(nn.Linear(4, 4))

    def forward(self, x):
        gate = torch.sigmoid(self.fc(x))
        out = self.shortcut(gate)
        out += 1
        return out


Block()(torch.randn(2, 4)).sum().backward()
"""

PROGRAMS = {
    "sequential_of_a_spread_list": (
        """
import torch
import torch.nn as nn

layers = [nn.Linear(4, 4), nn.Sigmoid(), nn.Dropout(0.5, inplace=True)]
net = nn.Sequential(*layers)
net(torch.randn(2, 4)).sum().backward()
""",
        [("GW201", 5)],
        MODIFIED,
    ),
    "sequential_of_an_ordered_dict": (
        """
from collections import OrderedDict

import torch
import torch.nn as nn

net = nn.Sequential(OrderedDict([
    ("fc", nn.Linear(4, 4)),
    ("act", nn.Sigmoid()),
    ("drop", nn.Dropout(0.5, inplace=True)),
]))
net(torch.randn(2, 4)).sum().backward()
""",
        [("GW201", 10)],
        MODIFIED,
    ),
    "ordered_dict_whose_key_is_set_again_keeps_its_place": (
        """
from collections import OrderedDict

import torch
import torch.nn as nn

parts = OrderedDict([("act", nn.Sigmoid()), ("drop", nn.Dropout(0.5, inplace=True))])
parts["act"] = nn.Tanh()
net = nn.Sequential(parts)
net(torch.randn(2, 4, requires_grad=True)).sum().backward()
""",
        [("GW201", 7)],
        MODIFIED,
    ),
    # The stem's in-place dropout clobbers what its LeakyReLU saved; the layers after it
    # come from a list grown in a loop, and backward still runs through the stem.
    "hazard_before_layers_grown_in_a_loop": (
        """
import torch
import torch.nn as nn


class Discriminator(nn.Module):
    def __init__(self, depth):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 4, 5, stride=2, padding=2),
            nn.LeakyReLU(inplace=True),
            nn.Dropout(p=0.5, inplace=True),
        )
        self.body = self.make_body(4, depth)

    def make_body(self, channels, depth):
        layers = []
        for _ in range(depth):
            layers.append(nn.Conv2d(channels, channels * 2, 3, padding=1))
            layers.append(nn.ReLU())
            channels *= 2
        return nn.Sequential(*layers)

    def forward(self, x):
        return self.body(self.stem(x))


net = Discriminator(depth=int(torch.randint(1, 3, ()).item()))
net(torch.randn(2, 3, 16, 16)).mean().backward()
""",
        [("GW201", 12)],
        MODIFIED,
    ),
    # Layers grown in a loop, the way torchvision builds VGG and ResNet stages: nothing
    # in them modifies a saved tensor, and nothing is claimed.
    "layers_grown_in_a_loop_without_a_hazard": (
        """
import torch
import torch.nn as nn


def make_layers(widths):
    layers = [nn.Conv2d(3, widths[0], 3, padding=1), nn.ReLU(inplace=True)]
    channels = widths[0]
    for width in widths[1:]:
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        channels = width
    return nn.Sequential(*layers)


net = make_layers([4, 8, 8, 16])
for layer in net:
    layer.train()
net(torch.randn(2, 3, 8, 8)).mean().backward()
""",
        [],
        None,
    ),
    # A loop that may not run, whose layer would modify in place what the Sigmoid saved:
    # with `depth` unknown, the analysis claims no error (torch raises only when it runs).
    "in_place_layer_grown_in_a_loop_that_may_not_run": (
        """
import os

import torch
import torch.nn as nn

depth = int(os.environ.get("EXTRA_LAYERS", "0"))
layers = [nn.Linear(4, 4), nn.Sigmoid()]
for _ in range(depth):
    layers.append(nn.Dropout(0.5, inplace=True))
net = nn.Sequential(*layers)
net(torch.randn(2, 4)).sum().backward()
""",
        [],
        None,
    ),
    # The WGAN-GP report (tests/realworld 020): a stem with the hazard, then blocks kept in an
    # OrderedDict under names made in a loop.
    "hazard_before_an_ordered_dict_filled_in_a_loop": (
        """
from collections import OrderedDict

import torch
import torch.nn as nn


class Critic(nn.Module):
    def __init__(self, depth):
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Dropout(0.5, inplace=True))
        blocks = OrderedDict()
        for i in range(depth):
            blocks["block_{}".format(i)] = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
        self.blocks = nn.Sequential(blocks)
        self.spread = nn.Sequential(*blocks.values())

    def forward(self, x):
        return self.spread(self.blocks(self.stem(x)))


critic = Critic(int(torch.randint(0, 3, ()).item()))
critic(torch.randn(2, 4)).sum().backward()
""",
        [("GW201", 11)],
        MODIFIED,
    ),
    # A dict filled under unknown names, then under a known one: which value a name reads
    # is not known, and nothing is claimed of it.
    "dict_filled_under_unknown_names_then_a_known_one": (
        """
import torch
import torch.nn as nn

blocks = {}
for i in range(2):
    blocks[f"block{i}"] = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid())
blocks["block1"] = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Dropout(0.0, inplace=True))
net = nn.Sequential(*blocks.values())
net(torch.randn(2, 4)).sum().backward()
""",
        [],
        None,
    ),
    # Each item of a comprehension has a graph of its own: backpropagating one frees
    # nothing of the next (an ensemble's losses, one backward each).
    "backward_of_each_item_of_a_comprehension": (
        """
import torch
import torch.nn as nn

models = [nn.Linear(4, 2) for _ in range(3)]
x = torch.randn(5, 4)
outputs = [torch.sigmoid(m(x)) for m in models]
for out in outputs:
    out.sum().backward()
""",
        [],
        None,
    ),
    "ensemble_trained_item_by_item": (
        """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.Sigmoid()
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


models, optimizers = [], []
for _ in range(3):
    model = Net()
    models.append(model)
    optimizers.append(torch.optim.SGD(model.parameters(), lr=0.1))

for step in range(2):
    x = torch.randn(5, 4)
    outputs = [m(x) for m in models]
    for i in range(3):
        loss = outputs[i].pow(2).mean()
        optimizers[i].zero_grad()
        loss.backward()
        optimizers[i].step()
""",
        [],
        None,
    ),
    "subclass_of_sequential_given_its_layers": (
        """
import torch
import torch.nn as nn


class GatedBlock(nn.Sequential):
    def __init__(self, features, p=0.5):
        layers = [nn.Linear(features, features), nn.Sigmoid(), nn.Dropout(p, inplace=True)]
        super().__init__(*layers)
        self.features = features


block = GatedBlock(4)
block(torch.randn(2, 4)).sum().backward()
""",
        [("GW201", 8)],
        MODIFIED,
    ),
    # torchvision's Conv2dNormActivation: the in-place ReLU follows a BatchNorm, which saves
    # its input, not its output.
    "subclass_of_sequential_without_a_hazard": (
        """
import torch
import torch.nn as nn


class ConvNormActivation(nn.Sequential):
    def __init__(self, in_channels, out_channels, inplace=True):
        params = {} if inplace is None else {"inplace": inplace}
        layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels)]
        layers.append(nn.ReLU(**params))
        super().__init__(*layers)
        self.out_channels = out_channels


net = nn.Sequential(ConvNormActivation(3, 8), ConvNormActivation(8, 8))
net(torch.randn(2, 3, 8, 8)).mean().backward()
""",
        [],
        None,
    ),
    "inplace_passed_in_a_dict_of_keywords": (
        """
import torch
import torch.nn as nn

params = {"inplace": True}
net = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Dropout(0.5, **params))
net(torch.randn(2, 4)).sum().backward()
""",
        [("GW201", 6)],
        MODIFIED,
    ),
    # torchvision's MLP (tests/realworld 008): a loop over all widths but the last, one
    # here, appends a Linear, an in-place ReLU and an in-place Dropout that modifies what
    # the ReLU saved.
    "layers_appended_by_a_loop_over_a_slice_of_one_width": (
        """
import torch
import torch.nn as nn


class MLP(nn.Sequential):
    def __init__(self, in_channels, hidden_channels, inplace=True, dropout=0.0):
        params = {} if inplace is None else {"inplace": inplace}
        layers = []
        in_dim = in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers.append(nn.Linear(in_dim, hidden_dim))
            layers.append(nn.ReLU(**params))
            layers.append(nn.Dropout(dropout, **params))
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, hidden_channels[-1]))
        super().__init__(*layers)


MLP(3, [3, 3], inplace=False, dropout=0.5)(torch.rand(3)).sum().backward()
MLP(3, [3, 3], dropout=0.5)(torch.rand(3)).sum().backward()
""",
        [("GW201", 14)],
        MODIFIED,
    ),
    "forward_of_a_sequential_called_by_name": (
        """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Dropout(0.5, inplace=True))
model.forward(torch.randn(2, 4)).sum().backward()
""",
        [("GW201", 5)],
        MODIFIED,
    ),
    # segmentation_models.pytorch's DiceLoss (tests/realworld 041): `activation or
    # nn.Identity()` keeps the activation given, and the thresholded prediction has no graph.
    "layer_chosen_by_or_then_thresholded": (
        """
import torch
import torch.nn as nn


class DiceLoss(nn.Module):
    def __init__(self, activation=None, threshold=None):
        super().__init__()
        self.activation = activation or nn.Identity()
        self.threshold = threshold

    def forward(self, y_pr, y_gt):
        y_pr = self.activation(y_pr)
        if self.threshold is not None:
            y_pr = (y_pr > self.threshold).type(y_pr.dtype)
        return 1 - (2 * (y_pr * y_gt).sum() + 1) / (y_pr.sum() + y_gt.sum() + 1)


model = nn.Conv2d(3, 1, 3, padding=1)
target = (torch.rand(2, 1, 8, 8) > 0.5).float()
soft = DiceLoss(activation=nn.Sigmoid())(model(torch.randn(2, 3, 8, 8)), target)
soft.backward()
hard = DiceLoss(threshold=0.5)(model(torch.randn(2, 3, 8, 8)), target)
hard.backward()
""",
        [("GW101", 24)],
        NO_GRAPH,
    ),
    # A ResNet-style shortcut: an empty nn.Sequential() returns its input itself, so the
    # in-place add modifies what the sigmoid saved; with a layer in it, it does not.
    "empty_sequential_returns_its_input": (
        SHORTCUT,
        [("GW201", 17)],
        MODIFIED,
    ),
    "shortcut_with_a_layer_returns_a_tensor_of_its_own": (
        SHORTCUT.replace("Block()(", "Block(stride=2)("),
        [],
        None,
    ),
    "losses_of_an_ensemble_each_backpropagated_once": (
        """
import torch
import torch.nn as nn

models = [nn.Linear(4, 1) for _ in range(3)]
x = torch.randn(8, 4)
losses = []
for i in range(3):
    losses.append(models[i](x).exp().mean())
for i in range(3):
    losses[i].backward()
for loss in [m(x).exp().sum() for m in models]:
    loss.backward()
""",
        [],
        None,
    ),
    "a_list_slot_rebuilt_after_its_backward": (
        """
import torch

w = torch.randn(3, requires_grad=True)
xs = [w.exp().sum()]
xs[0].backward()
xs[0] = w.exp().sum()
xs[0].backward()
""",
        [],
        None,
    ),
    "a_list_slot_accumulated_under_no_grad": (
        """
import torch

w = torch.randn(3, requires_grad=True)
losses = [0, 0]
with torch.no_grad():
    losses[0] += (w * 2).sum()
losses[1] += (w * 3).sum()
with torch.no_grad():
    losses[1] += (w * 4).sum()
(losses[0] + losses[-1]).backward()
losses[0].backward()
""",
        [("GW101", 12)],
        NO_GRAPH,
    ),
}
