# source: https://github.com/pytorch/captum/blob/master/captum/_utils/gradient.py
# hazard: none
# expect: runs
import warnings

import torch
import torch.nn as nn


def enable_input_grads(inputs):
    """Turn requires_grad on for every input that can take it; remember the old flags."""
    previous = []
    for position, tensor in enumerate(inputs):
        previous.append(tensor.requires_grad)
        kind = tensor.dtype
        if not kind.is_floating_point and not kind.is_complex:
            warnings.warn(f"input {position} has dtype {kind}: no gradient for it")
        elif not tensor.requires_grad:
            tensor.requires_grad_()
    return previous


def restore_input_grads(inputs, previous):
    for tensor, flag in zip(inputs, previous):
        if not flag:
            tensor.requires_grad_(False)


class PositionalScorer(nn.Module):
    def __init__(self, dim=6, max_len=5, classes=3):
        super().__init__()
        self.positions = nn.Embedding(max_len, dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, features, positions):
        hidden = torch.tanh(features + self.positions(positions))
        return self.head(hidden.mean(dim=1))


def saliency(model, inputs, target):
    previous = enable_input_grads(inputs)
    scores = model(*inputs)
    picked = scores.gather(1, target.unsqueeze(1)).sum()
    float_inputs = tuple(t for t in inputs if t.dtype.is_floating_point)
    grads = torch.autograd.grad(picked, float_inputs)
    restore_input_grads(inputs, previous)
    return tuple(g.abs() for g in grads)


torch.manual_seed(0)
model = PositionalScorer()
features = torch.randn(2, 5, 6)
positions = torch.arange(5).repeat(2, 1)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    (feature_saliency,) = saliency(model, (features, positions), target=torch.tensor([0, 2]))
assert feature_saliency.shape == features.shape
