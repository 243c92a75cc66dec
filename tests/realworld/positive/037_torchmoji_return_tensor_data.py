# source: https://github.com/huggingface/torchMoji/issues/21
# hazard: no-graph
# cause: 31, 42
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn

torch.manual_seed(0)


class TorchMoji(nn.Module):
    def __init__(self, nb_classes=2, nb_tokens=20, embed_dim=8, hidden_size=8):
        super().__init__()
        self.embed = nn.Embedding(nb_tokens, embed_dim)
        self.lstm_0 = nn.LSTM(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.attention = nn.Linear(2 * hidden_size + embed_dim, 1)
        self.output_layer = nn.Sequential(nn.Linear(2 * hidden_size + embed_dim, nb_classes), nn.Softmax(dim=1))

    def forward(self, input_seqs):
        # inputs given as a LongTensor are answered with a plain tensor
        return_tensor = False
        if isinstance(input_seqs, torch.LongTensor):
            return_tensor = True
        x = torch.tanh(self.embed(input_seqs))
        lstm_out, _ = self.lstm_0(x)
        feats = torch.cat((lstm_out, x), dim=2)
        att = torch.softmax(self.attention(feats).squeeze(-1), dim=1)
        pooled = (feats * att.unsqueeze(-1)).sum(1)
        outputs = self.output_layer(pooled)
        if return_tensor:
            outputs = outputs.data
        return outputs


def fit_model(model, loss_op, optim_op, train_batches, epochs=1):
    model.train()
    for epoch in range(epochs):
        for X_train, y_train in train_batches:
            model.zero_grad()
            output = model(X_train)
            loss = loss_op(output, y_train)
            loss.backward()
            optim_op.step()


model = TorchMoji()
loss_op = nn.BCELoss()
optim_op = torch.optim.Adam(model.parameters(), lr=1e-3)
batches = [(torch.randint(1, 20, (3, 5)), torch.eye(2)[torch.tensor([0, 1, 1])])]
fit_model(model, loss_op, optim_op, batches)
