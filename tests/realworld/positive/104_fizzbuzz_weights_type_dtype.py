# source: https://github.com/hhsecond/HandsOnDeepLearningWithPytorch/issues/2
# hazard: nonleaf-grad
# cause: 35, 36, 53, 54
# expect: assert
import numpy as np
import torch

# The reporter ran on a GPU, where .type(torch.cuda.FloatTensor) copies the
# CPU tensor; converting to double copies the same way on a CPU-only machine.
dtype = torch.cuda.FloatTensor if torch.cuda.is_available() else torch.DoubleTensor


def binary_encoder(input_size):
    def wrapper(num):
        ret = [int(i) for i in "{0:b}".format(num)]
        return [0] * (input_size - len(ret)) + ret
    return wrapper


def get_numpy_data(input_size=10, limit=20):
    x, y = [], []
    encoder = binary_encoder(input_size)
    for i in range(limit):
        x.append(encoder(i))
        y.append([i % 3 == 0 and i % 5 == 0, i % 5 == 0, i % 3 == 0, True].index(True))
    return np.array(x), np.eye(4)[np.array(y)]


input_size, hidden_size, output_size = 10, 16, 4
lr = 0.01
trX, trY = get_numpy_data(input_size)
x = torch.from_numpy(trX).type(dtype)
y = torch.from_numpy(trY).type(dtype)

w1 = torch.randn(input_size, hidden_size, requires_grad=True).type(dtype)
w2 = torch.randn(hidden_size, output_size, requires_grad=True).type(dtype)
b1 = torch.zeros(1, hidden_size, requires_grad=True).type(dtype)
b2 = torch.zeros(1, output_size, requires_grad=True).type(dtype)

for epoch in range(2):
    a2 = x.mm(w1)
    a2 = a2.add(b1)
    h2 = a2.sigmoid()
    a3 = h2.mm(w2)
    a3 = a3.add(b2)
    hyp = a3.sigmoid()
    error = hyp - y
    output = error.pow(2).sum() / 2.0
    output.backward()

# the script's update step (w1 -= lr * w1.grad, ...) finds no gradients
assert w1.is_leaf is False
assert w1.grad is None
assert w2.grad is None
assert b1.grad is None and b2.grad is None
