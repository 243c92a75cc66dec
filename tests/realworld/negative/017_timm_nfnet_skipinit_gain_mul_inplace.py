# source: https://github.com/huggingface/pytorch-image-models/blob/main/timm/models/nfnet.py
# hazard: none
# expect: runs
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class ScaledStdConv2d(nn.Conv2d):
    """Conv2d with scaled weight standardization (the weight is re-normalized every forward)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1, bias=True,
                 gamma=1.0, eps=1e-6, gain_init=1.0):
        padding = ((stride - 1) + (kernel_size - 1)) // 2
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         groups=groups, bias=bias)
        self.gain = nn.Parameter(torch.full((self.out_channels, 1, 1, 1), gain_init))
        self.scale = gamma * self.weight[0].numel() ** -0.5
        self.eps = eps

    def forward(self, x):
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None,
            weight=(self.gain * self.scale).view(-1),
            training=True, momentum=0., eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class NormFreeBlock(nn.Module):
    def __init__(self, in_chs, out_chs=None, alpha=0.2, beta=1.0, bottle_ratio=0.5,
                 skipinit=True, act_layer=nn.SiLU, conv_layer=ScaledStdConv2d):
        super().__init__()
        out_chs = out_chs or in_chs
        mid_chs = int(in_chs * bottle_ratio)
        self.alpha = alpha
        self.beta = beta
        self.downsample = None
        self.act1 = act_layer()
        self.conv1 = conv_layer(in_chs, mid_chs, 1)
        self.act2 = act_layer(inplace=True)
        self.conv2 = conv_layer(mid_chs, mid_chs, 3)
        self.act3 = act_layer()
        self.conv3 = conv_layer(mid_chs, out_chs, 1, gain_init=1. if skipinit else 0.)
        self.drop_path = nn.Identity()
        self.skipinit_gain = nn.Parameter(torch.tensor(0.)) if skipinit else None

    def forward(self, x):
        out = self.act1(x) * self.beta
        shortcut = x
        if self.downsample is not None:
            shortcut = self.downsample(out)
        out = self.conv1(out)
        out = self.conv2(self.act2(out))
        out = self.conv3(self.act3(out))
        out = self.drop_path(out)
        if self.skipinit_gain is not None:
            out.mul_(self.skipinit_gain)
        out = out * self.alpha + shortcut
        return out


class NormFreeNet(nn.Module):
    def __init__(self, num_classes=4, chs=8):
        super().__init__()
        self.stem = ScaledStdConv2d(3, chs, 3, stride=2)
        self.stages = nn.Sequential(NormFreeBlock(chs), NormFreeBlock(chs), NormFreeBlock(chs))
        self.final_act = nn.SiLU(inplace=True)
        self.fc = nn.Linear(chs, num_classes)
        nn.init.zeros_(self.fc.weight)

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        x = self.final_act(x)
        x = x.mean((2, 3))
        return self.fc(x)


model = NormFreeNet()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
model.train()
for step in range(2):
    x, y = torch.randn(2, 3, 8, 8), torch.randint(0, 4, (2,))
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    print(step, loss.item())
assert model.stages[0].skipinit_gain.grad is not None
