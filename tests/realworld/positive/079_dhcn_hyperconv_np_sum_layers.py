# source: https://github.com/xiaxin1998/DHCN/issues/8
# hazard: numpy
# cause: 38
# expect: RuntimeError: Can't call numpy() on Tensor that requires grad
import math

import numpy as np
import torch
from torch import nn
from torch.nn import Module

torch.manual_seed(0)


def trans_to_cuda(variable):
    if torch.cuda.is_available():
        return variable.cuda()
    return variable


class HyperConv(Module):
    def __init__(self, layers, emb_size=16):
        super(HyperConv, self).__init__()
        self.emb_size = emb_size
        self.layers = layers

    def forward(self, adjacency, embedding):
        rows, cols = np.nonzero(adjacency)
        values = adjacency[rows, cols]
        i = torch.LongTensor(np.vstack((rows, cols)))
        v = torch.FloatTensor(values)
        adjacency = torch.sparse_coo_tensor(i, v, torch.Size(adjacency.shape))
        item_embeddings = embedding
        final = [item_embeddings]
        for _ in range(self.layers):
            item_embeddings = torch.sparse.mm(trans_to_cuda(adjacency), item_embeddings)
            final.append(item_embeddings)
        item_embeddings = np.sum(final, 0)
        return item_embeddings


class DHCN(Module):
    def __init__(self, adjacency, n_node, layers, emb_size=16):
        super(DHCN, self).__init__()
        self.emb_size = emb_size
        self.adjacency = adjacency
        self.embedding = nn.Embedding(n_node, emb_size)
        self.HyperGraph = HyperConv(layers, emb_size)
        self.loss_function = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        stdv = 1.0 / math.sqrt(emb_size)
        for weight in self.parameters():
            weight.data.uniform_(-stdv, stdv)

    def forward(self, session_item):
        item_embeddings_hg = self.HyperGraph(self.adjacency, self.embedding.weight)
        sess_emb = item_embeddings_hg[session_item].mean(dim=1)
        return item_embeddings_hg, sess_emb


n_node = 6
adjacency = (np.random.RandomState(0).rand(n_node, n_node) > 0.5).astype(np.float32) / 3.0
model = trans_to_cuda(DHCN(adjacency, n_node, layers=2))
session_item = trans_to_cuda(torch.tensor([[0, 1, 2], [3, 4, 5]]))
targets = trans_to_cuda(torch.tensor([1, 4]))

model.zero_grad()
item_emb_hg, sess_emb = model(session_item)
scores = torch.mm(sess_emb, item_emb_hg.t())
loss = model.loss_function(scores, targets)
loss.backward()
model.optimizer.step()
