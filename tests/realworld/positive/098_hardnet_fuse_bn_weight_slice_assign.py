# source: https://github.com/PingoLH/FCHarDNet/issues/61
# hazard: inplace-leaf
# cause: 38
# expect: RuntimeError: leaf Variable that requires grad is being used in an in-place operation
import torch
import torch.nn as nn


class ConvLayer(nn.Sequential):
    def __init__(self, in_channels, out_channels, kernel=3, stride=1):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False))
        self.add_module("norm", nn.BatchNorm2d(out_channels))
        self.add_module("relu", nn.ReLU(inplace=True))


class TinyHarDNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.ModuleList([ConvLayer(3, 8), ConvLayer(8, 8)])
        self.finalConv = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        for layer in self.base:
            x = layer(x)
        return self.finalConv(x)


def fuse_bn_recursively(model):
    for name, module in model.named_children():
        if isinstance(module, ConvLayer):
            conv, bn = module.conv, module.norm
            std = torch.sqrt(bn.running_var + bn.eps)
            W = conv.weight * (bn.weight / std).view(-1, 1, 1, 1)
            b = bn.bias - bn.weight * bn.running_mean / std
            cconv = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                              conv.stride, conv.padding, bias=True)
            cconv.weight[:, :, :, :] = W[:, :, :, :]
            cconv.bias[:] = b[:]
            model._modules[name] = nn.Sequential(cconv, nn.ReLU(inplace=True))
        else:
            fuse_bn_recursively(module)
    return model


torch.manual_seed(0)
model = TinyHarDNet()
model.eval()
model = fuse_bn_recursively(model)
print(model(torch.randn(1, 3, 8, 8)).shape)
