# source: https://github.com/openai/spinningup/blob/master/spinup/algos/pytorch/sac/sac.py
# hazard: none
# expect: runs
import itertools
from copy import deepcopy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions.normal import Normal
from torch.optim import Adam

torch.manual_seed(0)
np.random.seed(0)
obs_dim, act_dim, act_limit = 3, 2, 1.0
gamma, polyak, lr, alpha, batch_size = 0.99, 0.995, 1e-3, 0.2, 4


def mlp(sizes, activation, output_activation=nn.Identity):
    layers = []
    for j in range(len(sizes) - 1):
        act = activation if j < len(sizes) - 2 else output_activation
        layers += [nn.Linear(sizes[j], sizes[j + 1]), act()]
    return nn.Sequential(*layers)


class SquashedGaussianMLPActor(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden_sizes, activation, act_limit):
        super().__init__()
        self.net = mlp([obs_dim] + list(hidden_sizes), activation, activation)
        self.mu_layer = nn.Linear(hidden_sizes[-1], act_dim)
        self.log_std_layer = nn.Linear(hidden_sizes[-1], act_dim)
        self.act_limit = act_limit

    def forward(self, obs, deterministic=False, with_logprob=True):
        net_out = self.net(obs)
        mu = self.mu_layer(net_out)
        log_std = torch.clamp(self.log_std_layer(net_out), -20, 2)
        pi_distribution = Normal(mu, torch.exp(log_std))
        pi_action = mu if deterministic else pi_distribution.rsample()
        if with_logprob:
            logp_pi = pi_distribution.log_prob(pi_action).sum(axis=-1)
            logp_pi -= (2 * (np.log(2) - pi_action - F.softplus(-2 * pi_action))).sum(axis=1)
        else:
            logp_pi = None
        pi_action = torch.tanh(pi_action)
        return self.act_limit * pi_action, logp_pi


class MLPQFunction(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden_sizes, activation):
        super().__init__()
        self.q = mlp([obs_dim + act_dim] + list(hidden_sizes) + [1], activation)

    def forward(self, obs, act):
        return torch.squeeze(self.q(torch.cat([obs, act], dim=-1)), -1)


class MLPActorCritic(nn.Module):
    def __init__(self, hidden_sizes=(16, 16), activation=nn.ReLU):
        super().__init__()
        self.pi = SquashedGaussianMLPActor(obs_dim, act_dim, hidden_sizes, activation, act_limit)
        self.q1 = MLPQFunction(obs_dim, act_dim, hidden_sizes, activation)
        self.q2 = MLPQFunction(obs_dim, act_dim, hidden_sizes, activation)

    def act(self, obs, deterministic=False):
        with torch.no_grad():
            a, _ = self.pi(obs, deterministic, False)
            return a.numpy()


ac = MLPActorCritic()
ac_targ = deepcopy(ac)
for p in ac_targ.parameters():
    p.requires_grad = False
q_params = itertools.chain(ac.q1.parameters(), ac.q2.parameters())


def compute_loss_q(data):
    o, a, r, o2, d = data['obs'], data['act'], data['rew'], data['obs2'], data['done']
    q1 = ac.q1(o, a)
    q2 = ac.q2(o, a)
    with torch.no_grad():
        a2, logp_a2 = ac.pi(o2)
        q1_pi_targ = ac_targ.q1(o2, a2)
        q2_pi_targ = ac_targ.q2(o2, a2)
        q_pi_targ = torch.min(q1_pi_targ, q2_pi_targ)
        backup = r + gamma * (1 - d) * (q_pi_targ - alpha * logp_a2)
    loss_q = ((q1 - backup) ** 2).mean() + ((q2 - backup) ** 2).mean()
    q_info = dict(Q1Vals=q1.detach().numpy(), Q2Vals=q2.detach().numpy())
    return loss_q, q_info


def compute_loss_pi(data):
    o = data['obs']
    pi, logp_pi = ac.pi(o)
    q_pi = torch.min(ac.q1(o, pi), ac.q2(o, pi))
    loss_pi = (alpha * logp_pi - q_pi).mean()
    return loss_pi, dict(LogPi=logp_pi.detach().numpy())


pi_optimizer = Adam(ac.pi.parameters(), lr=lr)
q_optimizer = Adam(q_params, lr=lr)


def update(data):
    q_optimizer.zero_grad()
    loss_q, q_info = compute_loss_q(data)
    loss_q.backward()
    q_optimizer.step()
    # the policy step should not need Q gradients, so the Q parameters are switched off around it
    for p in q_params:
        p.requires_grad = False
    pi_optimizer.zero_grad()
    loss_pi, pi_info = compute_loss_pi(data)
    loss_pi.backward()
    pi_optimizer.step()
    for p in q_params:
        p.requires_grad = True
    with torch.no_grad():
        for p, p_targ in zip(ac.parameters(), ac_targ.parameters()):
            p_targ.data.mul_(polyak)
            p_targ.data.add_((1 - polyak) * p.data)
    return loss_q.item(), loss_pi.item()


for t in range(2):
    o = np.random.randn(batch_size, obs_dim)
    a = ac.act(torch.as_tensor(o, dtype=torch.float32))
    batch = dict(obs=o, obs2=np.random.randn(batch_size, obs_dim), act=a, rew=np.random.randn(batch_size), done=np.zeros(batch_size))
    data = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in batch.items()}
    print(t, update(data))
