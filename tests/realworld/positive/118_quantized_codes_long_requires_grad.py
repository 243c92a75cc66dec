# source: https://github.com/pytorch/pytorch/issues/40264
# hazard: integer-grad
# cause: 24
# expect: RuntimeError: only Tensors of floating point dtype can require gradients
import torch
import torch.nn as nn


def quantize(weight, bits=4):
    """Symmetric per-tensor quantization to signed integer codes."""
    levels = 2 ** (bits - 1) - 1
    scale = weight.abs().max() / levels
    codes = torch.clamp(torch.round(weight / scale), -levels, levels)
    return codes.long(), scale


def dequantize(codes, scale):
    return codes.float() * scale


torch.manual_seed(0)
layer = nn.Linear(3, 3)
codes, scale = quantize(layer.weight.detach())
codes.requires_grad_()
x = torch.rand(4, 3)
out = x @ dequantize(codes, scale).t() + layer.bias
out.sum().backward()
