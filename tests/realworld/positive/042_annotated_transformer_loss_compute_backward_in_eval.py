# source: https://github.com/harvardnlp/annotated-transformer/issues/14
# hazard: no-graph
# cause: 31, 57
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn

torch.manual_seed(0)


class Generator(nn.Module):
    def __init__(self, d_model, vocab):
        super().__init__()
        self.proj = nn.Linear(d_model, vocab)

    def forward(self, x):
        return torch.log_softmax(self.proj(x), dim=-1)


class SimpleLossCompute:
    "A simple loss compute and train function."

    def __init__(self, generator, criterion, opt=None):
        self.generator = generator
        self.criterion = criterion
        self.opt = opt

    def __call__(self, x, y, norm):
        x = self.generator(x)
        loss = self.criterion(x.contiguous().view(-1, x.size(-1)), y.contiguous().view(-1)) / norm
        loss.backward()
        if self.opt is not None:
            self.opt.step()
            self.opt.zero_grad()
        return loss.item() * norm


def run_epoch(data_iter, model, loss_compute):
    total_loss = 0
    for src, tgt in data_iter:
        out = model(src)
        total_loss += loss_compute(out, tgt, tgt.numel())
    return total_loss


encoder = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
generator = Generator(8, 5)
criterion = nn.NLLLoss(reduction="sum")
opt = torch.optim.Adam(list(encoder.parameters()) + list(generator.parameters()), lr=1e-3)
train_data = [(torch.randn(2, 3, 6), torch.randint(0, 5, (2, 3)))]
val_data = [(torch.randn(2, 3, 6), torch.randint(0, 5, (2, 3)))]

encoder.train()
run_epoch(train_data, encoder, SimpleLossCompute(generator, criterion, opt))
# validation, wrapped in no_grad as recommended in the thread
encoder.eval()
with torch.no_grad():
    test_loss = run_epoch(val_data, encoder, SimpleLossCompute(generator, criterion, None))
