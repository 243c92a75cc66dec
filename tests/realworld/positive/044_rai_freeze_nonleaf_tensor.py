# source: https://github.com/mit-ll-responsible-ai/responsible-ai-toolbox/issues/24
# hazard: requires-grad-flag
# cause: 21, 51
# expect: RuntimeError: you can only change requires_grad flags of leaf variables
from contextlib import contextmanager

import torch
import torch.nn as nn

torch.manual_seed(0)


def freeze(*items):
    """Set requires_grad=False on the given modules / tensors; return a function restoring them."""
    param_states = {}
    for item in items:
        params = item.parameters() if isinstance(item, nn.Module) else [item]
        for param in params:
            if param not in param_states:
                param_states[param] = param.requires_grad
                param.requires_grad_(False)

    def restore_state():
        for p, requires_grad in param_states.items():
            p.requires_grad_(requires_grad)

    return restore_state


@contextmanager
def frozen(*items):
    restore = freeze(*items)
    try:
        yield
    finally:
        restore()


class L2Perturbation(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return x + self.delta


model = nn.Sequential(nn.Linear(4, 3))
perturber = L2Perturbation((2, 4))
raw = torch.randn(2, 4, requires_grad=True)
data = 2 * raw  # a computed tensor, e.g. normalised inputs

with frozen(model, data):
    loss = model(perturber(data)).sum()
    loss.backward()
