# source: https://github.com/abhuse/polyloss-pytorch/issues/4
# hazard: no-graph
# cause: 34, 38
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class Poly1CrossEntropyLoss(nn.Module):
    def __init__(self, num_classes, epsilon=1.0, reduction="none"):
        super().__init__()
        self.num_classes = num_classes
        self.epsilon = epsilon
        self.reduction = reduction

    def forward(self, logits, labels):
        onehot = F.one_hot(labels, num_classes=self.num_classes).to(dtype=logits.dtype)
        pt = torch.sum(onehot * F.softmax(logits, dim=-1), dim=-1)
        ce = F.cross_entropy(logits, labels, reduction="none")
        poly1 = ce + self.epsilon * (1 - pt)
        if self.reduction == "mean":
            poly1 = poly1.mean()
        elif self.reduction == "sum":
            poly1 = poly1.sum()
        return poly1


# the README's usage example, run as written
batch_size = 10
num_classes = 5
logits = torch.rand([batch_size, num_classes])
labels = torch.randint(0, num_classes, [batch_size])
loss = Poly1CrossEntropyLoss(num_classes=num_classes, reduction="mean")
out = loss(logits, labels)
out.backward()
