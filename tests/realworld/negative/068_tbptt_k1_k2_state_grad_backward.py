# source: https://discuss.pytorch.org/t/implementing-truncated-backpropagation-through-time/15500
# hazard: none
# expect: runs
import torch
import torch.nn as nn

torch.manual_seed(0)


class MyMod(nn.Module):
    def __init__(self):
        super(MyMod, self).__init__()
        self.lin = nn.Linear(2 * 4, 4)

    def forward(self, inp, old_state):
        full_input = torch.cat((inp, old_state), 1)
        new_state = torch.tanh(self.lin(full_input))
        return new_state, new_state


class TBPTT():
    def __init__(self, one_step_module, loss_module, k1, k2, optimizer):
        self.one_step_module = one_step_module
        self.loss_module = loss_module
        self.k1 = k1
        self.k2 = k2
        self.retain_graph = k1 < k2
        self.optimizer = optimizer

    def train(self, input_sequence, init_state):
        states = [(None, init_state)]
        for j, (inp, target) in enumerate(input_sequence):
            state = states[-1][1].detach()
            state.requires_grad = True
            output, new_state = self.one_step_module(inp, state)
            states.append((state, new_state))
            while len(states) > self.k2:
                del states[0]
            if (j + 1) % self.k1 == 0:
                loss = self.loss_module(output, target)
                self.optimizer.zero_grad()
                loss.backward(retain_graph=self.retain_graph)
                for i in range(self.k2 - 1):
                    if states[-i - 2][0] is None:
                        break
                    curr_grad = states[-i - 1][0].grad
                    states[-i - 2][1].backward(curr_grad, retain_graph=self.retain_graph)
                self.optimizer.step()
                print(j, loss.item())


one_step_module = MyMod()
loss_module = nn.MSELoss()
optimizer = torch.optim.SGD(one_step_module.parameters(), lr=0.1)
runner = TBPTT(one_step_module, loss_module, 3, 3, optimizer)
input_sequence = [(torch.randn(2, 4), torch.randn(2, 4)) for _ in range(6)]
runner.train(input_sequence, torch.zeros(2, 4))
