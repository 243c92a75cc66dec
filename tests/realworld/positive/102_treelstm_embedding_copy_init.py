# source: https://github.com/dasguptar/treelstm.pytorch/pull/26
# hazard: inplace-leaf
# cause: 46
# expect: RuntimeError: a leaf Variable that requires grad is being used in an in-place operation
import torch
import torch.nn as nn
import torch.nn.functional as F


class ChildSumTreeLSTM(nn.Module):
    def __init__(self, in_dim, mem_dim):
        super().__init__()
        self.cell = nn.LSTMCell(in_dim, mem_dim)
        self.mem_dim = mem_dim

    def forward(self, inputs):
        h = c = inputs.new_zeros(1, self.mem_dim)
        for x in inputs:  # leaves-to-root order of a chain-shaped tree
            h, c = self.cell(x.unsqueeze(0), (h, c))
        return c, h


class Similarity(nn.Module):
    def __init__(self, mem_dim, hidden_dim, num_classes):
        super().__init__()
        self.wh = nn.Linear(2 * mem_dim, hidden_dim)
        self.wp = nn.Linear(hidden_dim, num_classes)

    def forward(self, lvec, rvec):
        mult_dist = lvec * rvec
        abs_dist = torch.abs(lvec - rvec)
        vec_dist = torch.cat((mult_dist, abs_dist), 1)
        out = torch.sigmoid(self.wh(vec_dist))
        return F.log_softmax(self.wp(out), dim=1)


class SimilarityTreeLSTM(nn.Module):
    def __init__(self, vocab_size, in_dim, mem_dim, hidden_dim, num_classes, sparsity, freeze, init_emb):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, in_dim, padding_idx=0, sparse=sparsity)
        if freeze:
            self.emb.weight.requires_grad = False
        self.childsumtreelstm = ChildSumTreeLSTM(in_dim, mem_dim)
        self.similarity = Similarity(mem_dim, hidden_dim, num_classes)
        # plug the pretrained GloVe vectors into the embedding layer
        self.emb.weight.copy_(init_emb)

    def forward(self, linputs, rinputs):
        linputs, rinputs = self.emb(linputs), self.emb(rinputs)
        lstate, lhidden = self.childsumtreelstm(linputs)
        rstate, rhidden = self.childsumtreelstm(rinputs)
        return self.similarity(lstate, rstate)


torch.manual_seed(0)
emb = torch.randn(20, 6)
model = SimilarityTreeLSTM(20, 6, 8, 8, 5, sparsity=False, freeze=False, init_emb=emb)
output = model(torch.tensor([1, 2, 3]), torch.tensor([4, 5]))
