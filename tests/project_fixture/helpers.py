"""Small tensor utilities used by train.py; several of them change autograd state."""

import torch


def features(x):
    # Cuts the graph: gradients never flow back through the returned tensor.
    return x.detach()


def scalar_of(x):
    # A Python float: no graph, no device.
    return x.item()


def normalize_(x):
    # Modifies its argument in place, like every trailing-underscore torch method.
    x.sub_(x.mean())
    return x


def under_no_grad(model, x):
    with torch.no_grad():
        out = model(x)
    return out


def scale(x):
    return x * 2
