"""A small regression training script with the autograd hazards gradwatch finds.

Run `gradwatch check examples/` to see them; each finding explains what torch
will do and which line causes it. `gradwatch check --fix --unsafe-fixes` repairs
what can be repaired mechanically.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualMLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x):
        identity = x
        out = F.relu(self.fc1(x))
        # relu saved its output for backward; adding in place breaks it (GW201).
        out += identity
        return self.fc2(out)


def make_data(n: int = 64, width: int = 8):
    inputs = torch.randn(n, width)
    targets = inputs.sum(dim=1, keepdim=True)
    return inputs, targets


model = ResidualMLP(8)
head = nn.Linear(8, 1)
optimizer = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=0.01)
inputs, targets = make_data()

for epoch in range(3):
    optimizer.zero_grad()
    features = model(inputs)
    # Detaching here cuts the model off from every loss: it never trains (GW102).
    frozen = features.detach()
    prediction = head(frozen).sigmoid()
    loss = F.mse_loss(prediction, targets)
    loss.backward()
    optimizer.step()

# A hand-made linear fit.
x = torch.randn(10, requires_grad=True)
w = torch.randn(10)
y = x * 2
# Legal (nothing saved y), but fragile: a hint offers `y = y + x` (GW203).
y.add_(x)
loss = (y * w).sum()
loss.backward()
# w was created without requires_grad=True: its .grad is always None (GW104).
print(w.grad)

scores = torch.randn(10, requires_grad=True)
probabilities = scores.sigmoid()
# sigmoid saved its output; this in-place clamp breaks its backward (GW201).
probabilities.clamp_(min=1e-6)
probabilities.log().sum().backward()
