# source: https://github.com/CuriousAI/mean-teacher/blob/master/pytorch/main.py
# hazard: none
# expect: runs
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
NO_LABEL = -1
num_classes = 4


class TwoHeadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.fc1 = nn.Linear(8, num_classes)
        self.fc2 = nn.Linear(8, num_classes)

    def forward(self, x):
        h = self.body(x)
        return self.fc1(h), self.fc2(h)


def create_model(ema=False):
    model = TwoHeadNet()
    if ema:
        for param in model.parameters():
            param.detach_()
    return model


def softmax_mse_loss(input_logits, target_logits):
    input_softmax = F.softmax(input_logits, dim=1)
    target_softmax = F.softmax(target_logits, dim=1)
    return F.mse_loss(input_softmax, target_softmax, reduction='sum') / num_classes


def symmetric_mse_loss(input1, input2):
    return torch.sum((input1 - input2) ** 2) / num_classes


def update_ema_variables(model, ema_model, alpha, global_step):
    alpha = min(1 - 1 / (global_step + 1), alpha)
    for ema_param, param in zip(ema_model.parameters(), model.parameters()):
        ema_param.data.mul_(alpha).add_(param.data, alpha=1 - alpha)


def train(train_loader, model, ema_model, optimizer, epoch, global_step, consistency_weight=1.0, logit_distance_cost=0.01, ema_decay=0.999):
    class_criterion = nn.CrossEntropyLoss(reduction='sum', ignore_index=NO_LABEL)
    model.train()
    ema_model.train()
    for i, ((input, ema_input), target) in enumerate(train_loader):
        minibatch_size = len(target)
        labeled_minibatch_size = target.ne(NO_LABEL).sum()
        ema_model_out = ema_model(ema_input)
        model_out = model(input)
        logit1, logit2 = model_out
        ema_logit, _ = ema_model_out
        class_logit, cons_logit = logit1, logit2
        res_loss = logit_distance_cost * symmetric_mse_loss(class_logit, cons_logit) / minibatch_size
        ema_logit = ema_logit.detach()
        class_loss = class_criterion(class_logit, target) / minibatch_size
        ema_class_loss = class_criterion(ema_logit, target) / minibatch_size
        consistency_loss = consistency_weight * softmax_mse_loss(cons_logit, ema_logit) / minibatch_size
        loss = class_loss + consistency_loss + res_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        global_step += 1
        update_ema_variables(model, ema_model, ema_decay, global_step)
        print(epoch, i, loss.item(), ema_class_loss.item(), labeled_minibatch_size.item())
    return global_step


model = create_model()
ema_model = create_model(ema=True)
optimizer = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9, nesterov=True, weight_decay=2e-4)
loader = [((torch.randn(4, 6), torch.randn(4, 6)), torch.tensor([0, NO_LABEL, 2, NO_LABEL])) for _ in range(2)]
global_step = 0
for epoch in range(2):
    global_step = train(loader, model, ema_model, optimizer, epoch, global_step)
