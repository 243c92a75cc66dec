# source: https://github.com/pyg-team/pytorch_geometric/issues/874
# hazard: no-graph
# cause: 55, 56
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class GCNConv(nn.Module):
    """Stand-in for torch_geometric's GCNConv: mean over neighbours, then a linear map."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels)

    def forward(self, x, edge_index):
        src, dst = edge_index
        agg = torch.zeros_like(x).index_add(0, dst, x[src]) + x
        deg = torch.bincount(dst, minlength=x.size(0)).unsqueeze(1) + 1
        return self.lin(agg / deg)


class Batch:
    def __init__(self, x, edge_index):
        self.x = x
        self.edge_index = edge_index


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = GCNConv(3, 16)
        self.conv2 = GCNConv(16, 3)

    def forward(self, data):
        x, edge_index = data.x, data.edge_index
        x = self.conv1(x, edge_index)
        x = self.conv2(x, edge_index)
        return x


edge_index = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
loader = [Batch(torch.randn(4, 3), edge_index) for _ in range(2)]
model = Net()
optimizer = torch.optim.Adam(model.parameters())

for epoch in range(2):
    running_loss = 0
    for data in loader:
        optimizer.zero_grad()
        out = model(data)
        loss = F.mse_loss(data.x, data.x)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
