# source: https://github.com/norse/norse/issues/130
# hazard: backward-twice
# cause: 56, 57, 59
# expect: RuntimeError: Trying to backward through the graph a second time
from typing import NamedTuple

import torch
import torch.nn as nn


class SuperSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, alpha):
        ctx.save_for_backward(v)
        ctx.alpha = alpha
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (v,) = ctx.saved_tensors
        grad = grad_output / (ctx.alpha * v.abs() + 1.0) ** 2
        return grad, None


class LIFState(NamedTuple):
    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor


class LIFCell(nn.Module):
    def __init__(self, input_size, hidden_size, tau_syn_inv=200.0, tau_mem_inv=100.0, v_th=1.0, dt=1e-3):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_weights = nn.Parameter(torch.randn(hidden_size, input_size) * (2.0 / input_size) ** 0.5)
        self.tau_syn_inv, self.tau_mem_inv, self.v_th, self.dt = tau_syn_inv, tau_mem_inv, v_th, dt

    def forward(self, input_tensor, state=None):
        if state is None:
            shape = (input_tensor.shape[0], self.hidden_size)
            state = LIFState(z=torch.zeros(shape), v=torch.zeros(shape, requires_grad=True), i=torch.zeros(shape))
        dv = self.dt * self.tau_mem_inv * ((0.0 - state.v) + state.i)
        v_decayed = state.v + dv
        i_decayed = state.i - self.dt * self.tau_syn_inv * state.i
        z_new = SuperSpike.apply(v_decayed - self.v_th, 100.0)
        v_new = (1 - z_new) * v_decayed
        i_new = i_decayed + torch.nn.functional.linear(input_tensor, self.input_weights)
        return z_new, LIFState(z=z_new, v=v_new, i=i_new)


torch.manual_seed(0)
model = LIFCell(12, 1)
data = torch.ones(100, 12)
out, s = model(data)
loss = out.sum()
loss.backward()
out, _ = model(data, s)
loss = out.sum()
loss.backward()
