# source: https://github.com/eriklindernoren/PyTorch-GAN/blob/master/implementations/wgan/wgan.py
# hazard: none
# expect: runs
import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)
latent_dim, img_shape, n_critic, clip_value = 8, (1, 6, 6), 2, 0.01


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 32), nn.BatchNorm1d(32, 0.8), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(32, int(np.prod(img_shape))), nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.shape[0], *img_shape)


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()
        self.model = nn.Sequential(nn.Linear(int(np.prod(img_shape)), 16), nn.LeakyReLU(0.2, inplace=True), nn.Linear(16, 1))

    def forward(self, img):
        return self.model(img.view(img.shape[0], -1))


generator, discriminator = Generator(), Discriminator()
optimizer_G = torch.optim.RMSprop(generator.parameters(), lr=5e-5)
optimizer_D = torch.optim.RMSprop(discriminator.parameters(), lr=5e-5)

batches_done = 0
for i in range(4):
    real_imgs = torch.rand(4, *img_shape) * 2 - 1
    optimizer_D.zero_grad()
    z = torch.randn(real_imgs.shape[0], latent_dim)
    fake_imgs = generator(z).detach()
    loss_D = -torch.mean(discriminator(real_imgs)) + torch.mean(discriminator(fake_imgs))
    loss_D.backward()
    optimizer_D.step()

    # critic weights kept in [-c, c]
    for p in discriminator.parameters():
        p.data.clamp_(-clip_value, clip_value)

    if i % n_critic == 0:
        optimizer_G.zero_grad()
        gen_imgs = generator(z)
        loss_G = -torch.mean(discriminator(gen_imgs))
        loss_G.backward()
        optimizer_G.step()
        print(batches_done, loss_D.item(), loss_G.item())
    batches_done += 1
