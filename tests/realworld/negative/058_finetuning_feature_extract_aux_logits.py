# source: https://github.com/pytorch/tutorials/blob/main/beginner_source/finetuning_torchvision_models_tutorial.py
# hazard: none
# expect: runs
import copy

import torch
import torch.nn as nn
import torch.optim as optim

torch.manual_seed(0)


class InceptionAux(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1), 1)
        return self.fc(x)


class TinyInception(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.AuxLogits = InceptionAux(8, num_classes)
        self.mixed = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.stem(x)
        aux = self.AuxLogits(x) if self.training else None
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(self.mixed(x), 1), 1)
        x = self.fc(x)
        return (x, aux) if self.training else x


def set_parameter_requires_grad(model, feature_extracting):
    if feature_extracting:
        for param in model.parameters():
            param.requires_grad = False


def initialize_model(num_classes, feature_extract):
    model_ft = TinyInception()
    set_parameter_requires_grad(model_ft, feature_extract)
    num_ftrs = model_ft.AuxLogits.fc.in_features
    model_ft.AuxLogits.fc = nn.Linear(num_ftrs, num_classes)
    num_ftrs = model_ft.fc.in_features
    model_ft.fc = nn.Linear(num_ftrs, num_classes)
    return model_ft


def train_model(model, dataloaders, criterion, optimizer, num_epochs=2, is_inception=True):
    val_acc_history = []
    best_model_wts = copy.deepcopy(model.state_dict())
    best_acc = 0.0
    for epoch in range(num_epochs):
        for phase in ['train', 'val']:
            if phase == 'train':
                model.train()
            else:
                model.eval()
            running_loss, running_corrects = 0.0, 0
            for inputs, labels in dataloaders[phase]:
                optimizer.zero_grad()
                with torch.set_grad_enabled(phase == 'train'):
                    if is_inception and phase == 'train':
                        outputs, aux_outputs = model(inputs)
                        loss1 = criterion(outputs, labels)
                        loss2 = criterion(aux_outputs, labels)
                        loss = loss1 + 0.4 * loss2
                    else:
                        outputs = model(inputs)
                        loss = criterion(outputs, labels)
                    _, preds = torch.max(outputs, 1)
                    if phase == 'train':
                        loss.backward()
                        optimizer.step()
                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels.data)
            epoch_acc = running_corrects.double() / (len(dataloaders[phase]) * 4)
            if phase == 'val' and epoch_acc > best_acc:
                best_acc = epoch_acc
                best_model_wts = copy.deepcopy(model.state_dict())
            if phase == 'val':
                val_acc_history.append(epoch_acc)
    model.load_state_dict(best_model_wts)
    return model, val_acc_history


feature_extract = True
model_ft = initialize_model(num_classes=2, feature_extract=feature_extract)
params_to_update = model_ft.parameters()
if feature_extract:
    params_to_update = []
    for name, param in model_ft.named_parameters():
        if param.requires_grad == True:
            params_to_update.append(param)
optimizer_ft = optim.SGD(params_to_update, lr=0.001, momentum=0.9)
dataloaders = {x: [(torch.randn(4, 3, 8, 8), torch.randint(0, 2, (4,))) for _ in range(2)] for x in ['train', 'val']}
model_ft, hist = train_model(model_ft, dataloaders, nn.CrossEntropyLoss(), optimizer_ft)
print([h.item() for h in hist])
