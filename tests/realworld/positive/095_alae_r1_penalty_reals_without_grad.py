# source: https://github.com/podgorskiy/ALAE/issues/55
# hazard: grad-not-required
# cause: 16, 55, 59
# expect: RuntimeError: One of the differentiated Tensors does not require grad
import torch
import torch.nn as nn
import torch.nn.functional as F


def discriminator_logistic_simple_gp(d_result_fake, d_result_real, reals, r1_gamma=10.0):
    loss = F.softplus(d_result_fake) + F.softplus(-d_result_real)

    if r1_gamma != 0.0:
        real_loss = d_result_real.sum()
        # R1 penalty: gradient of the critic with respect to the real images
        real_grads = torch.autograd.grad(real_loss, reals, create_graph=True, retain_graph=True)[0]
        r1_penalty = torch.sum(real_grads.pow(2.0), dim=[1, 2, 3])
        loss = loss + r1_penalty * (r1_gamma * 0.5)
    return loss.mean()


class Model(nn.Module):
    def __init__(self, latent=8):
        super().__init__()
        self.latent = latent
        self.decoder = nn.Sequential(nn.Linear(latent, 3 * 4 * 4), nn.Tanh())
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, latent))
        self.discriminator = nn.Linear(latent, 1)

    def generate(self, z):
        return self.decoder(z).view(-1, 3, 4, 4)

    def encode(self, x):
        return self.discriminator(self.encoder(x))

    def forward(self, x, d_train):
        if d_train:
            with torch.no_grad():
                Xp = self.generate(torch.randn(x.shape[0], self.latent))
            d_result_real = self.encode(x)
            d_result_fake = self.encode(Xp.detach())
            return discriminator_logistic_simple_gp(d_result_fake, d_result_real, x)
        Xp = self.generate(torch.randn(x.shape[0], self.latent))
        return F.softplus(-self.encode(Xp)).mean()


torch.manual_seed(0)
model = Model()
encoder_optimizer = torch.optim.Adam(list(model.encoder.parameters()) + list(model.discriminator.parameters()), lr=1e-3)
decoder_optimizer = torch.optim.Adam(model.decoder.parameters(), lr=1e-3)

batches = [torch.randn(4, 3, 4, 4) for _ in range(2)]
for x_orig in batches:
    with torch.no_grad():
        x = x_orig * 0.5
    # the line the issue asks about (x.requires_grad = True) is left out here

    encoder_optimizer.zero_grad()
    loss_d = model(x, d_train=True)
    loss_d.backward()
    encoder_optimizer.step()

    decoder_optimizer.zero_grad()
    loss_g = model(x, d_train=False)
    loss_g.backward()
    decoder_optimizer.step()
