# source: https://github.com/pytorch/tutorials/pull/3717
# hazard: nonleaf-grad
# cause: 11, 39
# expect: assert
import math

import torch

torch.manual_seed(0)
# requires_grad set before the Xavier scaling: the division is recorded
weights = torch.randn(20, 10, requires_grad=True) / math.sqrt(20)
bias = torch.zeros(10, requires_grad=True)


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def model(xb):
    return log_softmax(xb @ weights + bias)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


loss_func = nll
x_train, y_train = torch.randn(8, 20), torch.randint(0, 10, (8,))
bs, lr = 8, 0.5  # one batch

for i in range(len(x_train) // bs):
    xb = x_train[i * bs:(i + 1) * bs]
    yb = y_train[i * bs:(i + 1) * bs]
    pred = model(xb)
    loss = loss_func(pred, yb)
    loss.backward()

    # the tutorial's update: weights -= weights.grad * lr; bias -= bias.grad * lr
    assert weights.grad is None
    assert bias.grad is not None
    with torch.no_grad():
        bias -= bias.grad * lr
        bias.grad.zero_()
