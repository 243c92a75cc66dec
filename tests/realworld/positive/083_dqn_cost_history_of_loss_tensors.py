# source: https://github.com/ClownW/Reinforcement-learning-with-PyTorch/issues/3
# hazard: numpy
# cause: 60, 64
# expect: RuntimeError: Can't call numpy() on Tensor that requires grad
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

np.random.seed(1)
torch.manual_seed(1)


class Net(nn.Module):
    def __init__(self, n_feature, n_hidden, n_output):
        super(Net, self).__init__()
        self.el = nn.Linear(n_feature, n_hidden)
        self.q = nn.Linear(n_hidden, n_output)

    def forward(self, x):
        return self.q(F.relu(self.el(x)))


class DeepQNetwork():
    def __init__(self, n_actions, n_features, n_hidden=20, learning_rate=0.01, reward_decay=0.9,
                 memory_size=50, batch_size=8):
        self.n_actions = n_actions
        self.n_features = n_features
        self.gamma = reward_decay
        self.memory_size = memory_size
        self.batch_size = batch_size
        self.memory = np.zeros((self.memory_size, n_features * 2 + 2))
        self.memory_counter = 0
        self.loss_func = nn.MSELoss()
        self.cost_his = []
        self.q_eval = Net(n_features, n_hidden, n_actions)
        self.q_target = Net(n_features, n_hidden, n_actions)
        self.optimizer = torch.optim.RMSprop(self.q_eval.parameters(), lr=learning_rate)

    def store_transition(self, s, a, r, s_):
        transition = np.hstack((s, [a, r], s_))
        self.memory[self.memory_counter % self.memory_size, :] = transition
        self.memory_counter += 1

    def learn(self):
        sample_index = np.random.choice(min(self.memory_counter, self.memory_size), size=self.batch_size)
        batch_memory = self.memory[sample_index, :]
        q_next = self.q_target(torch.Tensor(batch_memory[:, -self.n_features:]))
        q_eval = self.q_eval(torch.Tensor(batch_memory[:, :self.n_features]))
        q_target = torch.Tensor(q_eval.data.numpy().copy())
        batch_index = np.arange(self.batch_size, dtype=np.int32)
        eval_act_index = batch_memory[:, self.n_features].astype(int)
        reward = torch.Tensor(batch_memory[:, self.n_features + 1])
        q_target[batch_index, eval_act_index] = reward + self.gamma * torch.max(q_next, 1)[0]

        loss = self.loss_func(q_eval, q_target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.cost_his.append(loss)

    def plot_cost(self):
        steps = np.arange(len(self.cost_his))
        costs = np.array(self.cost_his)
        return steps, costs


RL = DeepQNetwork(n_actions=4, n_features=2)
for step in range(12):
    s, s_ = np.random.rand(2), np.random.rand(2)
    RL.store_transition(s, np.random.randint(0, 4), np.random.rand(), s_)
    if step >= 8:
        RL.learn()
RL.plot_cost()
