# source: https://github.com/dillondavis/RecurrentAttentionConvolutionalNeuralNetwork/issues/4
# hazard: non-scalar
# cause: 20, 56
# expect: RuntimeError: grad can be implicitly created only for scalar outputs
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class RankLoss(nn.Module):
    def __init__(self, margin):
        super(RankLoss, self).__init__()
        self.margin = margin

    def forward(self, scores1, scores2, target):
        ps1 = F.softmax(scores1, dim=1)[:, target.long()]
        ps2 = F.softmax(scores2, dim=1)[:, target.long()]
        return torch.clamp(ps1 - ps2 + self.margin, min=0)


class RACNN(nn.Module):
    """Three scales: a classifier per scale, an attention net that picks the next crop."""

    def __init__(self, n_in=12, n_classes=5, scales=3):
        super().__init__()
        self.cnns = nn.ModuleList([nn.Linear(n_in, n_classes) for _ in range(scales)])
        self.apns = nn.ModuleList([nn.Linear(n_in, n_in) for _ in range(scales - 1)])

    def forward(self, x):
        scores = []
        for i, cnn in enumerate(self.cnns):
            scores.append(cnn(x))
            if i < len(self.apns):
                x = x * torch.sigmoid(self.apns[i](x))
        return scores


class Manager(object):
    def __init__(self, model):
        self.model = model
        self.criterion_class = nn.CrossEntropyLoss()
        self.criterion_rank = RankLoss(0.05)

    def do_batch(self, optimizer, batch, label, optimize_class=True):
        self.model.zero_grad()
        scores = self.model(batch)
        if optimize_class:
            for i in range(len(scores) - 1, -1, -1):
                retain_graph = i > 0
                self.criterion_class(scores[i], label).backward(retain_graph=retain_graph)
        else:
            for i in range(len(scores) - 1, 0, -1):
                retain_graph = (i - 1) > 0
                self.criterion_rank(scores[i - 1], scores[i], label).backward(retain_graph=retain_graph)
        optimizer.step()

    def do_epoch(self, loader, optimizer, optimize_class=True):
        for batch, label in loader:
            self.do_batch(optimizer, batch, label, optimize_class=optimize_class)


model = RACNN()
manager = Manager(model)
cnn_optimizer = torch.optim.SGD(model.cnns.parameters(), lr=0.01)
apn_optimizer = torch.optim.SGD(model.apns.parameters(), lr=0.01)
loader = [(torch.randn(4, 12), torch.randint(0, 5, (4,))) for _ in range(2)]
manager.do_epoch(loader, cnn_optimizer, optimize_class=True)
manager.do_epoch(loader, apn_optimizer, optimize_class=False)
