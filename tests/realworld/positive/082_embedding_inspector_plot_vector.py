# source: https://github.com/tkalayci71/embedding-inspector/issues/22
# hazard: numpy
# cause: 34
# expect: RuntimeError: Can't call numpy() on Tensor that requires grad
import torch
import torch.nn as nn

torch.manual_seed(0)


class TextEncoder(nn.Module):
    def __init__(self, vocab_size=50, dim=16):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.vocab = {f"tok{i}": i for i in range(vocab_size)}

    def tokenize(self, text):
        return [self.vocab[w] for w in text.split() if w in self.vocab]


def get_embedding_vectors(encoder, text):
    tokens = encoder.tokenize(text)
    emb_vec = encoder.token_embedding.weight[tokens]
    return tokens, emb_vec


def do_inspect(encoder, text, graph=True):
    tokens, emb_vec = get_embedding_vectors(encoder, text)
    results = [f"token {t}: norm {emb_vec[u].norm().item():.3f}" for u, t in enumerate(tokens)]
    curves = []
    if graph:
        for u in range(len(tokens)):
            x = torch.arange(emb_vec.shape[1])
            curves.append((x.numpy(), emb_vec[u].numpy()))
    return results, curves


encoder = TextEncoder()
do_inspect(encoder, "tok3 tok7 tok11")
