# source: https://github.com/d2l-ai/d2l-en/pull/2600
# hazard: silent-cut
# cause: 17, 33, 34
# expect: assert
import torch
import torch.nn as nn
import torch.nn.functional as F


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units,))

    def forward(self, X):
        linear = torch.matmul(X, self.weight.data) + self.bias.data
        return F.relu(linear)


torch.manual_seed(0)
net = nn.Sequential(MyLinear(64, 8), nn.Linear(8, 1))
trainer = torch.optim.SGD(net.parameters(), lr=0.01)
X, y = torch.rand(4, 64), torch.rand(4, 1)
for epoch in range(2):
    trainer.zero_grad()
    l = F.mse_loss(net(X), y)
    l.backward()
    trainer.step()

# only the built-in head learns; the custom layer's parameters get no gradient
assert net[1].weight.grad is not None
assert net[0].weight.grad is None
assert net[0].bias.grad is None
