# source: https://github.com/qubvel-org/segmentation_models.pytorch/pull/611
# hazard: no-graph
# cause: 13, 49
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn

torch.manual_seed(0)


def _threshold(x, threshold=None):
    if threshold is not None:
        return (x > threshold).type(x.dtype)
    else:
        return x


def f_score(pr, gt, beta=1, eps=1e-7, threshold=None):
    pr = _threshold(pr, threshold=threshold)
    tp = torch.sum(gt * pr)
    fp = torch.sum(pr) - tp
    fn = torch.sum(gt) - tp
    return ((1 + beta ** 2) * tp + eps) / ((1 + beta ** 2) * tp + beta ** 2 * fn + fp + eps)


class DiceLoss(nn.Module):
    __name__ = "dice_loss"

    def __init__(self, eps=1.0, beta=1.0, activation=None, threshold=None):
        super().__init__()
        self.eps = eps
        self.beta = beta
        self.activation = activation or nn.Identity()
        self.threshold = threshold

    def forward(self, y_pr, y_gt):
        y_pr = self.activation(y_pr)
        return 1 - f_score(y_pr, y_gt, beta=self.beta, eps=self.eps, threshold=self.threshold)


class TrainEpoch:
    def __init__(self, model, loss, optimizer):
        self.model, self.loss, self.optimizer = model, loss, optimizer

    def batch_update(self, x, y):
        self.optimizer.zero_grad()
        prediction = self.model.forward(x)
        loss = self.loss(prediction, y)
        loss.backward()
        self.optimizer.step()
        return loss, prediction


model = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1))
loss = DiceLoss(activation=nn.Sigmoid(), threshold=0.5)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
train_epoch = TrainEpoch(model, loss, optimizer)
x = torch.randn(2, 3, 8, 8)
y = (torch.rand(2, 1, 8, 8) > 0.5).float()
train_epoch.batch_update(x, y)
