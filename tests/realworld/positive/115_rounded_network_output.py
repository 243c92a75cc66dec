# source: https://discuss.pytorch.org/t/torch-round-gradient/28628/4
# hazard: silent-cut
# cause: 19, 36
# expect: assert
import torch
import torch.nn as nn


class CountRegressor(nn.Module):
    def __init__(self, n_in=5, hidden=16, decimals=0):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.decimals = decimals

    def forward(self, x):
        out = self.body(x) * 10
        # the reporter rounds the network output to whole counts
        scale = 10 ** self.decimals
        return torch.round(out * scale) / scale


torch.manual_seed(0)
model = CountRegressor()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
criterion = nn.MSELoss()
x, y = torch.randn(8, 5), torch.randint(0, 10, (8, 1)).float()

for step in range(2):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()

# round() has a zero derivative: the loss is nonzero, yet every gradient is zero
assert loss.item() > 0
assert all(p.grad is not None and torch.count_nonzero(p.grad) == 0 for p in model.parameters())
