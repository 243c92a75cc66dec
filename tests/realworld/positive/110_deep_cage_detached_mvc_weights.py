# source: https://github.com/yifita/deep_cage/issues/16
# hazard: silent-cut
# cause: 30, 45, 64
# expect: assert
import torch
import torch.nn as nn


def mean_value_coordinates(points, cage):
    # stand-in for the MVC of the repo: smooth weights of each point w.r.t. the cage vertices
    dist = torch.cdist(points, cage)
    return torch.softmax(-dist, dim=-1)


class CageDeformer(nn.Module):
    def __init__(self, n_points=6, n_cage=4):
        super().__init__()
        self.template_cage = nn.Parameter(torch.randn(1, n_cage, 3))
        self.encoder = nn.Linear(n_points * 3, 16)
        self.nc_decoder = nn.Linear(16, n_cage * 3)
        self.nd_decoder = nn.Linear(32, n_cage * 3)

    def forward(self, source_shape, target_shape):
        b, n, _ = source_shape.shape
        s_code = torch.relu(self.encoder(source_shape.reshape(b, -1)))
        t_code = torch.relu(self.encoder(target_shape.reshape(b, -1)))
        cage = self.template_cage + self.nc_decoder(s_code).view(b, -1, 3)
        new_cage = cage + self.nd_decoder(torch.cat([s_code, t_code], -1)).view(b, -1, 3)
        weights = mean_value_coordinates(source_shape, cage)
        weights = weights.detach()
        deformed = torch.bmm(weights, new_cage)
        return {"cage": cage, "new_cage": new_cage, "weight": weights, "deformed": deformed}


class AllLosses:
    def __init__(self, mvc_weight):
        self.mvc_weight = mvc_weight

    def mvc_reg_loss(self, weights):
        return weights.pow(2).sum(-1).mean()

    def __call__(self, all_outputs, target_shape):
        loss = {}
        loss["CD"] = (all_outputs["deformed"] - target_shape).pow(2).mean()
        loss["WREG"] = self.mvc_reg_loss(all_outputs["weight"]) * self.mvc_weight
        return loss


def gradients_for(mvc_weight, source, target):
    torch.manual_seed(0)
    net = CageDeformer()
    all_outputs = net(source, target)
    losses = AllLosses(mvc_weight)(all_outputs, target)
    sum(losses.values()).backward()
    return net, all_outputs, [p.grad.clone() for p in net.parameters()]


torch.manual_seed(1)
source, target = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
net, outputs, small = gradients_for(1.0, source, target)
_, _, large = gradients_for(1000.0, source, target)

# the weight regulariser never reaches the network, whatever mvc_weight is
assert not outputs["weight"].requires_grad
assert all(torch.equal(a, b) for a, b in zip(small, large))
