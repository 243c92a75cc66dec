# source: https://github.com/JDAI-CV/LIO/issues/9
# hazard: inplace-saved
# cause: 43, 88
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)
device = 'cuda' if torch.cuda.is_available() else 'cpu'


class RelativeCoordPredictor(nn.Module):
    def __init__(self, in_dim, size=7):
        super().__init__()
        self.in_dim = in_dim
        self.size = size
        self.predictor = nn.Sequential(
            nn.Linear(2 * in_dim, 2),
            nn.ReLU(),
        )
        self.basic_label = torch.from_numpy(self.build_basic_label(size)).float()
        self.dist_loss_f = nn.MSELoss(reduction='none')

    def forward(self, x, mask):
        N, C, H, W = x.shape
        reduced_x = x.view(N, C, H * W).transpose(1, 2).contiguous()  # (N, S, C)

        mask = mask.view(N, H * W)
        thresholds = torch.mean(mask, dim=1, keepdim=True)
        binary_mask = (mask > thresholds).float().view(N, H, W)
        masked_x = x * binary_mask.view(N, 1, H, W)
        masked_x = masked_x.view(N, C, H * W).transpose(1, 2).contiguous()
        _, reduced_x_max_index = torch.max(torch.mean(masked_x, dim=-1), dim=-1)

        basic_index = torch.arange(N, device=x.device)
        max_features = reduced_x[basic_index, reduced_x_max_index, :]  # (N, C)
        max_features_to_concat = max_features.unsqueeze(1).expand((N, H * W, C))
        discriminative_feature = torch.cat((max_features_to_concat, reduced_x), dim=-1)
        discriminative_feature = discriminative_feature.view(N * H * W, 2 * C)
        preds_coord = self.predictor(discriminative_feature)  # (N*H*W, 2)
        preds_coord = preds_coord.view(N, H * W, 2)
        preds_coord[basic_index, reduced_x_max_index, :] = 0.
        preds_coord = preds_coord.view(N, H, W, 2)

        # build label
        label = self.basic_label.to(x.device)
        label = label.unsqueeze(0).expand((N, H, W, 2)).reshape(N, H * W, 2)
        basic_anchor = label[basic_index, reduced_x_max_index, :].unsqueeze(1)
        relative_coord = (label - basic_anchor) / self.size
        relative_dist = torch.sqrt(torch.sum(relative_coord ** 2, dim=-1))
        relative_angle = torch.atan2(relative_coord[:, :, 1], relative_coord[:, :, 0])
        relative_angle = (relative_angle / np.pi + 1) / 2

        # calc loss
        preds_dist, preds_angle = preds_coord[:, :, :, 0], preds_coord[:, :, :, 1]
        dist_loss = self.dist_loss_f(preds_dist.view(N, H, W), relative_dist.view(N, H, W))
        preds_angle = preds_angle.reshape(N, H * W)
        gap_angle = preds_angle - relative_angle
        gap_angle[gap_angle < 0] += 1
        gap_angle = gap_angle - torch.mean(gap_angle, dim=-1, keepdim=True)
        angle_loss = torch.pow(gap_angle.view(N, H, W), 2)
        return dist_loss + angle_loss

    def build_basic_label(self, size):
        return np.array([[(i, j) for j in range(size)] for i in range(size)])


class SCLModule(nn.Module):
    def __init__(self, size, feature_dim, structure_dim):
        super().__init__()
        self.strutureg = nn.Sequential(nn.ReLU(), nn.Conv2d(feature_dim, structure_dim, 1, 1), nn.ReLU())
        self.coord_predictor = RelativeCoordPredictor(in_dim=structure_dim, size=size)
        self.maskg = nn.Sequential(nn.ReLU(), nn.Conv2d(feature_dim, 1, 1, 1))

    def forward(self, feature):
        mask = self.maskg(feature)
        N, _, H, W = mask.shape
        mask = mask.view(N, H, W)
        structure_map = self.strutureg(feature)
        coord_loss = self.coord_predictor(structure_map, mask)
        return feature, mask, coord_loss


scl = SCLModule(size=4, feature_dim=6, structure_dim=5).to(device)
feature = torch.randn(2, 6, 4, 4, device=device)
_, _, coord_loss = scl(feature)
coord_loss.mean().backward()
