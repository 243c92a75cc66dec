# source: https://github.com/mindee/doctr/pull/379
# hazard: non-scalar
# cause: 49, 59
# expect: RuntimeError: grad can be implicitly created only for scalar outputs
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
VOCAB = "abcdefgh"


class MASTER(nn.Module):
    """Text recogniser: image features -> per-position character logits (vocab + EOS)."""

    def __init__(self, vocab=VOCAB, max_length=6, d_model=16):
        super().__init__()
        self.vocab = vocab
        self.max_length = max_length
        self.feat_extractor = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((1, max_length + 1)))
        self.proj = nn.Linear(4, d_model)
        self.linear = nn.Linear(d_model, len(vocab) + 1)

    def build_target(self, words):
        eos = len(self.vocab)
        gt = torch.full((len(words), self.max_length + 1), eos, dtype=torch.long)
        for i, w in enumerate(words):
            gt[i, :len(w)] = torch.tensor([self.vocab.index(c) for c in w])
        seq_len = torch.tensor([len(w) for w in words])
        return gt, seq_len

    def forward(self, x, target=None):
        feat = self.feat_extractor(x).squeeze(2).permute(0, 2, 1)
        logits = self.linear(torch.relu(self.proj(feat)))
        out = {"out_map": logits}
        if target is not None:
            gt, seq_len = self.build_target(target)
            out["loss"] = self.compute_loss(logits, gt, seq_len)
        return out

    @staticmethod
    def compute_loss(model_output, gt, seq_len):
        input_len = model_output.shape[1]
        seq_len = seq_len + 1  # include the EOS symbol
        cce = F.cross_entropy(model_output.permute(0, 2, 1), gt, reduction="none")
        mask_2d = torch.arange(input_len)[None, :] >= seq_len[:, None]
        cce[mask_2d] = 0
        ce_loss = cce.sum(1) / seq_len.to(dtype=torch.float32)
        return ce_loss.unsqueeze(1)


model = MASTER()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
images = torch.rand(3, 1, 8, 24)
targets = ["bad", "cafe", "head"]

optimizer.zero_grad()
train_loss = model(images, targets)["loss"]
train_loss.backward()
optimizer.step()
