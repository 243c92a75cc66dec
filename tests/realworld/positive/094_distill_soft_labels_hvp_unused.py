# source: https://github.com/ilia10000/dataset-distillation/issues/3
# hazard: grad-not-required
# cause: 36, 53
# expect: RuntimeError: appears to not have been used in the graph
import torch
import torch.nn as nn
import torch.nn.functional as F


class MyArch(nn.Module):
    def __init__(self, n_in=6, n_out=2):
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)

    def forward_with_param(self, x, w):
        weight = w[: self.fc.weight.numel()].view_as(self.fc.weight)
        bias = w[self.fc.weight.numel():]
        return F.linear(x, weight, bias)


class Trainer:
    def __init__(self, model, num_steps=2, n_distill=4):
        self.model = model
        self.data = [torch.randn(n_distill, 6, requires_grad=True) for _ in range(num_steps)]
        self.labels = [torch.randn(n_distill, 2, requires_grad=True) for _ in range(num_steps)]
        self.raw_lr = torch.tensor(0.02, requires_grad=True)

    def get_steps(self):
        return [(d, l, self.raw_lr) for d, l in zip(self.data, self.labels)]

    def forward(self, rdata, rlabel, steps):
        w = torch.cat([p.detach().reshape(-1) for p in self.model.parameters()]).requires_grad_()
        params, gws = [w], []
        for data, label, lr in steps:
            output = self.model.forward_with_param(data, w)
            loss = F.cross_entropy(output, label.argmax(dim=1))  # the custom loss takes class indices
            gw, = torch.autograd.grad(loss, w, lr.squeeze(), create_graph=True)
            new_w = w - gw
            params.append(new_w)
            gws.append(gw)
            w = new_w
        output = self.model.forward_with_param(rdata, params[-1])
        tloss = F.cross_entropy(output, rlabel)
        return tloss, (tloss, params, gws)

    def backward(self, steps, saved):
        tloss, params, gws = saved
        datas, gdatas, lrs, glrs, labels, glabels = [], [], [], [], [], []
        dw, = torch.autograd.grad(tloss, (params[-1],))
        for (data, label, lr), w, gw in reversed(list(zip(steps, params, gws))):
            hvp_in = [w, data, lr, label]  # learnable (soft) labels
            dgw = dw.neg()
            hvp_grad = torch.autograd.grad(outputs=(gw,), inputs=hvp_in, grad_outputs=(dgw,), retain_graph=True)
            with torch.no_grad():
                datas.append(data)
                gdatas.append(hvp_grad[1])
                lrs.append(lr)
                glrs.append(hvp_grad[2])
                labels.append(label)
                glabels.append(hvp_grad[3])
                dw.add_(hvp_grad[0])
        return datas, gdatas, lrs, glrs, labels, glabels


torch.manual_seed(0)
trainer = Trainer(MyArch())
steps = trainer.get_steps()
rdata, rlabel = torch.randn(8, 6), torch.randint(0, 2, (8,))
tloss, saved = trainer.forward(rdata, rlabel, steps)
trainer.backward(steps, saved)
