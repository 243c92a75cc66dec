# source: https://github.com/eriklindernoren/PyTorch-GAN/blob/master/implementations/infogan/infogan.py
# hazard: none
# expect: runs
import itertools

import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)
np.random.seed(0)
latent_dim, n_classes, code_dim, channels, img_size = 6, 3, 2, 1, 8


def to_categorical(y, num_columns):
    y_cat = np.zeros((y.shape[0], num_columns))
    y_cat[range(y.shape[0]), y] = 1.0
    return torch.tensor(y_cat, dtype=torch.float32)


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()
        input_dim = latent_dim + n_classes + code_dim
        self.init_size = img_size // 4
        self.l1 = nn.Sequential(nn.Linear(input_dim, 16 * self.init_size ** 2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(16),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(16, 8, 3, stride=1, padding=1),
            nn.BatchNorm2d(8, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(8, channels, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, noise, labels, code):
        gen_input = torch.cat((noise, labels, code), -1)
        out = self.l1(gen_input)
        out = out.view(out.shape[0], 16, self.init_size, self.init_size)
        return self.conv_blocks(out)


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()

        def discriminator_block(in_filters, out_filters, bn=True):
            block = [nn.Conv2d(in_filters, out_filters, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            if bn:
                block.append(nn.BatchNorm2d(out_filters, 0.8))
            return block

        self.conv_blocks = nn.Sequential(*discriminator_block(channels, 8, bn=False), *discriminator_block(8, 16))
        ds_size = img_size // 2 ** 2
        self.adv_layer = nn.Sequential(nn.Linear(16 * ds_size ** 2, 1))
        self.aux_layer = nn.Sequential(nn.Linear(16 * ds_size ** 2, n_classes), nn.Softmax(dim=1))
        self.latent_layer = nn.Sequential(nn.Linear(16 * ds_size ** 2, code_dim))

    def forward(self, img):
        out = self.conv_blocks(img)
        out = out.view(out.shape[0], -1)
        return self.adv_layer(out), self.aux_layer(out), self.latent_layer(out)


adversarial_loss = nn.MSELoss()
categorical_loss = nn.CrossEntropyLoss()
continuous_loss = nn.MSELoss()
lambda_cat, lambda_con = 1, 0.1
generator, discriminator = Generator(), Discriminator()
optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
optimizer_info = torch.optim.Adam(
    itertools.chain(generator.parameters(), discriminator.parameters()), lr=2e-4, betas=(0.5, 0.999)
)

for i in range(2):
    imgs = torch.rand(4, channels, img_size, img_size) * 2 - 1
    batch_size = imgs.shape[0]
    valid = torch.ones(batch_size, 1)
    fake = torch.zeros(batch_size, 1)

    # Train Generator
    optimizer_G.zero_grad()
    z = torch.randn(batch_size, latent_dim)
    label_input = to_categorical(np.random.randint(0, n_classes, batch_size), num_columns=n_classes)
    code_input = torch.empty(batch_size, code_dim).uniform_(-1, 1)
    gen_imgs = generator(z, label_input, code_input)
    validity, _, _ = discriminator(gen_imgs)
    g_loss = adversarial_loss(validity, valid)
    g_loss.backward()
    optimizer_G.step()

    # Train Discriminator on the images made before the generator step
    optimizer_D.zero_grad()
    real_pred, _, _ = discriminator(imgs)
    d_real_loss = adversarial_loss(real_pred, valid)
    fake_pred, _, _ = discriminator(gen_imgs.detach())
    d_fake_loss = adversarial_loss(fake_pred, fake)
    d_loss = (d_real_loss + d_fake_loss) / 2
    d_loss.backward()
    optimizer_D.step()

    # Information loss: one optimizer over both networks
    optimizer_info.zero_grad()
    sampled_labels = np.random.randint(0, n_classes, batch_size)
    gt_labels = torch.tensor(sampled_labels, dtype=torch.long)
    z = torch.randn(batch_size, latent_dim)
    label_input = to_categorical(sampled_labels, num_columns=n_classes)
    code_input = torch.empty(batch_size, code_dim).normal_(-1, 1)
    gen_imgs = generator(z, label_input, code_input)
    _, pred_label, pred_code = discriminator(gen_imgs)
    info_loss = lambda_cat * categorical_loss(pred_label, gt_labels) + lambda_con * continuous_loss(pred_code, code_input)
    info_loss.backward()
    optimizer_info.step()
    print(i, d_loss.item(), g_loss.item(), info_loss.item())
