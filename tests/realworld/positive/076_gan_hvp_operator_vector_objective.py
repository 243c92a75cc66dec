# source: https://github.com/Animadversio/GAN-Geometry/issues/4
# hazard: non-scalar
# cause: 49, 50
# expect: RuntimeError: grad can be implicitly created only for scalar outputs
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class TinyGAN(nn.Module):
    def __init__(self, code_dim=8):
        super().__init__()
        self.G = nn.Sequential(nn.Linear(code_dim, 3 * 8 * 8), nn.Tanh())

    def visualize(self, code):
        img = self.G(code).view(-1, 3, 8, 8)
        return (img + 1.0) / 2.0


class UnitObjective:
    """Activation of one unit of a feature net, per image (or summed when scaler=True)."""

    def __init__(self, net, unit):
        self.net = net
        self.unit = unit

    def __call__(self, img, scaler=False):
        act = self.net(img)[:, self.unit]
        return act.sum() if scaler else act


class GANForwardHVPOperator:
    def __init__(self, model, code, objective, preprocess=lambda img: img, EPS=1e-2):
        self.model = model
        self.objective = objective
        self.preprocess = preprocess
        self.code = code.detach().clone()
        self.EPS = EPS

    def apply(self, vec, EPS=None):
        EPS = self.EPS if EPS is None else EPS
        vecnorm = vec.norm()
        perturb_vecs = self.code + EPS * torch.stack([vec, -vec]) / vecnorm
        perturb_vecs.requires_grad_(True)
        img = self.model.visualize(perturb_vecs)
        resz_img = self.preprocess(img)
        activs = self.objective(resz_img)
        ftgrad_both = torch.autograd.grad(activs, perturb_vecs, retain_graph=False, create_graph=False, only_inputs=True)[0]
        hvp = (ftgrad_both[0, :] - ftgrad_both[1, :]) / (2 * EPS)
        return hvp * vecnorm


gan = TinyGAN()
feature_net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
objective = UnitObjective(feature_net, unit=2)
code = torch.randn(8)
operator = GANForwardHVPOperator(gan, code, objective,
                                 preprocess=lambda img: F.interpolate(img, size=(12, 12), mode='bilinear', align_corners=False))
hvp = operator.apply(torch.randn(8))
