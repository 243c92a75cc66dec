# source: https://github.com/microsoft/unilm/pull/999
# hazard: inplace-saved
# cause: 55, 83
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class SamePad(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.remove = 1 if kernel_size % 2 == 0 else 0

    def forward(self, x):
        if self.remove > 0:
            x = x[:, :, :-self.remove]
        return x


class EncoderLayer(nn.Module):
    def __init__(self, dim, ffn_dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x):
        residual = x
        x = self.fc2(F.gelu(self.fc1(x)))
        return self.final_layer_norm(residual + x)


class TransformerEncoder(nn.Module):
    def __init__(self, embedding_dim=8, conv_pos=4, conv_pos_groups=2, layers=2, dropout=0.1):
        super().__init__()
        self.dropout = dropout
        pos_conv = nn.Conv1d(embedding_dim, embedding_dim, kernel_size=conv_pos,
                             padding=conv_pos // 2, groups=conv_pos_groups)
        self.pos_conv = nn.Sequential(pos_conv, SamePad(conv_pos), nn.GELU())
        self.layers = nn.ModuleList([EncoderLayer(embedding_dim, 16) for _ in range(layers)])
        self.layer_norm = nn.LayerNorm(embedding_dim)

    def forward(self, x, padding_mask=None):
        return self.extract_features(x, padding_mask)

    def extract_features(self, x, padding_mask=None):
        if padding_mask is not None:
            x[padding_mask] = 0

        x_conv = self.pos_conv(x.transpose(1, 2))
        x_conv = x_conv.transpose(1, 2)
        x += x_conv

        x = self.layer_norm(x)
        x = F.dropout(x, p=self.dropout, training=self.training)
        for layer in self.layers:
            x = layer(x)
        return x


class BEATsLike(nn.Module):
    def __init__(self, in_dim=6, embed_dim=8):
        super().__init__()
        self.post_extract_proj = nn.Linear(in_dim, embed_dim)
        self.encoder = TransformerEncoder(embed_dim)
        self.head = nn.Linear(embed_dim, 3)

    def forward(self, features, padding_mask=None):
        x = self.post_extract_proj(features)
        x = self.encoder(x, padding_mask=padding_mask)
        return self.head(x.mean(1))


model = BEATsLike()
features = torch.randn(2, 5, 6)
padding_mask = torch.zeros(2, 5, dtype=torch.bool)
padding_mask[1, 3:] = True
logits = model(features, padding_mask)
loss = F.cross_entropy(logits, torch.tensor([0, 2]))
loss.backward()
