# source: https://github.com/rosinality/stylegan2-pytorch/blob/master/train.py
# hazard: none
# expect: runs
import math
import random

import torch
from torch import autograd, nn, optim
from torch.nn import functional as F

torch.manual_seed(0)
random.seed(0)
latent_dim, n_latent, size = 8, 3, 4


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.style = nn.Sequential(nn.Linear(latent_dim, latent_dim), nn.LeakyReLU(0.2))
        self.to_img = nn.Linear(latent_dim * n_latent, 3 * size * size)

    def forward(self, styles, return_latents=False):
        styles = [self.style(s) for s in styles]
        if len(styles) < 2:
            latent = styles[0].unsqueeze(1).repeat(1, n_latent, 1)
        else:
            inject_index = random.randint(1, n_latent - 1)
            latent = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
            latent2 = styles[1].unsqueeze(1).repeat(1, n_latent - inject_index, 1)
            latent = torch.cat([latent, latent2], 1)
        image = torch.tanh(self.to_img(latent.flatten(1))).view(-1, 3, size, size)
        return (image, latent) if return_latents else (image, None)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


def requires_grad(model, flag=True):
    for p in model.parameters():
        p.requires_grad = flag


def accumulate(model1, model2, decay=0.999):
    par1 = dict(model1.named_parameters())
    par2 = dict(model2.named_parameters())
    for k in par1.keys():
        par1[k].data.mul_(decay).add_(par2[k].data, alpha=1 - decay)


def d_logistic_loss(real_pred, fake_pred):
    return F.softplus(-real_pred).mean() + F.softplus(fake_pred).mean()


def d_r1_loss(real_pred, real_img):
    grad_real, = autograd.grad(outputs=real_pred.sum(), inputs=real_img, create_graph=True)
    return grad_real.pow(2).reshape(grad_real.shape[0], -1).sum(1).mean()


def g_nonsaturating_loss(fake_pred):
    return F.softplus(-fake_pred).mean()


def g_path_regularize(fake_img, latents, mean_path_length, decay=0.01):
    noise = torch.randn_like(fake_img) / math.sqrt(fake_img.shape[2] * fake_img.shape[3])
    grad, = autograd.grad(outputs=(fake_img * noise).sum(), inputs=latents, create_graph=True)
    path_lengths = torch.sqrt(grad.pow(2).sum(2).mean(1))
    path_mean = mean_path_length + decay * (path_lengths.mean() - mean_path_length)
    path_penalty = (path_lengths - path_mean).pow(2).mean()
    return path_penalty, path_mean.detach(), path_lengths


def mixing_noise(batch, latent_dim, prob):
    if prob > 0 and random.random() < prob:
        return torch.randn(2, batch, latent_dim).unbind(0)
    return [torch.randn(batch, latent_dim)]


def train(args, generator, discriminator, g_optim, d_optim, g_ema):
    mean_path_length = 0
    for i in range(args['iter']):
        real_img = torch.rand(args['batch'], 3, size, size) * 2 - 1
        requires_grad(generator, False)
        requires_grad(discriminator, True)
        noise = mixing_noise(args['batch'], latent_dim, args['mixing'])
        fake_img, _ = generator(noise)
        fake_pred = discriminator(fake_img)
        real_pred = discriminator(real_img)
        d_loss = d_logistic_loss(real_pred, fake_pred)
        discriminator.zero_grad()
        d_loss.backward()
        d_optim.step()

        if i % args['d_reg_every'] == 0:
            real_img.requires_grad = True
            real_pred = discriminator(real_img)
            r1_loss = d_r1_loss(real_pred, real_img)
            discriminator.zero_grad()
            (args['r1'] / 2 * r1_loss * args['d_reg_every'] + 0 * real_pred[0]).backward()
            d_optim.step()

        requires_grad(generator, True)
        requires_grad(discriminator, False)
        noise = mixing_noise(args['batch'], latent_dim, args['mixing'])
        fake_img, _ = generator(noise)
        fake_pred = discriminator(fake_img)
        g_loss = g_nonsaturating_loss(fake_pred)
        generator.zero_grad()
        g_loss.backward()
        g_optim.step()

        if i % args['g_reg_every'] == 0:
            path_batch_size = max(1, args['batch'] // args['path_batch_shrink'])
            noise = mixing_noise(path_batch_size, latent_dim, args['mixing'])
            fake_img, latents = generator(noise, return_latents=True)
            path_loss, mean_path_length, path_lengths = g_path_regularize(fake_img, latents, mean_path_length)
            generator.zero_grad()
            weighted_path_loss = args['path_regularize'] * args['g_reg_every'] * path_loss
            if args['path_batch_shrink']:
                weighted_path_loss += 0 * fake_img[0, 0, 0, 0]
            weighted_path_loss.backward()
            g_optim.step()
        accumulate(g_ema, generator, 0.5 ** (32 / (10 * 1000)))
        print(i, d_loss.item(), g_loss.item(), mean_path_length.item() if torch.is_tensor(mean_path_length) else mean_path_length)


args = {'iter': 2, 'batch': 4, 'mixing': 0.9, 'd_reg_every': 2, 'g_reg_every': 2, 'r1': 10, 'path_regularize': 2, 'path_batch_shrink': 2}
generator, discriminator, g_ema = Generator(), Discriminator(), Generator()
g_ema.eval()
accumulate(g_ema, generator, 0)
g_reg_ratio = args['g_reg_every'] / (args['g_reg_every'] + 1)
d_reg_ratio = args['d_reg_every'] / (args['d_reg_every'] + 1)
g_optim = optim.Adam(generator.parameters(), lr=0.002 * g_reg_ratio, betas=(0 ** g_reg_ratio, 0.99 ** g_reg_ratio))
d_optim = optim.Adam(discriminator.parameters(), lr=0.002 * d_reg_ratio, betas=(0 ** d_reg_ratio, 0.99 ** d_reg_ratio))
train(args, generator, discriminator, g_optim, d_optim, g_ema)
