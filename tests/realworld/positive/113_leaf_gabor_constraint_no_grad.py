# source: https://github.com/denfed/leaf-audio-pytorch/issues/3
# hazard: silent-cut
# cause: 21, 22, 23, 93
# expect: assert
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class GaborConstraint(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self._kernel_size = kernel_size

    def forward(self, kernel):
        mu_lower, mu_upper = 0.0, math.pi
        sigma_lower = 4 * math.sqrt(2 * math.log(2)) / math.pi
        sigma_upper = self._kernel_size * math.sqrt(2 * math.log(2)) / math.pi
        with torch.no_grad():
            clipped_mu = torch.clamp(kernel[:, 0], mu_lower, mu_upper).unsqueeze(1)
            clipped_sigma = torch.clamp(kernel[:, 1], sigma_lower, sigma_upper).unsqueeze(1)
        return torch.cat([clipped_mu, clipped_sigma], dim=-1)


def gabor_filters(kernel, size):
    t = torch.arange(-(size // 2), (size + 1) // 2, dtype=kernel.dtype).unsqueeze(0)
    center_frequencies, sigmas = kernel[:, 0:1], kernel[:, 1:2]
    denominator = 1.0 / (math.sqrt(2 * math.pi) * sigmas)
    gaussian = torch.exp(-(t ** 2) / (2 * sigmas ** 2))
    return denominator * gaussian * torch.cos(center_frequencies * t), denominator * gaussian * torch.sin(center_frequencies * t)


class GaborConv1D(nn.Module):
    def __init__(self, filters, kernel_size, strides, padding):
        super().__init__()
        self._filters, self._kernel_size = filters // 2, kernel_size
        self._strides, self._padding = strides, padding
        mu = torch.linspace(0.2, 2.5, self._filters)
        sigma = torch.full((self._filters,), 3.0)
        self._kernel = nn.Parameter(torch.stack([mu, sigma], dim=1))
        self._kernel_constraint = GaborConstraint(self._kernel_size)

    def forward(self, x):
        kernel = self._kernel_constraint(self._kernel)
        real_filters, img_filters = gabor_filters(kernel, self._kernel_size)
        stacked_filters = torch.stack([real_filters, img_filters], dim=1)
        stacked_filters = stacked_filters.view(2 * self._filters, self._kernel_size).unsqueeze(1)
        return F.conv1d(x, stacked_filters, stride=self._strides, padding=self._padding)


class GaussianLowpass(nn.Module):
    def __init__(self, in_channels, kernel_size, strides):
        super().__init__()
        self.weights = nn.Parameter(torch.full((in_channels,), 0.4))
        self.kernel_size, self.strides = kernel_size, strides

    def forward(self, x):
        t = torch.arange(self.kernel_size, dtype=x.dtype) - (self.kernel_size - 1) / 2
        sigma = self.weights.clamp(2.0 / self.kernel_size, 0.5) * (self.kernel_size - 1) / 2
        windows = torch.exp(-0.5 * (t.unsqueeze(0) / sigma.unsqueeze(1)) ** 2).unsqueeze(1)
        return F.conv1d(x, windows, stride=self.strides, groups=x.shape[1])


class Leaf(nn.Module):
    def __init__(self, n_filters=8, window_len=9, sample_rate=100):
        super().__init__()
        self._complex_conv = GaborConv1D(2 * n_filters, window_len, 1, window_len // 2)
        self._pooling = GaussianLowpass(n_filters, window_len, strides=4)

    def forward(self, x):
        outputs = self._complex_conv(x)
        outputs = outputs.pow(2).view(outputs.shape[0], -1, 2, outputs.shape[-1]).sum(2)  # squared modulus
        outputs = self._pooling(outputs)
        return torch.log(outputs.clamp(min=1e-5))


torch.manual_seed(0)
a = Leaf()
a.train()
before = a._complex_conv._kernel.detach().clone()
opt = torch.optim.Adam(a.parameters(), lr=0.002)
x = torch.rand(1, 1, 64)
for _ in range(3):
    b = a(x)
    loss = torch.norm((b - torch.ones_like(b)).view(1, -1), p=2, dim=-1).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()

# the Gabor filter parameters never receive a gradient and stay where they started
assert a._complex_conv._kernel.grad is None
assert torch.equal(a._complex_conv._kernel.detach(), before)
assert a._pooling.weights.grad is not None
