"""Names that arrive through `from helpers import *` are followed too."""

import torch

from helpers import *  # noqa: F403


def detached_through_star_import():
    x = torch.randn(8, 4, requires_grad=True)
    loss = features(x * 2).sum()  # noqa: F405
    loss.backward()
