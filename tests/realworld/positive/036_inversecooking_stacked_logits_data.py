# source: https://github.com/facebookresearch/inversecooking/issues/3
# hazard: no-graph
# cause: 31, 56
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class DecoderTransformer(nn.Module):
    def __init__(self, embed_size=8, vocab_size=6):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab_size, embed_size)
        self.layer = nn.GRUCell(embed_size, embed_size)
        self.linear = nn.Linear(embed_size, vocab_size)

    def sample(self, features, max_len=4, start=0):
        """Greedy decoding that also returns the logits of every step."""
        h = features
        token = torch.full((features.size(0),), start, dtype=torch.long)
        logits, sampled_ids = [], []
        for i in range(max_len):
            h = self.layer(self.embed_tokens(token), h)
            step_logits = self.linear(h)
            logits.append(step_logits)
            token = step_logits.argmax(-1)
            sampled_ids.append(token)
        sampled_ids = torch.stack(sampled_ids, 1)
        logits = torch.stack(logits, 1).data
        return sampled_ids, logits


class InverseCookingModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.image_encoder = nn.Linear(10, 8)
        self.ingredient_decoder = DecoderTransformer()

    def forward(self, img_inputs, target_ingrs):
        img_features = self.image_encoder(img_inputs)
        _, ingr_logits = self.ingredient_decoder.sample(img_features)
        # multi-label ingredient loss on the max over decoding steps
        ingr_probs = torch.sigmoid(ingr_logits).max(1)[0]
        return {"ingr_loss": F.binary_cross_entropy(ingr_probs, target_ingrs)}


model = InverseCookingModel()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
img = torch.randn(2, 10)
target = torch.randint(0, 2, (2, 6)).float()
losses = model(img, target)
loss = losses["ingr_loss"].mean()
optimizer.zero_grad()
loss.backward()
optimizer.step()
