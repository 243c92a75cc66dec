# source: https://github.com/pytorch/pytorch/issues/6166
# hazard: non-scalar
# cause: 29, 38
# expect: RuntimeError: grad can be implicitly created only for scalar outputs
import torch
import torch.nn as nn

torch.manual_seed(0)
device = 'cuda' if torch.cuda.is_available() else 'cpu'
num_classes = 4


class FCN(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        )
        self.classifier = nn.Conv2d(8, num_classes, 1)

    def forward(self, x):
        return self.classifier(self.features(x))


model = FCN(num_classes).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
logsoftmax = nn.LogSoftmax(dim=1).to(device)
criterion = torch.nn.NLLLoss(reduce=False).to(device)

images = torch.randn(2, 3, 8, 8, device=device)
labels = torch.randint(0, num_classes, (2, 8, 8), device=device)

optimizer.zero_grad()
outputs = model(images)
outputs = logsoftmax(outputs)
loss = criterion(outputs, labels)
loss.backward()
optimizer.step()
