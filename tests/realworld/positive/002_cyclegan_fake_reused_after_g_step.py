# source: https://github.com/cy-xu/simple_CycleGAN/issues/3
# hazard: inplace-saved
# cause: 77, 89, 98
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import itertools

import torch
import torch.nn as nn

torch.manual_seed(0)


class ResnetGenerator(nn.Module):
    def __init__(self, nc=3, ngf=4):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(nc, ngf, 3, padding=1),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
            nn.Conv2d(ngf, nc, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, nc=3, ndf=4):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, 1, 3, 1, 1),
        )

    def forward(self, x):
        return self.model(x)


class GANLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer('real_label', torch.tensor(1.0))
        self.register_buffer('fake_label', torch.tensor(0.0))
        self.loss = nn.MSELoss()

    def forward(self, prediction, target_is_real):
        target = self.real_label if target_is_real else self.fake_label
        return self.loss(prediction, target.expand_as(prediction))


netG_x, netG_y = ResnetGenerator(), ResnetGenerator()
netD_x, netD_y = NLayerDiscriminator(), NLayerDiscriminator()
optimizer_g = torch.optim.Adam(itertools.chain(netG_x.parameters(), netG_y.parameters()), lr=2e-4)
optimizer_d = torch.optim.Adam(itertools.chain(netD_x.parameters(), netD_y.parameters()), lr=2e-4)

criterionGAN = GANLoss()
criterionCycle = nn.L1Loss()
criterionIdt = nn.L1Loss()
lambda_X, lambda_Y, lambda_identity = 10.0, 10.0, 0.5

dataset = [{'A': torch.randn(1, 3, 8, 8), 'B': torch.randn(1, 3, 8, 8)}]
for i, data in enumerate(dataset):
    real_x, real_y = data['A'], data['B']

    # X -> Y' -> X^ cycle
    optimizer_g.zero_grad()
    fake_y = netG_x(real_x)
    loss_G_X = criterionGAN(netD_x(fake_y), True)
    x_hat = netG_y(fake_y)
    loss_cycle_X = criterionCycle(x_hat, real_x) * lambda_X
    idt_x = netG_x(real_y)
    loss_idt_x = criterionIdt(idt_x, real_y) * lambda_Y * lambda_identity
    loss_X = loss_G_X + loss_cycle_X + loss_idt_x
    loss_X.backward(retain_graph=True)
    optimizer_g.step()

    # Y -> X' -> Y^ cycle
    optimizer_g.zero_grad()
    fake_x = netG_y(real_y)
    loss_G_Y = criterionGAN(netD_y(fake_x), True)
    y_hat = netG_x(fake_x)
    loss_cycle_Y = criterionCycle(y_hat, real_y) * lambda_Y
    idt_y = netG_y(real_x)
    loss_idt_y = criterionIdt(idt_y, real_x) * lambda_X * lambda_identity
    loss_Y = loss_G_Y + loss_cycle_Y + loss_idt_y
    loss_Y.backward(retain_graph=True)
    optimizer_g.step()

    # netD_x sees the fake_y made before the generator steps
    optimizer_d.zero_grad()
    pred_real = netD_x(real_y)
    loss_D_x_real = criterionGAN(pred_real, True)
    pred_fake = netD_x(fake_y)
    loss_D_x_fake = criterionGAN(pred_fake, False)
    loss_D_x = (loss_D_x_real + loss_D_x_fake) * 0.5
    loss_D_x.backward()
    optimizer_d.step()
