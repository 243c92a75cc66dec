# source: https://github.com/Randl/improved-improved-wgan-pytorch/issues/1
# hazard: inplace-saved
# cause: 23, 24, 40, 41, 52
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
from collections import OrderedDict

import numpy as np
import torch
import torch.autograd as autograd
import torch.nn as nn

torch.manual_seed(0)


class WGANDiscriminator(nn.Module):
    def __init__(self, input_size=16, in_channels=3, num_filters=4,
                 activation=nn.LeakyReLU, dropout_rate=0.5):
        super(WGANDiscriminator, self).__init__()
        self.activation = activation
        self.input_size = input_size
        self.dropout_rate = dropout_rate
        self.first_conv = nn.Sequential(nn.Conv2d(in_channels, num_filters, kernel_size=5, stride=2, padding=2),
                                        activation(inplace=True),
                                        nn.Dropout(p=dropout_rate, inplace=True))
        self.conv, last_filter = self._make_conv(num_filters)
        self.final_fc = nn.Linear(last_filter * 4 * 4, 1)

    def forward(self, x):
        x = self.first_conv(x)
        pre_last = self.conv(x)
        pre_last = pre_last.view(pre_last.shape[0], -1)
        x = self.final_fc(pre_last)
        return x, pre_last

    def _make_conv(self, num_filters):
        modules = OrderedDict()
        for i in range(int(np.log2(self.input_size)) - 3):
            module = nn.Sequential(
                nn.Conv2d(num_filters, num_filters * 2, kernel_size=5, stride=2, padding=2),
                self.activation(inplace=True),
                nn.Dropout(p=self.dropout_rate, inplace=True))
            num_filters *= 2
            modules["Conv_{}".format(i + 1)] = module
        return nn.Sequential(modules), num_filters


def gradient_penalty(fake_data, real_data, discriminator):
    alpha = torch.rand(fake_data.shape[0], 1, 1, 1).expand(fake_data.shape)
    interpolates = alpha * fake_data + (1 - alpha) * real_data
    interpolates.requires_grad_(True)
    disc_interpolates, _ = discriminator(interpolates)
    gradients = autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                              grad_outputs=torch.ones(disc_interpolates.size()),
                              create_graph=True, retain_graph=True, only_inputs=True)[0]
    gradients = gradients.view(gradients.size(0), -1)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


netD = WGANDiscriminator()
optimizerD = torch.optim.Adam(netD.parameters(), lr=1e-4, betas=(0.5, 0.9))
real_inputs = torch.randn(4, 3, 16, 16)
fake_inputs = torch.randn(4, 3, 16, 16)

netD.zero_grad()
d_real, _ = netD(real_inputs)
d_fake, _ = netD(fake_inputs)
loss = d_fake.mean() - d_real.mean() + 10 * gradient_penalty(fake_inputs.data, real_inputs.data, netD)
loss.backward()
optimizerD.step()
