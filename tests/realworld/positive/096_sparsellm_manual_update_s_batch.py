# source: https://github.com/BaiTheBest/SparseLLM/issues/13
# hazard: inplace-leaf
# cause: 32
# expect: RuntimeError: a leaf Variable that requires grad is being used in an in-place operation
import torch
import torch.nn as nn
import torch.nn.functional as F


class OPTMLP(nn.Module):
    def __init__(self, d=8, hidden=16):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)


def update_s(mlp, s, z, target, s_learning_rate=0.01, s_iters=2, chunk_size=4):
    # s: pre-activation of fc1 (batch, hidden); solved for chunk by chunk with plain gradient steps
    hidden = s.shape[1]
    for start in range(0, hidden, chunk_size):
        chunk = slice(start, start + chunk_size)
        s_batch = s[:, chunk].clone().float().requires_grad_(True)
        w2 = mlp.fc2.weight[:, chunk].detach()
        for _ in range(s_iters):
            full = s.float().clone()
            full[:, chunk] = 0
            rest = F.linear(F.relu(full), mlp.fc2.weight.detach())
            pred = rest + F.linear(F.relu(s_batch), w2) + mlp.fc2.bias.detach()
            loss_s = F.mse_loss(pred, target) + F.mse_loss(s_batch, z[:, chunk].float())

            loss_s.backward()
            s_batch -= s_learning_rate * s_batch.grad
            s_batch.grad.zero_()
        s[:, chunk] = s_batch.detach().to(dtype=s.dtype)
    return s


torch.manual_seed(0)
mlp = OPTMLP()
x = torch.randn(5, 8)
with torch.no_grad():
    z = mlp.fc1(x)
s = z.clone()
target = torch.randn(5, 8)
s = update_s(mlp, s, z, target)
