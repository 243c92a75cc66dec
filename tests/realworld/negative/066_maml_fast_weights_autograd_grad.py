# source: https://github.com/dragen1860/MAML-Pytorch/blob/master/meta.py
# hazard: none
# expect: runs
import numpy as np
import torch
from torch import nn, optim
from torch.nn import functional as F

torch.manual_seed(0)


class Learner(nn.Module):
    def __init__(self, config):
        super(Learner, self).__init__()
        self.config = config
        self.vars = nn.ParameterList()
        self.vars_bn = nn.ParameterList()
        for name, param in self.config:
            if name == 'linear':
                w = nn.Parameter(torch.ones(*param))
                torch.nn.init.kaiming_normal_(w)
                self.vars.append(w)
                self.vars.append(nn.Parameter(torch.zeros(param[0])))
            elif name == 'bn':
                self.vars.append(nn.Parameter(torch.ones(param[0])))
                self.vars.append(nn.Parameter(torch.zeros(param[0])))
                self.vars_bn.extend([nn.Parameter(torch.zeros(param[0]), requires_grad=False),
                                     nn.Parameter(torch.ones(param[0]), requires_grad=False)])

    def forward(self, x, vars=None, bn_training=True):
        if vars is None:
            vars = self.vars
        idx, bn_idx = 0, 0
        for name, param in self.config:
            if name == 'linear':
                w, b = vars[idx], vars[idx + 1]
                x = F.linear(x, w, b)
                idx += 2
            elif name == 'bn':
                w, b = vars[idx], vars[idx + 1]
                running_mean, running_var = self.vars_bn[bn_idx], self.vars_bn[bn_idx + 1]
                x = F.batch_norm(x, running_mean, running_var, weight=w, bias=b, training=bn_training)
                idx += 2
                bn_idx += 2
            elif name == 'relu':
                x = F.relu(x, inplace=param[0])
        assert idx == len(vars)
        return x

    def parameters(self):
        return self.vars


class Meta(nn.Module):
    def __init__(self, config, update_lr=0.4, meta_lr=1e-3, update_step=3):
        super(Meta, self).__init__()
        self.update_lr, self.update_step = update_lr, update_step
        self.net = Learner(config)
        self.meta_optim = optim.Adam(self.net.parameters(), lr=meta_lr)

    def forward(self, x_spt, y_spt, x_qry, y_qry):
        task_num = x_spt.size(0)
        querysz = x_qry.size(1)
        losses_q = [0 for _ in range(self.update_step + 1)]
        corrects = [0 for _ in range(self.update_step + 1)]
        for i in range(task_num):
            logits = self.net(x_spt[i], vars=None, bn_training=True)
            loss = F.cross_entropy(logits, y_spt[i])
            grad = torch.autograd.grad(loss, self.net.parameters())
            fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, self.net.parameters())))
            with torch.no_grad():
                logits_q = self.net(x_qry[i], self.net.parameters(), bn_training=True)
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[0] += loss_q
                pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                corrects[0] = corrects[0] + torch.eq(pred_q, y_qry[i]).sum().item()
            with torch.no_grad():
                logits_q = self.net(x_qry[i], fast_weights, bn_training=True)
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[1] += loss_q
                pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                corrects[1] = corrects[1] + torch.eq(pred_q, y_qry[i]).sum().item()
            for k in range(1, self.update_step):
                logits = self.net(x_spt[i], fast_weights, bn_training=True)
                loss = F.cross_entropy(logits, y_spt[i])
                grad = torch.autograd.grad(loss, fast_weights)
                fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, fast_weights)))
                logits_q = self.net(x_qry[i], fast_weights, bn_training=True)
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[k + 1] += loss_q
                with torch.no_grad():
                    pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                    corrects[k + 1] = corrects[k + 1] + torch.eq(pred_q, y_qry[i]).sum().item()
        loss_q = losses_q[-1] / task_num
        self.meta_optim.zero_grad()
        loss_q.backward()
        self.meta_optim.step()
        return np.array(corrects) / (querysz * task_num)


n_way, k_spt, k_qry, task_num, dim = 3, 2, 2, 2, 6
config = [('linear', [8, dim]), ('bn', [8]), ('relu', [True]), ('linear', [n_way, 8])]
maml = Meta(config)
for step in range(2):
    x_spt, y_spt = torch.randn(task_num, n_way * k_spt, dim), torch.randint(0, n_way, (task_num, n_way * k_spt))
    x_qry, y_qry = torch.randn(task_num, n_way * k_qry, dim), torch.randint(0, n_way, (task_num, n_way * k_qry))
    accs = maml(x_spt, y_spt, x_qry, y_qry)
    print(step, accs)
