# source: https://github.com/BorealisAI/advertorch/issues/49
# hazard: nonleaf-grad
# cause: 35, 59
# expect: assert
import torch
import torch.nn as nn


def replicate_input(x):
    return x.detach().clone()


class GradientSignAttack:
    def __init__(self, predict, loss_fn=None, eps=0.3, clip_min=0.0, clip_max=1.0, targeted=False):
        self.predict = predict
        self.loss_fn = loss_fn or nn.CrossEntropyLoss(reduction="sum")
        self.eps, self.clip_min, self.clip_max, self.targeted = eps, clip_min, clip_max, targeted

    def _verify_and_process_inputs(self, x, y):
        x = replicate_input(x)
        y = replicate_input(y)
        return x, y

    def perturb(self, x, y):
        x, y = self._verify_and_process_inputs(x, y)
        xadv = x.requires_grad_()
        outputs = self.predict(xadv)
        loss = self.loss_fn(outputs, y)
        if self.targeted:
            loss = -loss
        loss.backward()
        grad_sign = xadv.grad.detach().sign()
        xadv = xadv + self.eps * grad_sign
        xadv = torch.clamp(xadv, self.clip_min, self.clip_max)
        return xadv


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


torch.manual_seed(0)
model = LeNet()
adversary = GradientSignAttack(model, eps=0.1)
cln_data, true_label = torch.rand(2, 1, 8, 8), torch.tensor([3, 7])

fgsm_tensor = adversary.perturb(cln_data, true_label)
model.zero_grad()
loss = nn.functional.cross_entropy(model(fgsm_tensor), true_label)
loss.backward()
assert fgsm_tensor.is_leaf is False
# the reporter's fgsm_tensor.grad.clone() failed: the gradient was never stored
assert fgsm_tensor.grad is None
