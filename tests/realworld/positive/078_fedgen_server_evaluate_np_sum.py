# source: https://github.com/zhuangdizhu/FedGen/issues/1
# hazard: numpy
# cause: 64
# expect: RuntimeError: Can't call numpy() on Tensor that requires grad
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self, n_in=10, n_classes=3):
        super().__init__()
        self.fc1 = nn.Linear(n_in, 16)
        self.fc2 = nn.Linear(16, n_classes)

    def forward(self, x):
        return {'output': F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)}


class UserAVG:
    def __init__(self, user_id, model, test_data):
        self.id = user_id
        self.model = copy.deepcopy(model)
        self.loss = nn.NLLLoss()
        self.testloaderfull = [test_data]

    def test(self):
        self.model.eval()
        test_acc = 0
        loss = 0
        for x, y in self.testloaderfull:
            output = self.model(x)['output']
            loss += self.loss(output, y)
            test_acc += (torch.sum(torch.argmax(output, dim=1) == y)).item()
        return test_acc, loss, y.shape[0]


class Server:
    def __init__(self, model, users):
        self.model = model
        self.users = users
        self.selected_users = users
        self.metrics = {'glob_acc': [], 'glob_loss': []}

    def test(self, selected=False):
        num_samples, tot_correct, losses = [], [], []
        users = self.selected_users if selected else self.users
        for c in users:
            ct, c_loss, ns = c.test()
            tot_correct.append(ct * 1.0)
            num_samples.append(ns)
            losses.append(c_loss)
        ids = [c.id for c in self.users]
        return ids, num_samples, tot_correct, losses

    def evaluate(self, save=True, selected=False):
        test_ids, test_samples, test_accs, test_losses = self.test(selected=selected)
        glob_acc = np.sum(test_accs) * 1.0 / np.sum(test_samples)
        glob_loss = np.sum([x * y for (x, y) in zip(test_samples, test_losses)]).item() / np.sum(test_samples)
        if save:
            self.metrics['glob_acc'].append(glob_acc)
            self.metrics['glob_loss'].append(glob_loss)
        print("Average Global Accurancy = {:.4f}, Loss = {:.2f}.".format(glob_acc, glob_loss))


model = Net()
users = [UserAVG(i, model, (torch.randn(5, 10), torch.randint(0, 3, (5,)))) for i in range(3)]
server = Server(model, users)
server.evaluate()
