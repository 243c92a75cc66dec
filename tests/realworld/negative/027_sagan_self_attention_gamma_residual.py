# source: https://github.com/heykeetae/Self-Attention-GAN/blob/master/sagan_models.py
# hazard: none
# expect: runs
import numpy as np
import torch
import torch.nn as nn
from torch.nn import Parameter

torch.manual_seed(0)


def l2normalize(v, eps=1e-12):
    return v / (v.norm() + eps)


class SpectralNorm(nn.Module):
    def __init__(self, module, name='weight', power_iterations=1):
        super(SpectralNorm, self).__init__()
        self.module = module
        self.name = name
        self.power_iterations = power_iterations
        if not self._made_params():
            self._make_params()

    def _update_u_v(self):
        u = getattr(self.module, self.name + "_u")
        v = getattr(self.module, self.name + "_v")
        w = getattr(self.module, self.name + "_bar")
        height = w.data.shape[0]
        for _ in range(self.power_iterations):
            v.data = l2normalize(torch.mv(torch.t(w.view(height, -1).data), u.data))
            u.data = l2normalize(torch.mv(w.view(height, -1).data, v.data))
        sigma = u.dot(w.view(height, -1).mv(v))
        setattr(self.module, self.name, w / sigma.expand_as(w))

    def _made_params(self):
        return all(hasattr(self.module, self.name + s) for s in ("_u", "_v", "_bar"))

    def _make_params(self):
        w = getattr(self.module, self.name)
        height = w.data.shape[0]
        width = w.view(height, -1).data.shape[1]
        u = Parameter(w.data.new(height).normal_(0, 1), requires_grad=False)
        v = Parameter(w.data.new(width).normal_(0, 1), requires_grad=False)
        u.data = l2normalize(u.data)
        v.data = l2normalize(v.data)
        w_bar = Parameter(w.data)
        del self.module._parameters[self.name]
        self.module.register_parameter(self.name + "_u", u)
        self.module.register_parameter(self.name + "_v", v)
        self.module.register_parameter(self.name + "_bar", w_bar)

    def forward(self, *args):
        self._update_u_v()
        return self.module.forward(*args)


class Self_Attn(nn.Module):
    def __init__(self, in_dim, activation):
        super(Self_Attn, self).__init__()
        self.chanel_in = in_dim
        self.activation = activation
        self.query_conv = nn.Conv2d(in_channels=in_dim, out_channels=in_dim // 8, kernel_size=1)
        self.key_conv = nn.Conv2d(in_channels=in_dim, out_channels=in_dim // 8, kernel_size=1)
        self.value_conv = nn.Conv2d(in_channels=in_dim, out_channels=in_dim, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x):
        m_batchsize, C, width, height = x.size()
        proj_query = self.query_conv(x).view(m_batchsize, -1, width * height).permute(0, 2, 1)
        proj_key = self.key_conv(x).view(m_batchsize, -1, width * height)
        energy = torch.bmm(proj_query, proj_key)
        attention = self.softmax(energy)
        proj_value = self.value_conv(x).view(m_batchsize, -1, width * height)
        out = torch.bmm(proj_value, attention.permute(0, 2, 1))
        out = out.view(m_batchsize, C, width, height)
        out = self.gamma * out + x
        return out, attention


class Generator(nn.Module):
    def __init__(self, image_size=32, z_dim=8, conv_dim=8):
        super(Generator, self).__init__()
        repeat_num = int(np.log2(image_size)) - 3
        mult = 2 ** repeat_num
        self.l1 = nn.Sequential(SpectralNorm(nn.ConvTranspose2d(z_dim, conv_dim * mult, 4)),
                                nn.BatchNorm2d(conv_dim * mult), nn.ReLU())
        curr_dim = conv_dim * mult
        self.l2 = nn.Sequential(SpectralNorm(nn.ConvTranspose2d(curr_dim, curr_dim // 2, 4, 2, 1)),
                                nn.BatchNorm2d(curr_dim // 2), nn.ReLU())
        curr_dim = curr_dim // 2
        self.l3 = nn.Sequential(SpectralNorm(nn.ConvTranspose2d(curr_dim, curr_dim // 2, 4, 2, 1)),
                                nn.BatchNorm2d(curr_dim // 2), nn.ReLU())
        curr_dim = curr_dim // 2
        self.last = nn.Sequential(nn.ConvTranspose2d(curr_dim, 3, 4, 2, 1), nn.Tanh())
        self.attn1 = Self_Attn(conv_dim * mult // 2, 'relu')
        self.attn2 = Self_Attn(curr_dim, 'relu')

    def forward(self, z):
        z = z.view(z.size(0), z.size(1), 1, 1)
        out = self.l1(z)
        out = self.l2(out)
        out, p1 = self.attn1(out)
        out = self.l3(out)
        out, p2 = self.attn2(out)
        out = self.last(out)
        return out, p1, p2


class Discriminator(nn.Module):
    def __init__(self, conv_dim=8):
        super(Discriminator, self).__init__()
        self.l1 = nn.Sequential(SpectralNorm(nn.Conv2d(3, conv_dim, 4, 2, 1)), nn.LeakyReLU(0.1))
        self.l2 = nn.Sequential(SpectralNorm(nn.Conv2d(conv_dim, conv_dim * 2, 4, 2, 1)), nn.LeakyReLU(0.1))
        self.l3 = nn.Sequential(SpectralNorm(nn.Conv2d(conv_dim * 2, conv_dim * 4, 4, 2, 1)), nn.LeakyReLU(0.1))
        self.last = nn.Sequential(nn.Conv2d(conv_dim * 4, 1, 4))
        self.attn1 = Self_Attn(conv_dim * 2, 'relu')
        self.attn2 = Self_Attn(conv_dim * 4, 'relu')

    def forward(self, x):
        out = self.l1(x)
        out = self.l2(out)
        out, p1 = self.attn1(out)
        out = self.l3(out)
        out, p2 = self.attn2(out)
        out = self.last(out)
        return out.squeeze(), p1, p2


G, D = Generator(), Discriminator()
g_optimizer = torch.optim.Adam(filter(lambda p: p.requires_grad, G.parameters()), 1e-4, [0.0, 0.9])
d_optimizer = torch.optim.Adam(filter(lambda p: p.requires_grad, D.parameters()), 4e-4, [0.0, 0.9])


def reset_grad():
    d_optimizer.zero_grad()
    g_optimizer.zero_grad()


for step in range(2):
    D.train()
    G.train()
    real_images = torch.randn(2, 3, 32, 32)
    d_out_real, dr1, dr2 = D(real_images)
    d_loss_real = torch.nn.ReLU()(1.0 - d_out_real).mean()
    z = torch.randn(real_images.size(0), 8)
    fake_images, gf1, gf2 = G(z)
    d_out_fake, df1, df2 = D(fake_images)
    d_loss_fake = torch.nn.ReLU()(1.0 + d_out_fake).mean()
    d_loss = d_loss_real + d_loss_fake
    reset_grad()
    d_loss.backward()
    d_optimizer.step()

    z = torch.randn(real_images.size(0), 8)
    fake_images, _, _ = G(z)
    g_out_fake, _, _ = D(fake_images)
    g_loss_fake = - g_out_fake.mean()
    reset_grad()
    g_loss_fake.backward()
    g_optimizer.step()
    print(step, d_loss.item(), g_loss_fake.item(), G.attn1.gamma.mean().item())
assert G.attn1.gamma.grad is not None
