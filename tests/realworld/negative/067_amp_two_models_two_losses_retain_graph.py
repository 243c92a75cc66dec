# source: https://github.com/pytorch/pytorch/blob/main/docs/source/notes/amp_examples.rst
# hazard: none
# expect: runs
import torch
import torch.nn as nn
from torch.amp import autocast

torch.manual_seed(0)
device = 'cuda' if torch.cuda.is_available() else 'cpu'


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


model0, model1 = Net().to(device), Net().to(device)
optimizer0 = torch.optim.SGD(model0.parameters(), lr=0.01)
optimizer1 = torch.optim.SGD(model1.parameters(), lr=0.01)
loss_fn = nn.MSELoss()
scaler = torch.amp.GradScaler(device)
data = [(torch.randn(4, 6, device=device), torch.randn(4, 3, device=device)) for _ in range(2)]

for epoch in range(2):
    for input, target in data:
        optimizer0.zero_grad()
        optimizer1.zero_grad()
        with autocast(device_type=device, dtype=torch.bfloat16):
            output0 = model0(input)
            output1 = model1(input)
            loss0 = loss_fn(2 * output0 + 3 * output1, target)
            loss1 = loss_fn(3 * output0 - 5 * output1, target)

        # retain_graph is needed because both backward() calls share parts of the graph
        scaler.scale(loss0).backward(retain_graph=True)
        scaler.scale(loss1).backward()

        # unscale the gradients of optimizer0's params to inspect or clip them
        scaler.unscale_(optimizer0)
        torch.nn.utils.clip_grad_norm_(model0.parameters(), max_norm=1.0)

        scaler.step(optimizer0)
        scaler.step(optimizer1)
        scaler.update()
    print(epoch, loss0.item(), loss1.item(), scaler.get_scale())
