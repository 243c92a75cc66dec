# source: https://github.com/eriklindernoren/PyTorch-GAN/blob/master/implementations/pix2pix/models.py
# hazard: none
# expect: runs
import torch
import torch.nn as nn

torch.manual_seed(0)


class UNetDown(nn.Module):
    def __init__(self, in_size, out_size, normalize=True, dropout=0.0):
        super(UNetDown, self).__init__()
        model = [nn.Conv2d(in_size, out_size, 3, stride=2, padding=1),
                 nn.LeakyReLU(0.2, inplace=True)]
        if normalize:
            model += [nn.BatchNorm2d(out_size, 0.8)]
        if dropout:
            model += [nn.Dropout(dropout)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class UNetUp(nn.Module):
    def __init__(self, in_size, out_size, dropout=0.0):
        super(UNetUp, self).__init__()
        model = [nn.Upsample(scale_factor=2),
                 nn.Conv2d(in_size, out_size, 3, stride=1, padding=1),
                 nn.LeakyReLU(0.2, inplace=True),
                 nn.BatchNorm2d(out_size, 0.8)]
        if dropout:
            model += [nn.Dropout(dropout)]
        self.model = nn.Sequential(*model)

    def forward(self, x, skip_input):
        x = self.model(x)
        out = torch.cat((x, skip_input), 1)
        return out


class GeneratorUNet(nn.Module):
    def __init__(self, in_channels=3, out_channels=3):
        super(GeneratorUNet, self).__init__()
        self.down1 = UNetDown(in_channels, 8, normalize=False)
        self.down2 = UNetDown(8, 16)
        self.down3 = UNetDown(16, 16, dropout=0.5)
        self.up1 = UNetUp(16, 16, dropout=0.5)
        self.up2 = UNetUp(32, 8)
        self.final = nn.Sequential(nn.Upsample(scale_factor=2),
                                   nn.Conv2d(16, out_channels, 3, 1, 1),
                                   nn.Tanh())

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(d1)
        d3 = self.down3(d2)
        u1 = self.up1(d3, d2)
        u2 = self.up2(u1, d1)
        return self.final(u2)


class Discriminator(nn.Module):
    def __init__(self, in_channels=3):
        super(Discriminator, self).__init__()

        def discriminator_block(in_filters, out_filters, stride, normalize):
            layers = [nn.Conv2d(in_filters, out_filters, 3, stride, 1)]
            if normalize:
                layers.append(nn.BatchNorm2d(out_filters))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *discriminator_block(in_channels * 2, 8, 2, False),
            *discriminator_block(8, 16, 2, True),
            nn.Conv2d(16, 1, 3, 1, 1)
        )

    def forward(self, img_A, img_B):
        img_input = torch.cat((img_A, img_B), 1)
        return self.model(img_input)


generator = GeneratorUNet()
discriminator = Discriminator()
criterion_GAN = torch.nn.MSELoss()
criterion_pixelwise = torch.nn.L1Loss()
lambda_pixel = 100
optimizer_G = torch.optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))
patch = (1, 4, 4)

for i in range(2):
    real_A = torch.randn(2, 3, 16, 16)
    real_B = torch.randn(2, 3, 16, 16)
    valid = torch.ones((real_A.size(0), *patch))
    fake = torch.zeros((real_A.size(0), *patch))

    optimizer_G.zero_grad()
    fake_B = generator(real_A)
    pred_fake = discriminator(fake_B, real_A)
    loss_GAN = criterion_GAN(pred_fake, valid)
    loss_pixel = criterion_pixelwise(fake_B, real_B)
    loss_G = loss_GAN + lambda_pixel * loss_pixel
    loss_G.backward()
    optimizer_G.step()

    optimizer_D.zero_grad()
    pred_real = discriminator(real_B, real_A)
    loss_real = criterion_GAN(pred_real, valid)
    pred_fake = discriminator(fake_B.detach(), real_A)
    loss_fake = criterion_GAN(pred_fake, fake)
    loss_D = 0.5 * (loss_real + loss_fake)
    loss_D.backward()
    optimizer_D.step()
    print(i, loss_D.item(), loss_G.item())
