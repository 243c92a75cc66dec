# source: https://github.com/Hunter-DDM/knowledge-neurons/issues/14
# hazard: inplace-leaf
# cause: 60
# expect: RuntimeError: a view of a leaf Variable that requires grad is being used in an in-place operation
import torch
import torch.nn as nn


class BertOutput(nn.Module):
    def __init__(self, intermediate, hidden):
        super().__init__()
        self.dense = nn.Linear(intermediate, hidden)


class BertLayer(nn.Module):
    def __init__(self, hidden=8, intermediate=16):
        super().__init__()
        self.intermediate = nn.Linear(hidden, intermediate)
        self.output = BertOutput(intermediate, hidden)

    def forward(self, h):
        return h + self.output.dense(torch.relu(self.intermediate(h)))


class BertEncoder(nn.Module):
    def __init__(self, n_layers=2):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer() for _ in range(n_layers)])


class BertEmbeddings(nn.Module):
    def __init__(self, vocab=30, hidden=8):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = BertEmbeddings()
        self.encoder = BertEncoder()


class BertForMaskedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.bert = Bert()

    def forward(self, input_ids):
        h = self.bert.embeddings.word_embeddings(input_ids)
        for layer in self.bert.encoder.layer:
            h = layer(h)
        return h @ self.bert.embeddings.word_embeddings.weight.t()


def edit_knowledge(model, kn_bag, ori_pred_id, tgt_id, lambda_list_1, lambda_list_2):
    ori_pred_emb = model.bert.embeddings.word_embeddings.weight[ori_pred_id]
    tgt_emb = model.bert.embeddings.word_embeddings.weight[tgt_id]
    for i, (layer, pos) in enumerate(kn_bag):
        model.bert.encoder.layer[layer].output.dense.weight[:, pos] -= ori_pred_emb * lambda_list_1[i]
        model.bert.encoder.layer[layer].output.dense.weight[:, pos] += tgt_emb * lambda_list_2[i]


torch.manual_seed(0)
model = BertForMaskedLM()
kn_bag = [(0, 3), (1, 5)]
edit_knowledge(model, kn_bag, ori_pred_id=4, tgt_id=7, lambda_list_1=[1.0, 1.0], lambda_list_2=[8.0, 8.0])
logits = model(torch.tensor([[1, 2, 3]]))
