# source: https://github.com/meta-pytorch/tnt/pull/551
# hazard: numpy
# cause: 21, 52
# expect: RuntimeError: Can't call numpy() on Tensor that requires grad
from typing import Dict, Union

import torch
import torch.nn as nn
from numpy import ndarray
from torch import Tensor

Scalar = Union[Tensor, ndarray, int, float]


def scalar_to_float(scalar: Scalar) -> float:
    if isinstance(scalar, Tensor):
        scalar = scalar.squeeze()
        numel = scalar.numel()
        if numel != 1:
            raise ValueError(f"Scalar tensor must contain a single item, {numel} given.")
        return float(scalar.cpu().numpy().item())
    elif isinstance(scalar, ndarray):
        if scalar.size != 1:
            raise ValueError(f"Scalar ndarray must contain a single item, {scalar.size} given.")
        return float(scalar.item())
    return float(scalar)


class InMemoryLogger:
    def __init__(self) -> None:
        self._log: Dict[int, Dict[str, float]] = {}

    def log(self, name: str, data: Scalar, step: int) -> None:
        self._log.setdefault(step, {})[name] = scalar_to_float(data)

    def log_dict(self, payload: Dict[str, Scalar], step: int) -> None:
        for k, v in payload.items():
            self.log(k, v, step)


torch.manual_seed(0)
module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
logger = InMemoryLogger()

for step in range(2):
    x, y = torch.randn(6, 4), torch.randn(6, 1)
    loss = nn.functional.mse_loss(module(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    logger.log_dict({"train_loss": loss, "lr": optimizer.param_groups[0]["lr"]}, step)
