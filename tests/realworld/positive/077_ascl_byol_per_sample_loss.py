# source: https://github.com/MrChenFeng/Adaptive-Soft-Contrastive-Learning_ICPR2022/issues/2
# hazard: non-scalar
# cause: 66, 86
# expect: RuntimeError: grad can be implicitly created only for scalar outputs
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
device = 'cuda' if torch.cuda.is_available() else 'cpu'


def encoder(dim_in, dim):
    return nn.Sequential(nn.Linear(dim_in, 32), nn.ReLU(), nn.Linear(32, dim))


class ASCL(nn.Module):
    def __init__(self, model='moco', dim=16, dim_in=20, mem_size=32, m=0.99, T1=0.1, T2=0.05, type='ascl', nn_num=1):
        super(ASCL, self).__init__()
        self.K, self.m, self.T1, self.T2 = mem_size, m, T1, T2
        self.type, self.model, self.nn_num = type, model, nn_num
        self.encoder_q = encoder(dim_in, dim)
        self.encoder_k = encoder(dim_in, dim)
        if self.model == 'byol':
            self.predictor = nn.Sequential(nn.Linear(dim, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, dim))
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            param_k.data.copy_(param_q.data)
            param_k.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(dim, mem_size), dim=0))

    @torch.no_grad()
    def _momentum_update_key_encoder(self):
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            param_k.data = param_k.data * self.m + param_q.data * (1. - self.m)

    def _forward_moco(self, im_q, im_k):
        q = F.normalize(self.encoder_q(im_q), dim=1)
        with torch.no_grad():
            self._momentum_update_key_encoder()
            k = F.normalize(self.encoder_k(im_k), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ self.queue.clone().detach()], dim=1) / self.T1
        return F.cross_entropy(logits, torch.zeros(q.size(0), dtype=torch.long, device=q.device))

    def _forward_byol(self, im_q, im_k):
        with torch.no_grad():
            self._momentum_update_key_encoder()
        q = self.encoder_q(im_q)
        k = self.encoder_k(im_k)
        hq = F.normalize(self.predictor(q), dim=-1, p=2)
        k = F.normalize(k, dim=-1, p=2)
        if self.type == 'ascl':
            with torch.no_grad():
                distk = k @ k.T
                logits_pd = distk[~torch.eye(distk.shape[0], dtype=bool)].reshape(distk.shape[0], -1)
                pseudo_labels = F.softmax(logits_pd / self.T2, 1)
                log_pseudo_labels = F.log_softmax(logits_pd / self.T2, 1)
                entropy = -torch.sum(pseudo_labels * log_pseudo_labels, dim=1, keepdim=True)
                c = 1 - entropy / np.log(pseudo_labels.shape[1])
                pseudo_labels = torch.clamp(self.nn_num * c * pseudo_labels, max=1.0)
                labels = torch.zeros_like(distk)
                labels.fill_diagonal_(1)
                labels[~torch.eye(distk.shape[0], dtype=bool)] = pseudo_labels.reshape(-1)
                labels = labels / labels.sum(dim=1, keepdim=True)
            dist_real = hq @ k.T.detach()
            loss = 2 - 2 * (labels.detach() * dist_real).sum(dim=-1)
        else:
            loss = 2 - 2 * (hq * k.detach()).sum(dim=-1)
        return loss

    def forward(self, im_q, im_k):
        if self.model == 'byol':
            return self._forward_byol(im_q, im_k)
        elif self.model == 'moco':
            return self._forward_moco(im_q, im_k)
        raise ValueError(f'Wrong model! Should be moco or byol rather than {self.model}!')


net = ASCL(model='byol').to(device)
optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.06, momentum=0.9)
for step in range(2):
    x = torch.randn(8, 20, device=device)
    im_1, im_2 = x + 0.1 * torch.randn_like(x), x + 0.1 * torch.randn_like(x)
    loss = net(im_1, im_2)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
