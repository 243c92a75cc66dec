# source: https://github.com/rll-research/cic/issues/5
# hazard: silent-cut
# cause: 61, 62, 89
# expect: assert
import torch
import torch.nn as nn
import torch.nn.functional as F


class Encoder(nn.Module):
    def __init__(self, obs_shape=(3, 8, 8)):
        super().__init__()
        self.convnet = nn.Sequential(nn.Conv2d(obs_shape[0], 4, 3, stride=2), nn.ReLU())
        self.repr_dim = 4 * 3 * 3

    def forward(self, obs):
        return self.convnet(obs - 0.5).flatten(1)


class CIC(nn.Module):
    def __init__(self, obs_dim, skill_dim, hidden_dim=16):
        super().__init__()
        self.state_net = nn.Sequential(nn.Linear(obs_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, skill_dim))
        self.next_state_net = nn.Sequential(nn.Linear(obs_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, skill_dim))
        self.pred_net = nn.Sequential(nn.Linear(2 * skill_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, skill_dim))
        self.skill_net = nn.Sequential(nn.Linear(skill_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, skill_dim))

    def forward(self, state, next_state, skill):
        query = self.skill_net(skill)
        key = self.pred_net(torch.cat([self.state_net(state), self.next_state_net(next_state)], 1))
        return query, key


class CICAgent:
    def __init__(self, skill_dim=4, action_dim=2):
        self.encoder = Encoder()
        obs_dim = self.encoder.repr_dim
        self.cic = CIC(obs_dim, skill_dim)
        self.critic = nn.Sequential(nn.Linear(obs_dim + skill_dim + action_dim, 16), nn.ReLU(), nn.Linear(16, 1))
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=1e-4)
        self.cic_opt = torch.optim.Adam(self.cic.parameters(), lr=1e-4)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=1e-4)

    def aug_and_encode(self, obs):
        return self.encoder(obs)

    def compute_cpc_loss(self, obs, next_obs, skill, temperature=0.5):
        query, key = self.cic(obs, next_obs, skill)
        query, key = F.normalize(query, dim=1), F.normalize(key, dim=1)
        logits = query @ key.T / temperature
        return F.cross_entropy(logits, torch.arange(len(logits)))

    def update_cic(self, obs, skill, next_obs):
        loss = self.compute_cpc_loss(obs, next_obs, skill)
        self.cic_opt.zero_grad()
        loss.backward()
        self.cic_opt.step()

    def update(self, batch):
        obs, action, discount, next_obs, skill = batch
        with torch.no_grad():
            obs = self.aug_and_encode(obs)
            next_obs = self.aug_and_encode(next_obs)
        self.update_cic(obs, skill, next_obs)
        with torch.no_grad():
            intr_reward = -self.compute_cpc_loss(obs, next_obs, skill)
        obs = torch.cat([obs, skill], dim=1)
        self.update_critic(obs, action, intr_reward, discount)

    def update_critic(self, obs, action, reward, discount):
        q = self.critic(torch.cat([obs, action], 1))
        target_q = reward + discount * q.detach()
        critic_loss = F.mse_loss(q, target_q.expand_as(q))
        self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        self.encoder_opt.step()


torch.manual_seed(0)
agent = CICAgent()
for _ in range(2):
    batch = (torch.rand(4, 3, 8, 8), torch.randn(4, 2), torch.full((4, 1), 0.99),
             torch.rand(4, 3, 8, 8), torch.rand(4, 4))
    agent.update(batch)

# pre-training never reaches the CNN encoder
assert agent.encoder.convnet[0].weight.grad is None
assert agent.critic[0].weight.grad is not None
assert agent.cic.state_net[0].weight.grad is not None
