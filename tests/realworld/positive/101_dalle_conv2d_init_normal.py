# source: https://github.com/openai/DALL-E/pull/15
# hazard: inplace-leaf
# cause: 19, 20
# expect: RuntimeError: a leaf Variable that requires grad is being used in an in-place operation
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv2d(nn.Module):
    def __init__(self, n_in, n_out, kw, use_float16=False, device=torch.device("cpu"), requires_grad=False):
        super().__init__()
        self.n_in, self.n_out, self.kw = n_in, n_out, kw
        self.use_float16, self.device, self.requires_grad = use_float16, device, requires_grad

        size = (self.n_out, self.n_in, self.kw, self.kw)
        w = torch.empty(size=size, dtype=torch.float32, device=self.device, requires_grad=self.requires_grad)
        w.normal_(std=1 / math.sqrt(self.n_in * self.kw ** 2))

        b = torch.zeros((self.n_out,), dtype=torch.float32, device=self.device, requires_grad=self.requires_grad)
        self.w, self.b = nn.Parameter(w), nn.Parameter(b)

    def forward(self, x):
        return F.conv2d(x, self.w, self.b, padding=(self.kw - 1) // 2)


class EncoderBlock(nn.Module):
    def __init__(self, n_in, n_out, n_layers, device=torch.device("cpu"), requires_grad=False):
        super().__init__()
        n_hid = n_out // 4
        self.post_gain = 1 / (n_layers ** 2)
        self.id_path = Conv2d(n_in, n_out, 1, device=device, requires_grad=requires_grad) if n_in != n_out else nn.Identity()
        self.res_path = nn.Sequential(
            nn.ReLU(),
            Conv2d(n_in, n_hid, 3, device=device, requires_grad=requires_grad),
            nn.ReLU(),
            Conv2d(n_hid, n_out, 1, device=device, requires_grad=requires_grad),
        )

    def forward(self, x):
        return self.id_path(x) + self.post_gain * self.res_path(x)


class Encoder(nn.Module):
    def __init__(self, n_hid=8, n_blk_per_group=1, requires_grad=False):
        super().__init__()
        self.input = Conv2d(3, n_hid, 7, requires_grad=requires_grad)
        self.block = EncoderBlock(n_hid, 2 * n_hid, n_blk_per_group, requires_grad=requires_grad)

    def forward(self, x):
        return self.block(self.input(x))


# training the encoder from scratch
encoder = Encoder(requires_grad=True)
out = encoder(torch.randn(1, 3, 8, 8))
