# source: https://github.com/cross32768/Dreamer_PyTorch/issues/2
# hazard: inplace-saved
# cause: 105, 110
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Normal
from torch.nn.functional import mse_loss
from torch.optim import Adam

torch.manual_seed(0)


class RecurrentStateSpaceModel(nn.Module):
    def __init__(self, state_dim, action_dim, rnn_hidden_dim, hidden_dim=16, min_stddev=0.1):
        super().__init__()
        self.fc_state_action = nn.Linear(state_dim + action_dim, hidden_dim)
        self.fc_rnn_hidden = nn.Linear(rnn_hidden_dim, hidden_dim)
        self.fc_state_mean_prior = nn.Linear(hidden_dim, state_dim)
        self.fc_state_stddev_prior = nn.Linear(hidden_dim, state_dim)
        self.rnn = nn.GRUCell(hidden_dim, rnn_hidden_dim)
        self._min_stddev = min_stddev

    def prior(self, state, action, rnn_hidden):
        hidden = F.elu(self.fc_state_action(torch.cat([state, action], dim=1)))
        rnn_hidden = self.rnn(hidden, rnn_hidden)
        hidden = F.elu(self.fc_rnn_hidden(rnn_hidden))
        mean = self.fc_state_mean_prior(hidden)
        stddev = F.softplus(self.fc_state_stddev_prior(hidden)) + self._min_stddev
        return Normal(mean, stddev), rnn_hidden


class RewardModel(nn.Module):
    def __init__(self, state_dim, rnn_hidden_dim, hidden_dim=16):
        super().__init__()
        self.fc1 = nn.Linear(state_dim + rnn_hidden_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, 1)

    def forward(self, state, rnn_hidden):
        return self.fc2(F.elu(self.fc1(torch.cat([state, rnn_hidden], dim=1))))


class ValueModel(RewardModel):
    pass


class ActionModel(nn.Module):
    def __init__(self, state_dim, rnn_hidden_dim, action_dim, hidden_dim=16):
        super().__init__()
        self.fc1 = nn.Linear(state_dim + rnn_hidden_dim, hidden_dim)
        self.fc_mean = nn.Linear(hidden_dim, action_dim)

    def forward(self, state, rnn_hidden):
        hidden = F.elu(self.fc1(torch.cat([state, rnn_hidden], dim=1)))
        return torch.tanh(self.fc_mean(hidden))


def lambda_return(rewards, values, gamma, lambda_):
    # TD(lambda) targets, computed backwards over the imagined horizon
    returns = [values[-1]]
    for t in reversed(range(rewards.shape[0] - 1)):
        bootstrap = (1 - lambda_) * values[t + 1] + lambda_ * returns[-1]
        returns.append(rewards[t] + gamma * bootstrap)
    return torch.stack(returns[::-1])


state_dim, rnn_hidden_dim, action_dim, horizon, batch = 3, 5, 2, 4, 6
rssm = RecurrentStateSpaceModel(state_dim, action_dim, rnn_hidden_dim)
reward_model = RewardModel(state_dim, rnn_hidden_dim)
value_model = ValueModel(state_dim, rnn_hidden_dim)
action_model = ActionModel(state_dim, rnn_hidden_dim, action_dim)
value_optimizer = Adam(value_model.parameters(), lr=8e-5)
action_optimizer = Adam(action_model.parameters(), lr=8e-5)

for update_step in range(1):
    # posterior states from the world model, detached before imagination
    flatten_states = torch.randn(batch, state_dim)
    flatten_rnn_hiddens = torch.randn(batch, rnn_hidden_dim)
    imaginated_states = torch.zeros(horizon + 1, *flatten_states.shape)
    imaginated_rnn_hiddens = torch.zeros(horizon + 1, *flatten_rnn_hiddens.shape)
    imaginated_states[0] = flatten_states
    imaginated_rnn_hiddens[0] = flatten_rnn_hiddens

    for h in range(1, horizon + 1):
        actions = action_model(flatten_states, flatten_rnn_hiddens)
        flatten_states_prior, flatten_rnn_hiddens = rssm.prior(flatten_states, actions,
                                                               flatten_rnn_hiddens)
        flatten_states = flatten_states_prior.rsample()
        imaginated_states[h] = flatten_states
        imaginated_rnn_hiddens[h] = flatten_rnn_hiddens

    flatten_imaginated_states = imaginated_states.view(-1, state_dim)
    flatten_imaginated_rnn_hiddens = imaginated_rnn_hiddens.view(-1, rnn_hidden_dim)
    imaginated_rewards = reward_model(flatten_imaginated_states,
                                      flatten_imaginated_rnn_hiddens).view(horizon + 1, -1)
    imaginated_values = value_model(flatten_imaginated_states,
                                    flatten_imaginated_rnn_hiddens).view(horizon + 1, -1)
    lambda_target_values = lambda_return(imaginated_rewards, imaginated_values, 0.9, 0.95)

    # update value model
    value_loss = 0.5 * mse_loss(imaginated_values, lambda_target_values.detach())
    value_optimizer.zero_grad()
    value_loss.backward(retain_graph=True)
    value_optimizer.step()

    # update action model (multiply -1 for gradient ascent)
    action_loss = -1 * (lambda_target_values.mean())
    action_optimizer.zero_grad()
    action_loss.backward()
    action_optimizer.step()
