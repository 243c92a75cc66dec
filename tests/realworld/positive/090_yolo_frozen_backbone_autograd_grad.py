# source: https://github.com/bubbliiiing/yolo3-pytorch/issues/110
# hazard: grad-not-required
# cause: 43, 59
# expect: RuntimeError: One of the differentiated Tensors does not require grad
import torch
import torch.nn as nn


class DarkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class YoloBody(nn.Module):
    def __init__(self, num_anchors=3, num_classes=2):
        super().__init__()
        self.backbone = DarkNet()
        self.head = nn.Conv2d(8, num_anchors * (5 + num_classes), 1)

    def forward(self, x):
        return [self.head(self.backbone(x))]


class YOLOLoss(nn.Module):
    def forward(self, l, output, target):
        return ((output - target) ** 2).mean()


def fit_one_epoch(model_train, yolo_loss, optimizer, batches):
    for images, targets in batches:
        optimizer.zero_grad()
        outputs = model_train(images)
        loss_value_all = 0
        for l in range(len(outputs)):
            loss_value_all = loss_value_all + yolo_loss(l, outputs[l], targets[l])
        loss_value = loss_value_all
        # the reporter's meta-learning addition: gradients of every parameter
        grad = torch.autograd.grad(loss_value, model_train.parameters(), retain_graph=True)
        loss_value.backward()
        optimizer.step()
    return grad


torch.manual_seed(0)
model = YoloBody()
model_train = model.train()
yolo_loss = YOLOLoss()
Freeze_Train = True
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
batches = [(torch.randn(2, 3, 8, 8), [torch.randn(2, 21, 8, 8)])]

if Freeze_Train:
    for param in model.backbone.parameters():
        param.requires_grad = False

fit_one_epoch(model_train, yolo_loss, optimizer, batches)
