# source: https://github.com/rail-berkeley/rlkit/pull/109
# hazard: inplace-saved
# cause: 91, 95, 98
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import copy

import torch
import torch.optim as optim
from torch import nn as nn

torch.manual_seed(0)


class FlattenMlp(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.last_fc = nn.Linear(hidden_size, output_size)

    def forward(self, *inputs):
        h = torch.cat(inputs, dim=1)
        return self.last_fc(torch.relu(self.fc1(h)))


class TanhGaussianPolicy(nn.Module):
    def __init__(self, obs_dim, action_dim, hidden_size=16):
        super().__init__()
        self.fc = nn.Linear(obs_dim, hidden_size)
        self.mean = nn.Linear(hidden_size, action_dim)
        self.log_std = nn.Linear(hidden_size, action_dim)

    def forward(self, obs, reparameterize=True, return_log_prob=True):
        h = torch.relu(self.fc(obs))
        mean = self.mean(h)
        log_std = self.log_std(h).clamp(-20, 2)
        normal = torch.distributions.Normal(mean, log_std.exp())
        pre_tanh = normal.rsample()
        action = torch.tanh(pre_tanh)
        log_prob = normal.log_prob(pre_tanh) - torch.log(1 - action.pow(2) + 1e-6)
        return action, mean, log_std, log_prob.sum(dim=1, keepdim=True)


class SACTrainer:
    def __init__(self, policy, qf1, qf2, target_qf1, target_qf2,
                 discount=0.99, reward_scale=1.0, policy_lr=1e-3, qf_lr=1e-3):
        self.policy, self.qf1, self.qf2 = policy, qf1, qf2
        self.target_qf1, self.target_qf2 = target_qf1, target_qf2
        self.target_entropy = -2.0
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.alpha_optimizer = optim.Adam([self.log_alpha], lr=policy_lr)
        self.qf_criterion = nn.MSELoss()
        self.policy_optimizer = optim.Adam(self.policy.parameters(), lr=policy_lr)
        self.qf1_optimizer = optim.Adam(self.qf1.parameters(), lr=qf_lr)
        self.qf2_optimizer = optim.Adam(self.qf2.parameters(), lr=qf_lr)
        self.discount = discount
        self.reward_scale = reward_scale

    def train_from_torch(self, batch):
        rewards = batch['rewards']
        terminals = batch['terminals']
        obs = batch['observations']
        actions = batch['actions']
        next_obs = batch['next_observations']

        q1_pred = self.qf1(obs, actions)
        q2_pred = self.qf2(obs, actions)
        new_next_actions, *_ = self.policy(next_obs)
        target_q_values = torch.min(
            self.target_qf1(next_obs, new_next_actions),
            self.target_qf2(next_obs, new_next_actions),
        )
        q_target = self.reward_scale * rewards + (1. - terminals) * self.discount * target_q_values
        qf1_loss = self.qf_criterion(q1_pred, q_target.detach())
        qf2_loss = self.qf_criterion(q2_pred, q_target.detach())

        new_obs_actions, policy_mean, policy_log_std, log_pi = self.policy(obs)
        alpha_loss = -(self.log_alpha * (log_pi + self.target_entropy).detach()).mean()
        self.alpha_optimizer.zero_grad()
        alpha_loss.backward()
        self.alpha_optimizer.step()
        alpha = self.log_alpha.exp()

        q_new_actions = torch.min(
            self.qf1(obs, new_obs_actions),
            self.qf2(obs, new_obs_actions),
        )
        policy_loss = (alpha * log_pi - q_new_actions).mean()

        self.qf1_optimizer.zero_grad()
        qf1_loss.backward()
        self.qf1_optimizer.step()

        self.qf2_optimizer.zero_grad()
        qf2_loss.backward()
        self.qf2_optimizer.step()

        self.policy_optimizer.zero_grad()
        policy_loss.backward()
        self.policy_optimizer.step()


obs_dim, action_dim, n = 3, 2, 8
policy = TanhGaussianPolicy(obs_dim, action_dim)
qf1 = FlattenMlp(obs_dim + action_dim, 16, 1)
qf2 = FlattenMlp(obs_dim + action_dim, 16, 1)
trainer = SACTrainer(policy, qf1, qf2, copy.deepcopy(qf1), copy.deepcopy(qf2))
batch = {
    'rewards': torch.randn(n, 1),
    'terminals': torch.zeros(n, 1),
    'observations': torch.randn(n, obs_dim),
    'actions': torch.rand(n, action_dim) * 2 - 1,
    'next_observations': torch.randn(n, obs_dim),
}
trainer.train_from_torch(batch)
