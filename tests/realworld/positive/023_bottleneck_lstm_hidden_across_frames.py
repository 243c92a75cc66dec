# source: https://github.com/vikrant7/mobile-vod-bottleneck-lstm/issues/25
# hazard: inplace-saved
# cause: 80, 81
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch
import torch.nn as nn

torch.manual_seed(0)


class BottleneckLSTMCell(nn.Module):
    def __init__(self, input_channels, hidden_channels):
        super(BottleneckLSTMCell, self).__init__()
        self.hidden_channels = hidden_channels
        self.W = nn.Conv2d(input_channels, input_channels, 3, groups=input_channels, padding=1)
        self.Wy = nn.Conv2d(input_channels + hidden_channels, hidden_channels, 1)
        self.Wi = nn.Conv2d(hidden_channels, hidden_channels, 3, 1, 1, groups=hidden_channels, bias=False)
        self.Wbi = nn.Conv2d(hidden_channels, hidden_channels, 1, bias=False)
        self.Wbf = nn.Conv2d(hidden_channels, hidden_channels, 1, bias=False)
        self.Wbc = nn.Conv2d(hidden_channels, hidden_channels, 1, bias=False)
        self.Wbo = nn.Conv2d(hidden_channels, hidden_channels, 1, bias=False)
        self.relu = nn.ReLU6()

    def forward(self, x, h, c):
        x = self.W(x)
        i = self.Wy(torch.cat((x, h), 1))
        b = self.Wi(i)
        ci = torch.sigmoid(self.Wbi(b))
        cf = torch.sigmoid(self.Wbf(b))
        cc = cf * c + ci * self.relu(self.Wbc(b))
        co = torch.sigmoid(self.Wbo(b))
        ch = co * self.relu(cc)
        return ch, cc

    def init_hidden(self, batch_size, hidden, shape):
        return (torch.zeros(batch_size, hidden, shape[0], shape[1]),
                torch.zeros(batch_size, hidden, shape[0], shape[1]))


class BottleneckLSTM(nn.Module):
    def __init__(self, input_channels, hidden_channels, height, width, batch_size):
        super(BottleneckLSTM, self).__init__()
        self.cell = BottleneckLSTMCell(input_channels, hidden_channels)
        self.hidden_state, self.cell_state = self.cell.init_hidden(batch_size, hidden_channels, (height, width))

    def forward(self, input):
        new_h, new_c = self.cell(input, self.hidden_state, self.cell_state)
        self.hidden_state = new_h
        self.cell_state = new_c
        return self.hidden_state


class MobileVOD(nn.Module):
    def __init__(self, channels=4, size=6, batch_size=1, num_classes=3):
        super(MobileVOD, self).__init__()
        self.pred_encoder = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU())
        self.bottleneck_lstm1 = BottleneckLSTM(channels, channels, size, size, batch_size)
        self.head = nn.Conv2d(channels, num_classes, 1)

    def forward(self, seq):
        x = self.pred_encoder(seq)
        x = self.bottleneck_lstm1(x)
        return self.head(x)

    def detach_hidden(self):
        self.bottleneck_lstm1.hidden_state.detach_()
        self.bottleneck_lstm1.cell_state.detach_()


net = MobileVOD()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.RMSprop(net.parameters(), lr=1e-3, momentum=0.9)

loader = [(torch.randn(3, 1, 3, 6, 6), torch.randint(0, 3, (3, 1, 6, 6)))]
for i, (images, labels) in enumerate(loader):
    for image, label in zip(images, labels):
        optimizer.zero_grad()
        confidence = net(image)
        loss = criterion(confidence, label)
        loss.backward(retain_graph=True)
        optimizer.step()
    net.detach_hidden()
