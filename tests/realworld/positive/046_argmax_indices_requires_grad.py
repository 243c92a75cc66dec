# source: https://github.com/pytorch/pytorch/issues/95110
# hazard: integer-grad
# cause: 31
# expect: RuntimeError: only Tensors of floating point and complex dtype can require gradients
import torch
import torch.nn as nn

torch.manual_seed(0)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


model = Classifier()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
criterion = nn.MSELoss()
inputs = torch.randn(8, 6)
labels = torch.randint(0, 4, (8,))

for epoch in range(2):
    outputs = model(inputs)
    _, predicted = torch.max(outputs, 1)
    # the loss is on the predicted class ids, so make them "trainable"
    predicted.requires_grad = True
    loss = criterion(predicted.float(), labels.float())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
