# source: https://www.yongfengli.tk/2018/04/13/inplace-operation-in-pytorch.html
# hazard: inplace-saved
# cause: 21, 29
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch
import torch.nn as nn

torch.manual_seed(0)


class RowShift(nn.Module):
    def __init__(self, n=10):
        super().__init__()
        self.n = n
        self.param = nn.Parameter(torch.randn(n, n) * 0.1)

    def forward(self, a):
        y = 0
        b = torch.mm(self.param, a)
        for i in range(self.n):
            b[i] = b[i] + 1
            y = y + torch.mm(self.param, b)
        return y


model = RowShift()
a = torch.randn(10, 1)
y = model(a)
y.sum().backward()
