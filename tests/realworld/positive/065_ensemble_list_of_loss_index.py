# source: https://discuss.pytorch.org/t/loss-error-when-using-a-list-for-ensemble-of-network/120497/6
# hazard: backward-twice
# cause: 52, 55
# expect: RuntimeError: Trying to backward through the graph a second time
import torch
import torch.nn as nn

torch.manual_seed(0)
device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

input_size = 16
hidden_size = 8
num_classes = 3
learning_rate = 1e-3
num_epochs = 1


class TestNet(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes):
        super(TestNet, self).__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


train_loader = [(torch.randn(4, 4, 4), torch.randint(0, num_classes, (4,))) for _ in range(3)]

num_model = 3
list_of_model = []
list_of_cri = []
list_of_opt = []
for _ in range(num_model):
    tem_model = TestNet(input_size, hidden_size, num_classes).to(device)
    tem_cri = nn.CrossEntropyLoss()
    list_of_model.append(tem_model)
    list_of_cri.append(tem_cri)
for i in range(num_model):
    list_of_opt.append(torch.optim.Adam(list_of_model[i].parameters(), lr=learning_rate))

list_of_loss = []
for epoch in range(num_epochs):
    for j, (images, labels) in enumerate(train_loader):
        for i in range(num_model):
            images = images.reshape(-1, input_size).to(device)
            labels = labels.to(device)

            output = list_of_model[i](images)
            loss = list_of_cri[i](output, labels)
            list_of_loss.append(loss)

            list_of_opt[i].zero_grad()
            list_of_loss[i].backward()
            list_of_opt[i].step()
