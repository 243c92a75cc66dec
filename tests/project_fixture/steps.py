"""Training steps whose hazards are caused by functions and classes in the other modules.

Each function here fails (or silently misbehaves) because of a line in helpers.py
or models.py; gradwatch reports it here, citing that line.
"""

import torch
from torch import nn

from helpers import features, normalize_, scalar_of, under_no_grad
from layers import Block
from models import Net
from wrappers import activation


class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block(x)


def detached_loss():
    x = torch.randn(8, 4, requires_grad=True)
    loss = features(x * 2).sum()
    loss.backward()


def normalized_after_sigmoid():
    x = torch.randn(8, 4, requires_grad=True)
    h = x.sigmoid()
    normalize_(h)
    h.sum().backward()


def loss_from_a_number():
    x = torch.randn(8, 4, requires_grad=True)
    loss = torch.tensor(scalar_of((x * x).sum()))
    loss.backward()


def evaluated_then_trained():
    model = Net()
    out = under_no_grad(model, torch.randn(2, 4))
    out.sum().backward()


def frozen_by_detach():
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    weight = torch.randn(2, 1, requires_grad=True)
    optimizer.zero_grad()
    hidden = model(torch.randn(2, 4)).detach()
    loss = (hidden * weight).sum()
    loss.backward()
    optimizer.step()


def wrapper_frozen_by_detach():
    model = Wrapper()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    weight = torch.randn(2, 3, requires_grad=True)
    loss = (model(torch.randn(2, 3)).detach() * weight).sum()
    loss.backward()
    optimizer.step()


def wrapped_inplace_activation():
    x = torch.randn(4, requires_grad=True)
    gate = x.sigmoid()
    activation(gate, inplace=True)
    gate.sum().backward()
