# source: https://github.com/bayesiains/nflows/issues/89
# hazard: inplace-saved
# cause: 68, 69, 84
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class ReluMLP(nn.Module):
    """The transform net built by the user's create function."""

    def __init__(self, in_features, out_features, hidden_features):
        super().__init__()
        self.hidden_features = hidden_features
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden_features), nn.ReLU(),
            nn.Linear(hidden_features, out_features), nn.ReLU(),
        )

    def forward(self, inputs, context=None):
        return self.net(inputs)


def piecewise_spline(inputs, unnormalized_widths, unnormalized_heights, unnormalized_derivatives):
    # stand-in for the rational-quadratic spline: a monotone map built from the bins
    widths = F.softmax(unnormalized_widths, dim=-1)
    heights = F.softmax(unnormalized_heights, dim=-1)
    slope = (heights / widths).mean(-1) + F.softplus(unnormalized_derivatives).mean(-1)
    return inputs * slope, torch.log(slope).sum(-1)


class PiecewiseRationalQuadraticCouplingTransform(nn.Module):
    def __init__(self, mask, transform_net_create_fn, num_bins=4):
        super().__init__()
        self.num_bins = num_bins
        self.identity_features = (mask <= 0).nonzero().view(-1)
        self.transform_features = (mask > 0).nonzero().view(-1)
        self.transform_net = transform_net_create_fn(
            len(self.identity_features),
            len(self.transform_features) * self._transform_dim_multiplier(),
        )

    def _transform_dim_multiplier(self):
        return self.num_bins * 3 - 1

    def forward(self, inputs, context=None):
        identity_split = inputs[:, self.identity_features]
        transform_split = inputs[:, self.transform_features]
        transform_params = self.transform_net(identity_split, context)
        b, d = transform_split.shape
        transform_params = transform_params.reshape(b, d, -1)
        transform_split, logabsdet = self._piecewise_cdf(transform_split, transform_params)
        outputs = torch.empty_like(inputs)
        outputs[:, self.identity_features] = identity_split
        outputs[:, self.transform_features] = transform_split
        return outputs, logabsdet

    def _piecewise_cdf(self, inputs, transform_params):
        unnormalized_widths = transform_params[..., : self.num_bins]
        unnormalized_heights = transform_params[..., self.num_bins: 2 * self.num_bins]
        unnormalized_derivatives = transform_params[..., 2 * self.num_bins:]

        if hasattr(self.transform_net, "hidden_features"):
            unnormalized_widths /= np.sqrt(self.transform_net.hidden_features)
            unnormalized_heights /= np.sqrt(self.transform_net.hidden_features)

        return piecewise_spline(inputs, unnormalized_widths, unnormalized_heights,
                                unnormalized_derivatives)


mask = torch.tensor([1, 0, 1, 0])
transform = PiecewiseRationalQuadraticCouplingTransform(
    mask, lambda n_in, n_out: ReluMLP(n_in, n_out, hidden_features=8))
optimizer = torch.optim.Adam(transform.parameters(), lr=1e-3)

x = torch.randn(16, 4)
z, logabsdet = transform(x)
loss = -(-0.5 * z.pow(2).sum(-1) + logabsdet).mean()
optimizer.zero_grad()
loss.backward()
optimizer.step()
