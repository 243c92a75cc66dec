"""A training script whose hazards live in the modules it imports.

Run `python train.py` from this folder: the safe step runs; pass `--hazards` to
also run the steps that fail inside the imported helpers.
"""

import sys

import torch

from helpers import features, scale, normalize_
from models import Net
from pkg import Net as PkgNet


def safe_step(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = ((scale(model(x)) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def detached_step(model, x):
    # features() detaches: "element 0 of tensors does not require grad".
    loss = features(model(x)).sum()
    loss.backward()


def in_place_step(model, x):
    # normalize_() subtracts in place from sigmoid's output, which sigmoid saved for backward.
    out = normalize_(model(x))
    out.sum().backward()


def main(argv):
    torch.manual_seed(0)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    model = Net()
    other = PkgNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    print("safe step loss", safe_step(model, optimizer, x, y))
    print("other model output", tuple(other(x).shape))
    if "--hazards" in argv:
        for step in (detached_step, in_place_step):
            try:
                step(model, x)
            except RuntimeError as error:
                print(f"{step.__name__}: {error}")


if __name__ == "__main__":
    main(sys.argv[1:])
