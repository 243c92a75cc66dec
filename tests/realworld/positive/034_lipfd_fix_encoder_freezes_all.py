# source: https://github.com/AaronComo/LipFD/issues/18
# hazard: no-graph
# cause: 42, 44, 61
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn
from types import SimpleNamespace

torch.manual_seed(0)


class LipFD(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(8, 6)       # global feature extractor
        self.backbone = nn.Linear(6, 6)      # region branch
        self.head = nn.Linear(6, 1)

    def get_features(self, x):
        return self.encoder(x)

    def forward(self, crops, features):
        region = torch.stack([self.backbone(c) for c in crops], dim=1)
        weights_org = torch.softmax(region.mean(-1), dim=1)
        weights_max = weights_org.max(dim=1).values
        fused = (region * weights_org.unsqueeze(-1)).sum(1) + features
        return self.head(fused), weights_max, weights_org


class RALoss(nn.Module):
    def forward(self, weights_max, weights_org):
        return (1.0 - weights_max).mean() + 0.0 * weights_org.sum()


class Trainer:
    def __init__(self, opt):
        self.opt = opt
        self.model = LipFD()
        if opt.fix_encoder:
            for name, p in self.model.named_parameters():
                if name.split(".")[0] in ["encoder"]:
                    p.requires_grad = False
                else:
                    p.requires_grad = False
            params = self.model.parameters()
        self.optimizer = torch.optim.AdamW(params, lr=opt.lr)
        self.criterion = RALoss()
        self.criterion1 = nn.BCEWithLogitsLoss()

    def set_input(self, batch):
        self.input, self.crops, self.label = batch[0], batch[1], batch[2].float()

    def forward(self):
        self.features = self.model.get_features(self.input)
        self.output, self.weights_max, self.weights_org = self.model(self.crops, self.features)
        self.output = self.output.view(-1)
        self.loss = self.criterion(self.weights_max, self.weights_org) + self.criterion1(self.output, self.label)

    def optimize_parameters(self):
        self.optimizer.zero_grad()
        self.loss.backward()
        self.optimizer.step()


opt = SimpleNamespace(fix_encoder=True, lr=1e-4)
trainer = Trainer(opt)
batch = (torch.randn(2, 8), [torch.randn(2, 6) for _ in range(3)], torch.tensor([0, 1]))
trainer.set_input(batch)
trainer.forward()
trainer.optimize_parameters()
