# source: https://github.com/wutong16/DistributionBalancedLoss/issues/20
# hazard: inplace-saved
# cause: 56, 87
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


def binary_cross_entropy(pred, label, weight=None, reduction='mean'):
    return F.binary_cross_entropy_with_logits(pred, label.float(), weight=weight, reduction=reduction)


class ResampleLoss(nn.Module):
    def __init__(self, class_freq, neg_class_freq,
                 focal=dict(focal=True, balance_param=2.0, gamma=2),
                 map_param=dict(alpha=10.0, beta=0.2, gamma=0.1),
                 logit_reg=dict(neg_scale=5.0, neg_bias=0.1),
                 loss_weight=1.0):
        super(ResampleLoss, self).__init__()
        self.cls_criterion = binary_cross_entropy
        self.loss_weight = loss_weight
        self.focal = focal['focal']
        self.gamma = focal['gamma']
        self.balance_param = focal['balance_param']
        self.map_alpha = map_param['alpha']
        self.map_beta = map_param['beta']
        self.map_gamma = map_param['gamma']
        self.class_freq = class_freq
        self.train_num = class_freq[0] + neg_class_freq[0]
        self.logit_reg = logit_reg
        self.neg_scale = logit_reg['neg_scale']
        neg_bias = logit_reg['neg_bias']
        self.neg_bias = -torch.log(self.train_num / self.class_freq - 1) * neg_bias / self.neg_scale
        self.freq_inv = torch.ones(self.class_freq.shape) / self.class_freq

    def forward(self, cls_score, label):
        weight = self.rebalance_weight(label.float())
        cls_score, weight = self.logit_reg_functions(label.float(), cls_score, weight)
        if self.focal:
            logpt = -self.cls_criterion(cls_score.clone(), label, weight=None, reduction='none')
            pt = torch.exp(logpt)
            loss = self.cls_criterion(cls_score, label.float(), weight=weight, reduction='none')
            loss = ((1 - pt) ** self.gamma) * loss
            loss = self.balance_param * loss
        else:
            loss = self.cls_criterion(cls_score, label.float(), weight)
        return self.loss_weight * loss.mean()

    def logit_reg_functions(self, labels, logits, weight=None):
        if not self.logit_reg:
            return logits, weight
        if 'neg_bias' in self.logit_reg:
            logits += self.neg_bias
        if 'neg_scale' in self.logit_reg:
            logits = logits * (1 - labels) * self.neg_scale + logits * labels
            weight = weight / self.neg_scale * (1 - labels) + weight * labels
        return logits, weight

    def rebalance_weight(self, gt_labels):
        repeat_rate = torch.sum(gt_labels.float() * self.freq_inv, dim=1, keepdim=True)
        pos_weight = self.freq_inv.clone().detach().unsqueeze(0) / repeat_rate
        return torch.sigmoid(self.map_beta * (pos_weight - self.map_gamma)) + self.map_alpha


class MultiLabelHead(nn.Module):
    def __init__(self, in_dim, num_classes):
        super().__init__()
        self.fc = nn.Linear(in_dim, num_classes)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


num_classes = 6
class_freq = torch.tensor([30., 12., 8., 5., 3., 2.])
neg_class_freq = 60. - class_freq
model = MultiLabelHead(10, num_classes)
criterion = ResampleLoss(class_freq, neg_class_freq)

features = torch.randn(4, 10)
labels = (torch.rand(4, num_classes) > 0.5).long()
labels[:, 0] = 1
loss = criterion(model(features), labels)
loss.backward()
