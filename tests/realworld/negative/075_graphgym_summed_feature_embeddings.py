# source: https://github.com/pyg-team/pytorch_geometric/blob/master/torch_geometric/graphgym/models/encoder.py
# hazard: none
# expect: runs
import types

import torch
import torch.nn as nn


class FeatureEncoder(nn.Module):
    """One embedding table per categorical column; a node's encoding is their sum."""

    def __init__(self, cardinalities, dim):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(size, dim) for size in cardinalities)

    def forward(self, batch):
        encoded = 0
        for column in range(batch.x.shape[1]):
            encoded += self.tables[column](batch.x[:, column])
        batch.x = encoded
        return batch


class Heads(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(dim, dim) for _ in range(3))

    def forward(self, x):
        total = 0
        for head in self.heads:
            total += head(x)
        return total


torch.manual_seed(0)
encoder = FeatureEncoder([5, 7, 3], dim=4)
heads = Heads(4)
batch = types.SimpleNamespace(x=torch.stack([torch.randint(0, n, (6,)) for n in (5, 7, 3)], dim=1))
out = heads(encoder(batch).x)
out.sum().backward()
assert all(table.weight.grad is not None for table in encoder.tables)
