# source: https://github.com/j-sripad/mulitresunet-pytorch/issues/3
# hazard: inplace-saved
# cause: 70, 77, 87
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class Conv2d_batchnorm(nn.Module):
    def __init__(self, input_features: int, num_of_filters: int, kernel_size: Tuple = (2, 2),
                 stride: Tuple = (1, 1), activation: str = 'relu', padding: int = 0) -> None:
        super().__init__()
        self.activation = activation
        self.conv1 = nn.Conv2d(in_channels=input_features, out_channels=num_of_filters,
                               kernel_size=kernel_size, stride=stride, padding=padding)
        self.batchnorm = nn.BatchNorm2d(num_of_filters, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.batchnorm(x)
        if self.activation == 'relu':
            return F.relu(x)
        else:
            return x


class Multiresblock(nn.Module):
    def __init__(self, input_features: int, filters: Tuple[int, int, int]) -> None:
        super().__init__()
        f3, f5, f7 = filters
        self.conv2d_bn_1x1 = Conv2d_batchnorm(input_features, f3 + f5 + f7, kernel_size=(1, 1),
                                              activation='None', padding=0)
        self.conv2d_bn_3x3 = Conv2d_batchnorm(input_features, f3, kernel_size=(3, 3), padding=1)
        self.conv2d_bn_5x5 = Conv2d_batchnorm(f3, f5, kernel_size=(3, 3), padding=1)
        self.conv2d_bn_7x7 = Conv2d_batchnorm(f5, f7, kernel_size=(3, 3), padding=1)
        self.batch_norm1 = nn.BatchNorm2d(f3 + f5 + f7, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        temp = self.conv2d_bn_1x1(x)
        a = self.conv2d_bn_3x3(x)
        b = self.conv2d_bn_5x5(a)
        c = self.conv2d_bn_7x7(b)
        x = torch.cat([a, b, c], axis=1)
        x = self.batch_norm1(x)
        x += temp
        x = self.batch_norm1(x)
        return x


class Respath(nn.Module):
    def __init__(self, input_features: int, filters: int, respath_length: int) -> None:
        super().__init__()
        self.respath_length = respath_length
        self.conv2d_bn_1x1 = Conv2d_batchnorm(input_features, filters, kernel_size=(1, 1),
                                              activation='None', padding=0)
        self.conv2d_bn_3x3 = Conv2d_batchnorm(input_features, filters, kernel_size=(3, 3), padding=1)
        self.conv2d_bn_1x1_common = Conv2d_batchnorm(filters, filters, kernel_size=(1, 1),
                                                     activation='None', padding=0)
        self.conv2d_bn_3x3_common = Conv2d_batchnorm(filters, filters, kernel_size=(3, 3), padding=1)
        self.batch_norm1 = nn.BatchNorm2d(filters, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv2d_bn_1x1(x)
        x = self.conv2d_bn_3x3(x)
        x += shortcut
        x = F.relu(x)
        x = self.batch_norm1(x)
        if self.respath_length > 1:
            for i in range(self.respath_length):
                shortcut = self.conv2d_bn_1x1_common(x)
                x = self.conv2d_bn_3x3_common(x)
                x += shortcut
                x = F.relu(x)
                x = self.batch_norm1(x)
        return x


block = Multiresblock(3, (2, 3, 3))
respath = Respath(input_features=8, filters=4, respath_length=2)
out = respath(block(torch.randn(2, 3, 8, 8)))
loss = out.pow(2).mean()
loss.backward()
