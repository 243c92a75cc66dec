# source: https://github.com/facebookresearch/pytorch_GAN_zoo/issues/83
# hazard: backward-twice
# cause: 60, 42, 64
# expect: RuntimeError: Trying to backward through the graph a second time
import torch
import torch.nn as nn

torch.manual_seed(0)


class Generator(nn.Module):
    def __init__(self, dim_latent=8, dim_out=12):
        super().__init__()
        self.main = nn.Sequential(nn.Linear(dim_latent, 16), nn.LeakyReLU(0.2), nn.Linear(16, dim_out))

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self, dim_in=12):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(dim_in, 16), nn.LeakyReLU(0.2))
        self.decision = nn.Linear(16, 1)

    def forward(self, x, getFeature=False):
        phi = self.features(x)
        out = self.decision(phi)
        if getFeature:
            return out, phi
        return out


def GDPPLoss(phiFake, phiReal, backward=True):
    # diversity term: match the normalised similarity kernels of fake and real features
    def kernel(phi):
        phi = phi / phi.norm(dim=1, keepdim=True)
        return phi @ phi.t()

    loss = ((kernel(phiFake) - kernel(phiReal)) ** 2).mean()
    if backward:
        loss.backward()
    return loss.item()


class BaseGAN:
    def __init__(self):
        self.netG = Generator()
        self.netD = Discriminator()
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=1e-3)
        self.criterion = nn.BCEWithLogitsLoss()
        self.GDPP = True

    def optimizeG(self, input_real):
        self.optimizerG.zero_grad()
        inputNoise = torch.randn(input_real.size(0), 8)
        predFakeG = self.netG(inputNoise)
        predFakeD, phiGFake = self.netD(predFakeG, getFeature=True)
        lossGFake = self.criterion(predFakeD, torch.ones_like(predFakeD))
        lossGFake.backward()

        if self.GDPP:
            _, phiDReal = self.netD(input_real, getFeature=True)
            GDPPLoss(phiGFake, phiDReal.detach(), backward=True)

        self.optimizerG.step()
        return lossGFake.item()


gan = BaseGAN()
real = torch.randn(6, 12)
gan.optimizeG(real)
