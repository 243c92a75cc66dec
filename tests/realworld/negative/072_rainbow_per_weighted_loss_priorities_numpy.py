# source: https://github.com/Kaixhin/Rainbow/blob/master/agent.py
# hazard: none
# expect: runs
import numpy as np
import torch
from torch import nn, optim
from torch.nn import functional as F

torch.manual_seed(0)


class DQN(nn.Module):
    def __init__(self, action_space, atoms, in_dim=6, hidden=16):
        super(DQN, self).__init__()
        self.atoms, self.action_space = atoms, action_space
        self.fc_h = nn.Linear(in_dim, hidden)
        self.fc_z = nn.Linear(hidden, action_space * atoms)

    def forward(self, x, log=False):
        q = self.fc_z(F.relu(self.fc_h(x))).view(-1, self.action_space, self.atoms)
        return F.log_softmax(q, dim=2) if log else F.softmax(q, dim=2)

    def reset_noise(self):
        pass


class Memory:
    def __init__(self, batch_size, in_dim=6):
        self.priorities = np.ones(32)
        self.batch_size, self.in_dim = batch_size, in_dim

    def sample(self, batch_size):
        idxs = np.random.randint(0, 32, batch_size)
        states, next_states = torch.randn(batch_size, self.in_dim), torch.randn(batch_size, self.in_dim)
        actions = torch.randint(0, 2, (batch_size,))
        returns = torch.randn(batch_size)
        nonterminals = torch.ones(batch_size, 1)
        weights = torch.rand(batch_size)
        return idxs, states, actions, returns, next_states, nonterminals, weights

    def update_priorities(self, idxs, priorities):
        self.priorities[idxs] = priorities


class Agent():
    def __init__(self, action_space=2, atoms=11, V_min=-10, V_max=10, batch_size=4, multi_step=3, discount=0.99):
        self.action_space, self.atoms, self.Vmin, self.Vmax = action_space, atoms, V_min, V_max
        self.support = torch.linspace(V_min, V_max, atoms)
        self.delta_z = (V_max - V_min) / (atoms - 1)
        self.batch_size, self.n, self.discount = batch_size, multi_step, discount
        self.online_net = DQN(action_space, atoms)
        self.online_net.train()
        self.target_net = DQN(action_space, atoms)
        self.update_target_net()
        self.target_net.train()
        for param in self.target_net.parameters():
            param.requires_grad = False
        self.optimiser = optim.Adam(self.online_net.parameters(), lr=1e-4, eps=1.5e-4)

    def act(self, state):
        with torch.no_grad():
            return (self.online_net(state.unsqueeze(0)) * self.support).sum(2).argmax(1).item()

    def learn(self, mem):
        idxs, states, actions, returns, next_states, nonterminals, weights = mem.sample(self.batch_size)
        log_ps = self.online_net(states, log=True)
        log_ps_a = log_ps[range(self.batch_size), actions]
        with torch.no_grad():
            pns = self.online_net(next_states)
            dns = self.support.expand_as(pns) * pns
            argmax_indices_ns = dns.sum(2).argmax(1)
            self.target_net.reset_noise()
            pns = self.target_net(next_states)
            pns_a = pns[range(self.batch_size), argmax_indices_ns]
            Tz = returns.unsqueeze(1) + nonterminals * (self.discount ** self.n) * self.support.unsqueeze(0)
            Tz = Tz.clamp(min=self.Vmin, max=self.Vmax)
            b = (Tz - self.Vmin) / self.delta_z
            l, u = b.floor().to(torch.int64), b.ceil().to(torch.int64)
            l[(u > 0) * (l == u)] -= 1
            u[(l < (self.atoms - 1)) * (l == u)] += 1
            m = states.new_zeros(self.batch_size, self.atoms)
            offset = torch.linspace(0, ((self.batch_size - 1) * self.atoms), self.batch_size).unsqueeze(1).expand(self.batch_size, self.atoms).to(actions)
            m.view(-1).index_add_(0, (l + offset).view(-1), (pns_a * (u.float() - b)).view(-1))
            m.view(-1).index_add_(0, (u + offset).view(-1), (pns_a * (b - l.float())).view(-1))
        loss = -torch.sum(m * log_ps_a, 1)
        self.online_net.zero_grad()
        (weights * loss).mean().backward()
        self.optimiser.step()
        mem.update_priorities(idxs, loss.detach().cpu().numpy())

    def update_target_net(self):
        self.target_net.load_state_dict(self.online_net.state_dict())


np.random.seed(0)
agent, mem = Agent(), Memory(4)
for T in range(3):
    action = agent.act(torch.randn(6))
    agent.learn(mem)
    if T % 2 == 0:
        agent.update_target_net()
print(mem.priorities)
