# source: https://github.com/RangiLyu/nanodet/issues/7
# hazard: no-graph
# cause: 56, 57, 69
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


def multi_apply(func, *args, **kwargs):
    pfunc = partial(func, **kwargs) if kwargs else func
    return tuple(map(list, zip(*map(pfunc, *args))))


class GFLHead(nn.Module):
    def __init__(self, num_classes=3, in_ch=4, strides=(8, 16)):
        super().__init__()
        self.num_classes = num_classes
        self.strides = strides
        self.gfl_cls = nn.Conv2d(in_ch, num_classes, 3, padding=1)
        self.gfl_reg = nn.Conv2d(in_ch, 4, 3, padding=1)

    def forward(self, feats):
        return multi_apply(self.forward_single, feats)

    def forward_single(self, x):
        return self.gfl_cls(x), self.gfl_reg(x)

    def loss_single(self, cls_score, bbox_pred, labels, num_total_samples):
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.num_classes)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 4)
        pos_inds = torch.nonzero(labels < self.num_classes, as_tuple=False).squeeze(1)
        if len(pos_inds) > 0:
            loss_bbox = bbox_pred[pos_inds].abs().mean()
            weight_targets = cls_score.detach().sigmoid().max(dim=1)[0][pos_inds]
        else:
            loss_bbox = bbox_pred.sum() * 0
            weight_targets = torch.tensor(0.0)
        onehot = F.one_hot(labels, self.num_classes + 1)[:, :self.num_classes].float()
        loss_qfl = F.binary_cross_entropy_with_logits(cls_score, onehot, reduction="sum") / num_total_samples
        return loss_qfl, loss_bbox, weight_targets.sum()

    def loss(self, preds, labels_list):
        cls_scores, bbox_preds = preds
        num_total_pos = sum(int((lab < self.num_classes).sum()) for lab in labels_list)
        num_total_samples = max(float(num_total_pos), 1.0)
        losses_qfl, losses_bbox, avg_factor = multi_apply(
            self.loss_single, cls_scores, bbox_preds, labels_list,
            num_total_samples=num_total_samples)
        avg_factor = sum(avg_factor).item()
        if avg_factor <= 0:
            loss_qfl = torch.tensor(0, dtype=torch.float32)
            loss_bbox = torch.tensor(0, dtype=torch.float32)
        else:
            loss_qfl = sum(losses_qfl)
            loss_bbox = sum(x / avg_factor for x in losses_bbox)
        loss = loss_qfl + loss_bbox
        return loss, dict(loss_qfl=loss_qfl, loss_bbox=loss_bbox)


def run_step(model, optimizer, batch):
    preds = model(batch["feats"])
    loss, loss_states = model.loss(preds, batch["labels"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss, loss_states


head = GFLHead()
optimizer = torch.optim.SGD(head.parameters(), lr=0.01)
feats = [torch.randn(1, 4, 4, 4), torch.randn(1, 4, 2, 2)]
# an early warm-up batch where the assigner found no positive cells (all background)
labels = [torch.full((16,), 3), torch.full((4,), 3)]
run_step(head, optimizer, {"feats": feats, "labels": labels})
