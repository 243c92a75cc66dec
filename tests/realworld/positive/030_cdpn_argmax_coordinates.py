# source: https://github.com/LZGMatrix/BOP19_CDPN_2019ICCV/issues/4
# hazard: no-graph
# cause: 40, 42, 47
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
COOR_BIN = 8


class RotationHead(nn.Module):
    """Classifies every pixel's x, y and z coordinate into COOR_BIN bins (+1 background bin)."""

    def __init__(self, in_ch=4, bins=COOR_BIN):
        super().__init__()
        self.bins = bins
        self.features = nn.Conv2d(in_ch, 8, 3, padding=1)
        self.coor = nn.Conv2d(8, 3 * (bins + 1), 1)

    def forward(self, x):
        out = self.coor(F.relu(self.features(x)))
        b = self.bins + 1
        return out[:, :b], out[:, b:2 * b], out[:, 2 * b:]


model = RotationHead()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.L1Loss()
image = torch.randn(1, 4, 6, 6)
gt_coor = torch.rand(6, 6, 3) * 2 - 1

for step in range(2):
    output_coor_x_, output_coor_y_, output_coor_z_ = model(image)
    output_coor_x_ = output_coor_x_.squeeze()
    output_coor_y_ = output_coor_y_.squeeze()
    output_coor_z_ = output_coor_z_.squeeze()
    # decoding copied from the test script: bin index per pixel, mapped back to [-1, 1]
    output_coor_ = torch.stack([torch.argmax(output_coor_x_, dim=0),
                                torch.argmax(output_coor_y_, dim=0),
                                torch.argmax(output_coor_z_, dim=0)], dim=2)
    output_coor_[output_coor_ == COOR_BIN] = 0
    output_coor_ = 2.0 * output_coor_.float() / (COOR_BIN - 1.0) - 1.0
    loss = criterion(output_coor_, gt_coor)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
