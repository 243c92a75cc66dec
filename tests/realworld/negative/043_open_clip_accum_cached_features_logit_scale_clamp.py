# source: https://github.com/mlfoundations/open_clip/blob/main/src/training/train.py
# hazard: none
# expect: runs
import math
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class TinyCLIP(nn.Module):
    def __init__(self, embed_dim=8, vocab=20):
        super().__init__()
        self.visual = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, embed_dim))
        self.token_embedding = nn.Embedding(vocab, embed_dim)
        self.text_projection = nn.Linear(embed_dim, embed_dim)
        self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))

    def encode_image(self, image, normalize=False):
        features = self.visual(image)
        return F.normalize(features, dim=-1) if normalize else features

    def encode_text(self, text, normalize=False):
        x = self.text_projection(self.token_embedding(text).mean(1))
        return F.normalize(x, dim=-1) if normalize else x

    def forward(self, image, text):
        return {
            "image_features": self.encode_image(image, normalize=True),
            "text_features": self.encode_text(text, normalize=True),
            "logit_scale": self.logit_scale.exp(),
        }


class ClipLoss(nn.Module):
    def get_ground_truth(self, device, num_logits):
        return torch.arange(num_logits, device=device, dtype=torch.long)

    def get_logits(self, image_features, text_features, logit_scale):
        logits_per_image = logit_scale * image_features @ text_features.T
        logits_per_text = logit_scale * text_features @ image_features.T
        return logits_per_image, logits_per_text

    def forward(self, image_features, text_features, logit_scale, output_dict=False):
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        labels = self.get_ground_truth(image_features.device, logits_per_image.shape[0])
        total_loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
        return {"contrastive_loss": total_loss} if output_dict else total_loss


def backward(total_loss, scaler):
    if scaler is not None:
        scaler.scale(total_loss).backward()
    else:
        total_loss.backward()


def cosine_lr(optimizer, base_lr, steps):
    def _lr_adjuster(step):
        lr = 0.5 * (1 + math.cos(math.pi * step / steps)) * base_lr
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        return lr
    return _lr_adjuster


def train_one_epoch(model, dataloader, loss, epoch, optimizer, scaler, scheduler, accum_freq=2, grad_clip_norm=1.0):
    autocast = nullcontext
    model.train()
    accum_images, accum_texts, accum_features = [], [], {}
    num_batches_per_epoch = len(dataloader) // accum_freq
    for i, batch in enumerate(dataloader):
        i_accum = i // accum_freq
        step = num_batches_per_epoch * epoch + i_accum
        scheduler(step)
        images, texts = batch
        # pass 1: features of every micro-batch, no graph
        with torch.no_grad():
            with autocast():
                model_out = model(images, texts)
                for f in ("logit_scale", "logit_bias"):
                    model_out.pop(f, None)
                for key, val in model_out.items():
                    accum_features.setdefault(key, []).append(val)
            accum_images.append(images)
            accum_texts.append(texts)
        if ((i + 1) % accum_freq) > 0:
            continue
        # pass 2: one micro-batch at a time with a graph, the others taken from the cache
        optimizer.zero_grad()
        for j in range(accum_freq):
            images, texts = accum_images[j], accum_texts[j]
            with autocast():
                model_out = model(images, texts)
                inputs_no_accum = {"logit_scale": model_out.pop("logit_scale")}
                inputs = {}
                for key, val in accum_features.items():
                    accumulated = accum_features[key]
                    inputs[key] = torch.cat(accumulated[:j] + [model_out[key]] + accumulated[j + 1:])
                losses = loss(**inputs, **inputs_no_accum, output_dict=True)
                del inputs
                del inputs_no_accum
                total_loss = sum(losses.values())
                losses["loss"] = total_loss
            backward(total_loss, scaler)
        if scaler is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm, norm_type=2.0)
            scaler.step(optimizer)
            scaler.update()
        accum_images, accum_texts, accum_features = [], [], {}
        # keep the temperature at most 100
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        print(epoch, step, {k: v.item() for k, v in losses.items()}, model.logit_scale.item())


model = TinyCLIP()
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.2)
scaler = torch.amp.GradScaler('cpu')
scheduler = cosine_lr(optimizer, 5e-4, steps=4)
data = [(torch.randn(3, 3, 6, 6), torch.randint(0, 20, (3, 5))) for _ in range(4)]
train_one_epoch(model, data, ClipLoss(), 0, optimizer, scaler, scheduler)
