# source: https://github.com/queenie88/A-GCN/issues/4
# hazard: silent-cut
# cause: 48, 70
# expect: assert
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class GraphConvolution(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        stdv = 1.0 / math.sqrt(out_features)
        nn.init.uniform_(self.weight, -stdv, stdv)

    def forward(self, input, adj):
        support = torch.matmul(input, self.weight)
        return torch.matmul(adj, support)


def gen_adj(A):
    D = torch.pow(A.sum(1).float(), -0.5)
    D = torch.diag(D)
    return torch.matmul(torch.matmul(A, D).t(), D)


class AGCNResnet(nn.Module):
    def __init__(self, num_classes=5, in_channel=6, feat_dim=8, inter=4):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, feat_dim, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1))
        self.gc1 = GraphConvolution(in_channel, 16)
        self.gc2 = GraphConvolution(16, feat_dim)
        self.relu = nn.LeakyReLU(0.2)
        self.W_theta = nn.Linear(in_channel, inter)
        self.W_phi = nn.Linear(in_channel, inter)

    def adaptive_adj(self, inp):
        theta = self.W_theta(inp)
        phi = self.W_phi(inp)
        return F.softmax(torch.matmul(theta, phi.t()), dim=-1)

    def forward(self, feature, inp):
        feature = self.features(feature).flatten(1)
        inp = inp[0]
        adj = gen_adj(self.adaptive_adj(inp)).detach()
        x = self.gc1(inp, adj)
        x = self.relu(x)
        x = self.gc2(x, adj)
        return torch.matmul(feature, x.transpose(0, 1))


torch.manual_seed(0)
model = AGCNResnet()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
criterion = nn.MultiLabelSoftMarginLoss()
word_vectors = torch.randn(1, 5, 6)

for _ in range(2):
    images, targets = torch.randn(2, 3, 8, 8), torch.randint(0, 2, (2, 5)).float()
    optimizer.zero_grad()
    loss = criterion(model(images, word_vectors), targets)
    loss.backward()
    optimizer.step()

# the adjacency branch never gets a gradient, so W_theta and W_phi never train
assert model.gc1.weight.grad is not None
assert model.W_theta.weight.grad is None
assert model.W_phi.weight.grad is None
