# source: https://github.com/jiasenlu/NeuralBabyTalk/issues/26
# hazard: integer-grad
# cause: 31
# expect: RuntimeError: Only Tensors of floating point and complex dtype can require gradients
import torch
import torch.nn as nn
from torch.nn import Parameter


class Options:
    def __init__(self, vocab_size, fg_ids, rnn_size=8):
        self.rnn_size = rnn_size
        self.vocab_size = vocab_size
        self.fg_mask = build_fg_mask(vocab_size, fg_ids)


def build_fg_mask(vocab_size, fg_ids):
    """Which words of the vocabulary have fine-grained classes."""
    mask = torch.zeros(vocab_size, dtype=torch.uint8)
    for word in fg_ids:
        mask[word] = 1
    return mask


class CascadeCore(nn.Module):
    def __init__(self, opt):
        super().__init__()
        self.rnn_size = opt.rnn_size
        self.fg_size = opt.vocab_size
        self.fg_out = nn.Linear(self.rnn_size, self.fg_size)
        self.fg_mask = Parameter(opt.fg_mask)

    def forward(self, h):
        scores = self.fg_out(h)
        return scores.masked_fill(self.fg_mask == 0, float("-inf")).log_softmax(dim=-1)


class TopDownModel(nn.Module):
    def __init__(self, opt):
        super().__init__()
        self.core = nn.LSTMCell(opt.rnn_size, opt.rnn_size)
        self.ccr_core = CascadeCore(opt)

    def forward(self, x, state):
        h, c = self.core(x, state)
        return self.ccr_core(h), (h, c)


opt = Options(vocab_size=6, fg_ids=[1, 3, 4])
model = TopDownModel(opt)
x = torch.randn(2, opt.rnn_size)
state = (torch.zeros(2, opt.rnn_size), torch.zeros(2, opt.rnn_size))
logprobs, state = model(x, state)
logprobs[:, 1].sum().backward()
