# source: https://github.com/learnables/learn2learn/issues/363
# hazard: grad-not-required
# cause: 48, 87
# expect: RuntimeError: appears to not have been used in the graph
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import grad


class ViTEmbeddings(nn.Module):
    def __init__(self, patch=4, dim=16):
        super().__init__()
        self.patch = patch
        self.projection = nn.Linear(3 * patch * patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, pixels):
        b = pixels.shape[0]
        patches = pixels.unfold(2, self.patch, self.patch).unfold(3, self.patch, self.patch)
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, 3 * self.patch * self.patch)
        tokens = self.projection(patches)
        return torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)


class ViTModel(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.embeddings = ViTEmbeddings(dim=dim)
        self.encoder = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU())
        self.pooler = nn.Linear(dim, dim)  # built and run, but its output is dropped below

    def forward(self, pixels):
        last_hidden_state = self.encoder(self.embeddings(pixels))
        pooled = torch.tanh(self.pooler(last_hidden_state[:, 0]))
        return last_hidden_state, pooled


class ViTForImageClassification(nn.Module):
    def __init__(self, num_labels=5, dim=16):
        super().__init__()
        self.vit = ViTModel(dim)
        self.classifier = nn.Linear(dim, num_labels)

    def forward(self, pixels):
        last_hidden_state, _ = self.vit(pixels)
        return self.classifier(last_hidden_state[:, 0])


def clone_module(module):
    clone = copy.deepcopy(module)
    for (_, src), (_, dst) in zip(module.named_modules(), clone.named_modules()):
        for key, param in src._parameters.items():
            if param is not None:
                dst._parameters[key] = param.clone()
    return clone


def update_module(module, updates):
    params = [m._parameters for m in module.modules()]
    it = iter(updates)
    for p in params:
        for key in p:
            if p[key] is not None:
                p[key] = p[key] + next(it)
    return module


class MAML(nn.Module):
    def __init__(self, model, lr, first_order=False, allow_unused=False):
        super().__init__()
        self.module = model
        self.lr = lr
        self.first_order = first_order
        self.allow_unused = allow_unused

    def forward(self, *args):
        return self.module(*args)

    def clone(self):
        return MAML(clone_module(self.module), self.lr, self.first_order, self.allow_unused)

    def adapt(self, loss):
        second_order = not self.first_order
        gradients = grad(loss, list(self.module.parameters()),
                         retain_graph=second_order, create_graph=second_order,
                         allow_unused=self.allow_unused)
        self.module = update_module(self.module, [-self.lr * g for g in gradients])


def fast_adapt(batch, learner, loss, adaptation_steps):
    data, labels = batch
    for step in range(adaptation_steps):
        train_error = loss(learner(data), labels)
        learner.adapt(train_error)
    return loss(learner(data), labels)


torch.manual_seed(0)
model = ViTForImageClassification()
maml = MAML(model, lr=0.1)
opt = torch.optim.Adam(maml.parameters(), lr=1e-3)
batch = (torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]))

opt.zero_grad()
learner = maml.clone()
evaluation_error = fast_adapt(batch, learner, F.cross_entropy, adaptation_steps=1)
evaluation_error.backward()
opt.step()
