# source: https://github.com/davda54/sam/issues/10
# hazard: backward-twice
# cause: 87, 90
# expect: RuntimeError: Trying to backward through the graph a second time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
device = 'cuda' if torch.cuda.is_available() else 'cpu'


class SAM(torch.optim.Optimizer):
    """Sharpness-aware minimisation: climb to the worst nearby point, then step from there."""

    def __init__(self, params, base_optimizer, rho=0.05, **kwargs):
        super().__init__(params, dict(rho=rho, **kwargs))
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.norm(torch.stack([gr.norm(2) for gr in grads]), 2)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                shift = p.grad * (group["rho"] / (norm + 1e-12))
                p.add_(shift)
                self.state[p]["shift"] = shift
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad=False):
        for group in self.param_groups:
            for p in group["params"]:
                if "shift" in self.state[p]:
                    p.sub_(self.state[p]["shift"])
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()


class MultiTaskNet(nn.Module):
    def __init__(self, num_tasks):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(10, 16), nn.ReLU())
        self.heads = nn.Linear(16, num_tasks)

    def forward(self, image):
        feat = self.backbone(image)
        return self.heads(feat), feat


def get_loss(output, target, t, device, cfg):
    logits = output[:, t]
    loss = F.binary_cross_entropy_with_logits(logits, target[:, t], pos_weight=cfg["pos_weight"].to(device))
    acc = ((logits > 0).float() == target[:, t]).float().mean()
    return loss, acc


num_tasks = 3
cfg = {"pos_weight": torch.tensor(1.0)}
model = MultiTaskNet(num_tasks).to(device)
optimizer = SAM(model.parameters(), torch.optim.SGD, lr=0.1, momentum=0.9)
loss_sum = [0.0] * num_tasks
acc_sum = [0.0] * num_tasks

image = torch.randn(8, 10, device=device)
target = torch.randint(0, 2, (8, num_tasks), device=device).float()

output, logit_map = model(image)
loss = 0
for t in range(num_tasks):
    loss_t, acc_t = get_loss(output, target, t, device, cfg)
    loss += loss_t
    loss_sum[t] += loss_t.item()
    acc_sum[t] += acc_t.item()
optimizer.zero_grad()
loss.backward()
optimizer.first_step(zero_grad=True)

output, logit_map = model(image)
for t in range(num_tasks):
    loss_t, acc_t = get_loss(output, target, t, device, cfg)
    loss += loss_t
    loss_sum[t] += loss_t.item()
    acc_sum[t] += acc_t.item()
loss.backward()
optimizer.second_step(zero_grad=True)
