# source: https://discuss.pytorch.org/t/when-would-the-error-one-of-the-variables-needed-for-gradient-computation-has-been-modified-occur/11976/2
# hazard: inplace-saved
# cause: 23, 30
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch
import torch.nn as nn

torch.manual_seed(0)


class BranchNet(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1)
        self.conv1_p = nn.Conv2d(channels, channels, 3, padding=1)
        self.some_layer = nn.Conv2d(3, channels, 1)
        self.head = nn.Conv2d(channels, 1, 1)
        self.head_p = nn.Conv2d(channels, 1, 1)

    def forward(self, input):
        x = self.conv1(input)  # main branch
        x_p = self.conv1_p(x)  # another branch reads x
        x += self.some_layer(input)  # main branch
        return self.head(x), self.head_p(x_p)


net = BranchNet()
out, out_p = net(torch.randn(2, 3, 5, 5))
loss = out.mean() + out_p.mean()
loss.backward()
