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
        self.layers = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))

    def forward(self, x):
        return self.layers(x)


def train_epoch(model, data, optimizer, scaler, loss_fn):
    for input, target in data:
        optimizer.zero_grad()
        with autocast(device_type=device, dtype=torch.bfloat16):
            output = model(input)
            loss = loss_fn(output, target)

        # gradients of the scaled loss, kept in the graph so the penalty can be differentiated
        scaled_grad_params = torch.autograd.grad(outputs=scaler.scale(loss), inputs=model.parameters(), create_graph=True)

        # these gradients belong to no optimizer, so they are unscaled by hand
        inv_scale = 1. / scaler.get_scale()
        grad_params = [p * inv_scale for p in scaled_grad_params]

        with autocast(device_type=device, dtype=torch.bfloat16):
            grad_norm = 0
            for grad in grad_params:
                grad_norm += grad.pow(2).sum()
            grad_norm = grad_norm.sqrt()
            loss = loss + grad_norm

        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()


model = Net().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
scaler = torch.amp.GradScaler(device)
data = [(torch.randn(4, 6, device=device), torch.randn(4, 2, device=device)) for _ in range(2)]
for epoch in range(2):
    print(epoch, train_epoch(model, data, optimizer, scaler, nn.MSELoss()))
