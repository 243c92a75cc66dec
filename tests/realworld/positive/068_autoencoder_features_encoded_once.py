# source: https://devgem.io/posts/understanding-pytorch-s-runtimeerror-backward-through-the-graph-a-second-time
# hazard: backward-twice
# cause: 41, 54
# expect: RuntimeError: Trying to backward through the graph a second time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class AutoEncoder(nn.Module):
    def __init__(self, n_in=12, n_code=4):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_in, 8), nn.ReLU(), nn.Linear(8, n_code))
        self.decoder = nn.Sequential(nn.Linear(n_code, 8), nn.ReLU(), nn.Linear(8, n_in))

    def forward(self, x):
        code = self.encoder(x)
        loss = F.mse_loss(self.decoder(code), x)
        return code, loss


class Classifier(nn.Module):
    def __init__(self, n_code=4, n_classes=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_code, 16), nn.ReLU(), nn.Linear(16, n_classes))

    def forward(self, x, y):
        out = self.net(x)
        loss = F.cross_entropy(out, y)
        accuracy = (out.argmax(dim=1) == y).float().mean()
        return out, loss, accuracy


X_train_tensor = torch.randn(30, 12)
y_train_tensor = torch.randint(0, 3, (30,))

autoencoder = AutoEncoder()
autoencoder.eval()
X_train_encoded, ae_loss = autoencoder(X_train_tensor)

model = Classifier()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
max_iters = 2
batch_size = 10

for iter in range(max_iters):
    start_ix = 0
    while start_ix < len(X_train_encoded):
        end_ix = min(start_ix + batch_size, len(X_train_encoded))
        out, loss, accuracy = model(X_train_encoded[start_ix:end_ix], y_train_tensor[start_ix:end_ix])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        start_ix = end_ix + 1
