# source: https://github.com/XiaMooo/Yolo-Detect-Layer-Visualization/issues/1
# hazard: numpy
# cause: 54
# expect: RuntimeError: Can't call numpy() on Tensor that requires grad
import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)


class Detect(nn.Module):
    """Multi-scale detection head: one 1x1 conv per feature level, (x, y, w, h, obj, cls...) per anchor."""

    def __init__(self, nc=2, na=1, ch=(8, 16)):
        super().__init__()
        self.no = nc + 5
        self.na = na
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)

    def forward(self, xs):
        out = []
        for i, x in enumerate(xs):
            y = self.m[i](x)
            bs, _, ny, nx = y.shape
            out.append(y.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous())
        return out


class TinyYolo(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.SiLU())
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.SiLU())
        self.detect = Detect()

    def forward(self, img):
        p3 = self.stem(img)
        p4 = self.down(p3)
        return self.detect([p3, p4])


def plot_multi_heatmap(*arrays, cmap='viridis', title=None, row=None, col=None):
    n = len(arrays)
    if row is None and col is None:
        row, col = 1, n
    elif row is None:
        row = (n + col - 1) // col
    elif col is None:
        col = (n + row - 1) // row
    panels = []
    for i, array in enumerate(arrays):
        if isinstance(array, torch.Tensor):
            array = array.cpu().numpy()
        r = i // col
        c = i % col
        panels.append(((r, c), (array - array.min()) / (np.ptp(array) + 1e-9)))
    return panels


model = TinyYolo()
img = torch.rand(1, 3, 32, 32)
preds = model(img)
objectness = [torch.sigmoid(p[0, 0, :, :, 4]) for p in preds]
plot_multi_heatmap(*objectness, title='objectness', row=1)
