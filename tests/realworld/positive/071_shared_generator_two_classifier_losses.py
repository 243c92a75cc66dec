# source: https://github.com/pytorch/xla/issues/1961
# hazard: backward-twice
# cause: 37, 38
# expect: RuntimeError: Trying to backward through the graph a second time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


def map_train(index=0):
    device = torch.device('cpu')

    generator = nn.Linear(1, 10).to(device)       # dummy generator
    classifier_1 = nn.Linear(10, 1).to(device)    # dummy classifier 1
    classifier_2 = nn.Linear(10, 2).to(device)    # dummy classifier 2

    loader = torch.utils.data.DataLoader(
        list(np.arange(16, dtype=np.float32)),
        batch_size=4,
        shuffle=True,
        drop_last=True)

    params = list(generator.parameters()) + list(classifier_1.parameters()) + list(classifier_2.parameters())
    optimizer = torch.optim.SGD(params, lr=0.01)

    for step, data in enumerate(loader):
        data = data.unsqueeze(1).to(device)
        optimizer.zero_grad()
        gen = generator(data)
        out_1 = classifier_1(gen)
        out_2 = classifier_2(gen)
        loss1 = F.mse_loss(out_1, torch.zeros_like(out_1))
        loss2 = F.cross_entropy(out_2, torch.zeros(out_2.size(0), dtype=torch.long))
        loss1.backward()
        loss2.backward()
        optimizer.step()


map_train()
