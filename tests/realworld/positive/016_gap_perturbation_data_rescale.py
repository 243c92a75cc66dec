# source: https://github.com/OmidPoursaeed/Generative_Adversarial_Perturbations/issues/4
# hazard: inplace-saved
# cause: 30, 31, 35, 42
# expect: assert
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
mean_arr = [0.485, 0.456, 0.406]
stddev_arr = [0.229, 0.224, 0.225]
mag_in = 10.0
batch_size = 2


class ResnetGenerator(nn.Module):
    def __init__(self, ngf=4):
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(3, ngf, 3, padding=1), nn.ReLU(True),
                                   nn.Conv2d(ngf, 3, 3, padding=1), nn.Tanh())

    def forward(self, x):
        return self.model(x)


def normalize_and_scale(delta_im, mode='train'):
    delta_im.data += 1  # now 0..2
    delta_im.data *= 0.5  # now 0..1

    # normalize image color channels
    for c in range(3):
        delta_im.data[:, c, :, :] = (delta_im.data[:, c, :, :] - mean_arr[c]) / stddev_arr[c]

    # threshold each channel of each image in deltaIm according to inf norm
    for i in range(batch_size):
        for ci in range(3):
            l_inf_channel = delta_im[i, ci, :, :].data.abs().max()
            mag_in_scaled_c = mag_in / (255.0 * stddev_arr[ci])
            delta_im[i, ci, :, :].data *= np.minimum(1.0, mag_in_scaled_c / l_inf_channel.item())
    return delta_im


def normalize_and_scale_clean(delta_im):
    delta_im = (delta_im + 1) * 0.5
    delta_im = torch.stack([(delta_im[:, c] - mean_arr[c]) / stddev_arr[c] for c in range(3)], 1)
    factors = torch.ones(batch_size, 3, 1, 1)
    for i in range(batch_size):
        for ci in range(3):
            l_inf_channel = delta_im[i, ci].detach().abs().max()
            factors[i, ci] = min(1.0, mag_in / (255.0 * stddev_arr[ci]) / l_inf_channel.item())
    return delta_im * factors


netG = ResnetGenerator()
netG_clean = copy.deepcopy(netG)
pretrained_clf = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 5))
for p in pretrained_clf.parameters():
    p.requires_grad_(False)

image = torch.randn(batch_size, 3, 6, 6)
class_label = torch.tensor([1, 3])
noise = torch.rand(batch_size, 3, 6, 6)

delta_im = normalize_and_scale(netG(noise), 'train')
recons = torch.add(image, delta_im)
loss = -F.cross_entropy(pretrained_clf(recons), class_label)
loss.backward()

delta_clean = normalize_and_scale_clean(netG_clean(noise))
torch.testing.assert_close(delta_clean, delta_im.detach())  # same perturbation values
loss_clean = -F.cross_entropy(pretrained_clf(image + delta_clean), class_label)
loss_clean.backward()

grad, grad_clean = netG.model[2].weight.grad, netG_clean.model[2].weight.grad
assert not torch.allclose(grad, grad_clean, rtol=1e-2, atol=1e-6)
