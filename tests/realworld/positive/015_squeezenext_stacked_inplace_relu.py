# source: https://github.com/osmr/imgclsmob/issues/5
# hazard: inplace-saved
# cause: 55, 68
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch
import torch.nn as nn

torch.manual_seed(0)


class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, bias=True):
        super(ConvBlock, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.bn = nn.BatchNorm2d(out_channels)
        self.activ = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.activ(self.bn(self.conv(x)))


def conv1x1_block(in_channels, out_channels, stride=1, bias=True):
    return ConvBlock(in_channels, out_channels, 1, stride, 0, bias=bias)


class SqnxtUnit(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super(SqnxtUnit, self).__init__()
        if stride == 2:
            reduction_den = 1
            self.resize_identity = True
        elif in_channels > out_channels:
            reduction_den = 4
            self.resize_identity = True
        else:
            reduction_den = 2
            self.resize_identity = False

        self.conv1 = conv1x1_block(in_channels, in_channels // reduction_den, stride=stride)
        self.conv2 = conv1x1_block(in_channels // reduction_den, in_channels // (2 * reduction_den))
        self.conv3 = ConvBlock(in_channels // (2 * reduction_den), in_channels // reduction_den,
                               kernel_size=(1, 3), stride=1, padding=(0, 1))
        self.conv4 = ConvBlock(in_channels // reduction_den, in_channels // reduction_den,
                               kernel_size=(3, 1), stride=1, padding=(1, 0))
        self.conv5 = conv1x1_block(in_channels // reduction_den, out_channels)
        if self.resize_identity:
            self.identity_conv = conv1x1_block(in_channels, out_channels, stride=stride)
        self.activ = nn.ReLU(inplace=True)

    def forward(self, x):
        if self.resize_identity:
            identity = self.identity_conv(x)
        else:
            identity = x
        identity = self.activ(identity)
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.conv4(x)
        x = self.conv5(x)
        x = x + identity
        x = self.activ(x)
        return x


stage = nn.Sequential(SqnxtUnit(8, 16, stride=2), SqnxtUnit(16, 16, stride=1))
y = stage(torch.randn(2, 8, 8, 8))
y.sum().backward()
