# source: https://github.com/dragen1860/MAML-Pytorch/issues/40
# hazard: no-graph
# cause: 54, 69, 71
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class Learner(nn.Module):
    """Functional net: forward can run with the module's own weights or with fast weights."""

    def __init__(self, n_in=4, n_way=3):
        super().__init__()
        self.vars = nn.ParameterList([nn.Parameter(torch.randn(n_way, n_in) * 0.1),
                                      nn.Parameter(torch.zeros(n_way))])

    def forward(self, x, vars=None):
        if vars is None:
            vars = self.vars
        w, b = vars[0], vars[1]
        return F.linear(x, w, b)

    def parameters(self, recurse=True):
        return self.vars


class Meta(nn.Module):
    def __init__(self, update_step, update_lr=0.4, meta_lr=1e-3):
        super().__init__()
        self.update_step = update_step
        self.update_lr = update_lr
        self.net = Learner()
        self.meta_optim = torch.optim.Adam(self.net.parameters(), lr=meta_lr)

    def forward(self, x_spt, y_spt, x_qry, y_qry):
        task_num = x_spt.size(0)
        losses_q = [0 for _ in range(self.update_step + 1)]
        for i in range(task_num):
            logits = self.net(x_spt[i], vars=None)
            loss = F.cross_entropy(logits, y_spt[i])
            grad = torch.autograd.grad(loss, self.net.parameters())
            fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, self.net.parameters())))

            # loss before the first update (for logging only)
            with torch.no_grad():
                logits_q = self.net(x_qry[i], self.net.parameters())
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[0] += loss_q

            # loss after the first update (for logging only)
            with torch.no_grad():
                logits_q = self.net(x_qry[i], fast_weights)
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[1] += loss_q

            for k in range(1, self.update_step):
                logits = self.net(x_spt[i], fast_weights)
                loss = F.cross_entropy(logits, y_spt[i])
                grad = torch.autograd.grad(loss, fast_weights)
                fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, fast_weights)))
                logits_q = self.net(x_qry[i], fast_weights)
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[k + 1] += loss_q

        # meta loss: the query loss after the last inner step
        loss_q = losses_q[-1] / task_num
        self.meta_optim.zero_grad()
        loss_q.backward()
        self.meta_optim.step()
        return loss_q


maml = Meta(update_step=1)
x_spt, y_spt = torch.randn(2, 6, 4), torch.randint(0, 3, (2, 6))
x_qry, y_qry = torch.randn(2, 6, 4), torch.randint(0, 3, (2, 6))
maml(x_spt, y_spt, x_qry, y_qry)
