# source: https://github.com/anishmadan23/adversarial-attacks-pytorch/issues/1
# hazard: nonleaf-grad
# cause: 35, 45
# expect: assert
import torch
import torch.nn as nn
import torch.nn.functional as F


class Data:
    def __init__(self, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)

    def preprocess_data(self, img):
        return (img - self.mean) / self.std


def getPredictionInfo(model, img):
    output = model(img)
    op_probs = F.softmax(output, dim=1)
    pred_prob, pred = torch.max(op_probs.data, 1)
    return output, pred, op_probs, pred_prob


class FGSM:
    def __init__(self, model, criterion, orig_img, orig_label, eps):
        self.model, self.criterion = model, criterion
        self.orig_img, self.orig_label, self.epsilon = orig_img, orig_label, eps

    def attack(self):
        output, pred, op_probs, pred_prob = getPredictionInfo(self.model, self.orig_img)
        loss = self.criterion(output, self.orig_label)
        loss.backward()
        img_grad = self.orig_img.grad  # the script then takes torch.sign(img_grad.data)
        return img_grad


device = torch.device("cpu")
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
model.eval()

data = Data()
img_tsor = data.preprocess_data(torch.rand(3, 8, 8))
img_tsor.unsqueeze_(0)
img_tsor = img_tsor.to(device)
label = torch.tensor([3]).to(device)
criterion = nn.CrossEntropyLoss()

for epsilon in [0.01, 0.05]:
    model.zero_grad()
    fgsm = FGSM(model, criterion, img_tsor, label, epsilon)
    img_grad = fgsm.attack()
    assert img_grad is None
