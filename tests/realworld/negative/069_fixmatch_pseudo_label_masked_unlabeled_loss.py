# source: https://github.com/kekmodel/FixMatch-pytorch/blob/master/train.py
# hazard: none
# expect: runs
from copy import deepcopy

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
mu, T, threshold, lambda_u, batch_size, num_classes = 2, 1.0, 0.3, 1.0, 2, 4


class ModelEMA(object):
    def __init__(self, model, decay):
        self.ema = deepcopy(model)
        self.ema.eval()
        self.decay = decay
        self.param_keys = [k for k, _ in self.ema.named_parameters()]
        self.buffer_keys = [k for k, _ in self.ema.named_buffers()]
        for p in self.ema.parameters():
            p.requires_grad_(False)

    def update(self, model):
        with torch.no_grad():
            msd = model.state_dict()
            esd = self.ema.state_dict()
            for k in self.param_keys:
                model_v = msd[k].detach()
                ema_v = esd[k]
                esd[k].copy_(ema_v * self.decay + (1. - self.decay) * model_v)
            for k in self.buffer_keys:
                esd[k].copy_(msd[k])


def interleave(x, size):
    s = list(x.shape)
    return x.reshape([-1, size] + s[1:]).transpose(0, 1).reshape([-1] + s[1:])


def de_interleave(x, size):
    s = list(x.shape)
    return x.reshape([size, -1] + s[1:]).transpose(0, 1).reshape([-1] + s[1:])


def train(labeled_loader, unlabeled_loader, model, optimizer, ema_model, scheduler):
    model.train()
    for batch_idx, ((inputs_x, targets_x), ((inputs_u_w, inputs_u_s), _)) in enumerate(zip(labeled_loader, unlabeled_loader)):
        batch_size = inputs_x.shape[0]
        inputs = interleave(torch.cat((inputs_x, inputs_u_w, inputs_u_s)), 2 * mu + 1)
        logits = model(inputs)
        logits = de_interleave(logits, 2 * mu + 1)
        logits_x = logits[:batch_size]
        logits_u_w, logits_u_s = logits[batch_size:].chunk(2)
        del logits
        Lx = F.cross_entropy(logits_x, targets_x, reduction='mean')
        pseudo_label = torch.softmax(logits_u_w.detach() / T, dim=-1)
        max_probs, targets_u = torch.max(pseudo_label, dim=-1)
        mask = max_probs.ge(threshold).float()
        Lu = (F.cross_entropy(logits_u_s, targets_u, reduction='none') * mask).mean()
        loss = Lx + lambda_u * Lu
        loss.backward()
        optimizer.step()
        scheduler.step()
        ema_model.update(model)
        model.zero_grad()
        print(batch_idx, loss.item(), Lx.item(), Lu.item(), mask.mean().item())


def test(test_loader, model):
    model.eval()
    with torch.no_grad():
        for inputs, targets in test_loader:
            outputs = model(inputs)
            loss = F.cross_entropy(outputs, targets)
            prec1 = (outputs.argmax(1) == targets).float().mean() * 100
    return loss.item(), prec1.item()


model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.1, inplace=True),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))
no_decay = ['bias', 'bn']
grouped_parameters = [
    {'params': [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)], 'weight_decay': 5e-4},
    {'params': [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)], 'weight_decay': 0.0},
]
optimizer = torch.optim.SGD(grouped_parameters, lr=0.03, momentum=0.9, nesterov=True)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
ema_model = ModelEMA(model, 0.999)
labeled = [(torch.randn(batch_size, 3, 6, 6), torch.randint(0, num_classes, (batch_size,))) for _ in range(2)]
unlabeled = [((torch.randn(batch_size * mu, 3, 6, 6), torch.randn(batch_size * mu, 3, 6, 6)), None) for _ in range(2)]
train(labeled, unlabeled, model, optimizer, ema_model, scheduler)
print(test(labeled, ema_model.ema))
