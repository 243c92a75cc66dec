# source: https://github.com/locuslab/fast_adversarial/blob/master/CIFAR10/train_pgd.py
# hazard: none
# expect: runs
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
cifar10_mean, cifar10_std = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
mu = torch.tensor(cifar10_mean).view(3, 1, 1)
std = torch.tensor(cifar10_std).view(3, 1, 1)
upper_limit, lower_limit = ((1 - mu) / std), ((0 - mu) / std)


def clamp(X, lower_limit, upper_limit):
    return torch.max(torch.min(X, upper_limit), lower_limit)


def attack_pgd(model, X, y, epsilon, alpha, attack_iters, restarts):
    max_loss = torch.zeros(y.shape[0])
    max_delta = torch.zeros_like(X)
    for zz in range(restarts):
        delta = torch.zeros_like(X)
        for i in range(len(epsilon)):
            delta[:, i, :, :].uniform_(-epsilon[i][0][0].item(), epsilon[i][0][0].item())
        delta.data = clamp(delta, lower_limit - X, upper_limit - X)
        delta.requires_grad = True
        for _ in range(attack_iters):
            output = model(X + delta)
            index = torch.where(output.max(1)[1] == y)
            if len(index[0]) == 0:
                break
            loss = F.cross_entropy(output, y)
            loss.backward()
            grad = delta.grad.detach()
            d = delta[index[0], :, :, :]
            g = grad[index[0], :, :, :]
            d = clamp(d + alpha * torch.sign(g), -epsilon, epsilon)
            d = clamp(d, lower_limit - X[index[0], :, :, :], upper_limit - X[index[0], :, :, :])
            delta.data[index[0], :, :, :] = d
            delta.grad.zero_()
        all_loss = F.cross_entropy(model(X + delta), y, reduction='none').detach()
        max_delta[all_loss >= max_loss] = delta.detach()[all_loss >= max_loss]
        max_loss = torch.max(max_loss, all_loss)
    return max_delta


def evaluate_pgd(test_loader, model, attack_iters, restarts):
    epsilon, alpha = (8 / 255.) / std, (2 / 255.) / std
    pgd_loss, pgd_acc, n = 0, 0, 0
    model.eval()
    for i, (X, y) in enumerate(test_loader):
        pgd_delta = attack_pgd(model, X, y, epsilon, alpha, attack_iters, restarts)
        with torch.no_grad():
            output = model(X + pgd_delta)
            loss = F.cross_entropy(output, y)
            pgd_loss += loss.item() * y.size(0)
            pgd_acc += (output.max(1)[1] == y).sum().item()
            n += y.size(0)
    return pgd_loss / n, pgd_acc / n


model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
scheduler = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.0, max_lr=0.2, step_size_up=2, step_size_down=2)
criterion = nn.CrossEntropyLoss()
epsilon, alpha, attack_iters = (8 / 255.) / std, (2 / 255.) / std, 2
train_loader = [(torch.randn(4, 3, 6, 6), torch.randint(0, 10, (4,))) for _ in range(2)]

model.train()
train_loss, train_acc, train_n = 0, 0, 0
for i, (X, y) in enumerate(train_loader):
    delta = torch.zeros_like(X)
    for j in range(len(epsilon)):
        delta[:, j, :, :].uniform_(-epsilon[j][0][0].item(), epsilon[j][0][0].item())
    delta.data = clamp(delta, lower_limit - X, upper_limit - X)
    delta.requires_grad = True
    for _ in range(attack_iters):
        output = model(X + delta)
        loss = criterion(output, y)
        loss.backward()
        grad = delta.grad.detach()
        delta.data = clamp(delta + alpha * torch.sign(grad), -epsilon, epsilon)
        delta.data = clamp(delta, lower_limit - X, upper_limit - X)
        delta.grad.zero_()
    delta = delta.detach()
    output = model(clamp(X + delta[:X.size(0)], lower_limit, upper_limit))
    loss = criterion(output, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    train_loss += loss.item() * y.size(0)
    train_acc += (output.max(1)[1] == y).sum().item()
    train_n += y.size(0)
    scheduler.step()
with torch.no_grad():  # labels the net already gets right, so the attack takes its steps
    test_loader = [(X, model.eval()(X).argmax(1)) for X, _ in train_loader]
print(train_loss / train_n, train_acc / train_n, evaluate_pgd(test_loader, model, attack_iters=2, restarts=1))
