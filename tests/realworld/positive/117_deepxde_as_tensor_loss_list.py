# source: https://github.com/lululxvi/deepxde/pull/1318
# hazard: silent-cut
# cause: 13, 48, 49, 61
# expect: assert
import torch
import torch.nn as nn


# backend helper (deepxde.backend.pytorch.as_tensor)
def as_tensor(data, dtype=None):
    if isinstance(data, torch.Tensor) and (dtype is None or data.dtype == dtype):
        return data
    return torch.as_tensor(data, dtype=dtype)


class FNN(nn.Module):
    def __init__(self, layer_sizes=(1, 16, 16, 1)):
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))

    def forward(self, x):
        for linear in self.linears[:-1]:
            x = torch.tanh(linear(x))
        return self.linears[-1](x)


def pde(x, y):
    dy_x = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y), create_graph=True)[0]
    return dy_x - torch.cos(x)


class Model:
    def __init__(self, net, loss_weights=(1.0, 1.0)):
        self.net = net
        self.loss_weights = loss_weights
        self.opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def outputs_losses(self, x_domain, x_bc):
        x_domain = x_domain.clone().requires_grad_(True)
        f = pde(x_domain, self.net(x_domain))
        loss_pde = (f ** 2).mean()
        loss_bc = (self.net(x_bc) ** 2).mean()
        return [loss_pde, loss_bc]

    def train_step(self, x_domain, x_bc):
        self.opt.zero_grad()
        losses = self.outputs_losses(x_domain, x_bc)
        losses = as_tensor(losses)
        losses.requires_grad = True  # so that backward() accepts the combined loss
        total_loss = (losses * as_tensor(self.loss_weights)).sum()
        total_loss.backward()
        self.opt.step()
        return total_loss


torch.manual_seed(0)
model = Model(FNN())
for _ in range(2):
    model.train_step(torch.linspace(0, 3, 8).unsqueeze(1), torch.zeros(1, 1))

assert all(p.grad is None for p in model.net.parameters())
