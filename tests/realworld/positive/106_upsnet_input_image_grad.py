# source: https://github.com/uber-research/UPSNet/issues/24
# hazard: nonleaf-grad
# cause: 38, 58
# expect: assert
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResNetBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return F.relu(self.conv(x))


class UPSNet(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.resnet_backbone = ResNetBackbone()
        self.fcn_head = nn.Conv2d(8, num_classes, 1)
        self.rpn_head = nn.Conv2d(8, 2, 1)

    def forward(self, data, label):
        feat = self.resnet_backbone(data["data"])
        seg_logits = self.fcn_head(feat)
        rpn_logits = self.rpn_head(feat)
        return {
            "fcn_loss": F.cross_entropy(seg_logits, label["seg_gt"]),
            "rpn_cls_loss": F.cross_entropy(rpn_logits, label["rpn_label"]),
        }


def loader(n=2):
    for _ in range(n):
        data = {"data": torch.randn(1, 3, 8, 8), "im_info": torch.tensor([[8.0, 8.0, 1.0]])}
        label = {"seg_gt": torch.randint(0, 3, (1, 8, 8)), "rpn_label": torch.randint(0, 2, (1, 8, 8))}
        yield data, label


torch.manual_seed(0)
train_model = UPSNet()
optimizer = torch.optim.SGD(train_model.parameters(), lr=0.01, momentum=0.9)
loss_weights = {"fcn_loss": 1.0, "rpn_cls_loss": 1.0}

for data, label in loader():
    optimizer.zero_grad()
    output = train_model(data, label)
    loss = 0.0
    for key in loss_weights:
        loss = loss + output[key].mean() * loss_weights[key]
    loss.backward()
    optimizer.step()

    # the reporter wanted the gradient with respect to the input image
    image_grad = data["data"].grad
    assert image_grad is None
    assert train_model.resnet_backbone.conv.weight.grad is not None
