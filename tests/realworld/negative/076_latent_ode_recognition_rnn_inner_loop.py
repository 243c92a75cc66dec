# source: https://github.com/rtqichen/torchdiffeq/blob/master/examples/latent_ode.py
# hazard: none
# expect: runs
import torch
import torch.nn as nn


class RecognitionRNN(nn.Module):
    def __init__(self, latent_dim=2, obs_dim=2, nhidden=6, nbatch=3):
        super().__init__()
        self.nhidden = nhidden
        self.nbatch = nbatch
        self.i2h = nn.Linear(obs_dim + nhidden, nhidden)
        self.h2o = nn.Linear(nhidden, latent_dim * 2)

    def forward(self, x, h):
        h = torch.tanh(self.i2h(torch.cat((x, h), dim=1)))
        return self.h2o(h), h

    def initHidden(self):
        return torch.zeros(self.nbatch, self.nhidden)


torch.manual_seed(0)
rec = RecognitionRNN()
decoder = nn.Linear(2, 2)
optimizer = torch.optim.Adam(list(rec.parameters()) + list(decoder.parameters()), lr=0.01)
samp_trajs = torch.randn(3, 5, 2)
latent_dim = 2

for itr in range(3):
    optimizer.zero_grad()
    h = rec.initHidden()
    # Runs once per time step: `out` is this iteration's, whatever the data's length
    # (a loop over no steps would leave `out` unbound in the first iteration).
    for t in reversed(range(samp_trajs.size(1))):
        out, h = rec.forward(samp_trajs[:, t, :], h)
    qz0_mean, qz0_logvar = out[:, :latent_dim], out[:, latent_dim:]
    z0 = torch.randn(qz0_mean.size()) * torch.exp(0.5 * qz0_logvar) + qz0_mean
    loss = ((decoder(z0) - samp_trajs[:, 0, :]) ** 2).mean()
    loss.backward()
    optimizer.step()
