# source: https://github.com/learnables/learn2learn/issues/271
# hazard: requires-grad-flag
# cause: 21, 75
# expect: RuntimeError: you can only change requires_grad flags of leaf variables
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


def clone_module(module):
    """Like learn2learn.utils.clone_module: a copy whose parameters are differentiable clones."""
    clone = module.__new__(type(module))
    clone.__dict__ = module.__dict__.copy()
    clone._parameters = module._parameters.copy()
    clone._buffers = module._buffers.copy()
    clone._modules = module._modules.copy()
    for key, param in module._parameters.items():
        if param is not None:
            clone._parameters[key] = param.clone()
    for key, child in module._modules.items():
        clone._modules[key] = clone_module(child)
    return clone


def update_module(module, updates):
    for key, g in zip(list(module._parameters.keys()), updates[:len(module._parameters)]):
        module._parameters[key] = module._parameters[key] - g
    updates = updates[len(module._parameters):]
    for child in module._modules.values():
        updates = update_module(child, updates)
    return updates


class MAML(nn.Module):
    def __init__(self, model, lr):
        super().__init__()
        self.module = model
        self.lr = lr

    def forward(self, x):
        return self.module(x)

    def clone(self):
        return MAML(clone_module(self.module), self.lr)

    def adapt(self, loss):
        params = [p for p in self.module.parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        update_module(self.module, [self.lr * g if g is not None else 0 for g in grads])


class SRNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(1, 4, 3, padding=1)
        self.meta_block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.tail = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x):
        return self.tail(self.meta_block(self.head(x)))


maml = MAML(SRNet(), lr=0.01)
opt = torch.optim.Adam(maml.parameters(), lr=1e-3)
low_res, gt = torch.randn(1, 1, 6, 6), torch.randn(1, 1, 6, 6)

opt.zero_grad()
task_model = maml.clone()
output = task_model(low_res)
adaptation_loss = F.l1_loss(output, gt)
# freeze the meta block for the inner loop
for name, p in task_model.module.meta_block.named_parameters():
    p.requires_grad = False
task_model.adapt(adaptation_loss)
evaluation_loss = F.l1_loss(task_model(low_res), gt)
evaluation_loss.backward()
opt.step()
