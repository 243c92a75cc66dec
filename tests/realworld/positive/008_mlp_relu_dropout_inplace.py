# source: https://github.com/pytorch/vision/issues/7174
# hazard: inplace-saved
# cause: 31, 32, 40
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
from typing import Callable, List, Optional

import torch
import torch.nn as nn

torch.manual_seed(0)


class MLP(nn.Sequential):
    def __init__(
        self,
        in_channels: int,
        hidden_channels: List[int],
        norm_layer: Optional[Callable[..., nn.Module]] = None,
        activation_layer: Optional[Callable[..., nn.Module]] = nn.ReLU,
        inplace: Optional[bool] = True,
        bias: bool = True,
        dropout: float = 0.0,
    ):
        params = {} if inplace is None else {"inplace": inplace}
        layers = []
        in_dim = in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers.append(nn.Linear(in_dim, hidden_dim, bias=bias))
            if norm_layer is not None:
                layers.append(norm_layer(hidden_dim))
            layers.append(activation_layer(**params))
            layers.append(nn.Dropout(dropout, **params))
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, hidden_channels[-1], bias=bias))
        layers.append(nn.Dropout(dropout, **params))
        super().__init__(*layers)


MLP(3, [3, 3], dropout=0.5, inplace=False)(torch.rand(3)).sum().backward()
MLP(3, [3, 3], dropout=0.5)(torch.rand(3)).sum().backward()
