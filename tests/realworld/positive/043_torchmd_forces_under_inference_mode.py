# source: https://github.com/torchmd/torchmd-net/issues/211
# hazard: no-graph
# cause: 26, 49
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn
from torch.autograd import grad

torch.manual_seed(0)


class TorchMD_Net(nn.Module):
    """Energy model that returns forces as the negative gradient of the energy."""

    def __init__(self, derivative=True):
        super().__init__()
        self.representation = nn.Sequential(nn.Linear(3, 8), nn.SiLU(), nn.Linear(8, 1))
        self.derivative = derivative

    def forward(self, z, pos, batch):
        if self.derivative:
            pos.requires_grad_(True)
        energy = self.representation(pos).sum().reshape(1, 1)
        if self.derivative:
            grad_outputs = [torch.ones_like(energy)]
            dy = grad([energy], [pos], grad_outputs=grad_outputs,
                      create_graph=self.training, retain_graph=self.training)[0]
            return energy, -dy
        return energy, None


class LNNP(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = TorchMD_Net(derivative=True)

    def step(self, batch, stage):
        with torch.set_grad_enabled(stage == "train" or self.model.derivative):
            pred, deriv = self.model(batch["z"], batch["pos"], batch["batch"])
        return ((deriv - batch["neg_dy"]) ** 2).mean()

    def validation_step(self, batch):
        return self.step(batch, "val")


def run_validation(module, batches):
    """The evaluation loop of the trainer: Lightning enters inference mode by default."""
    module.eval()
    with torch.inference_mode():
        return [module.validation_step(b) for b in batches]


module = LNNP()
batch = {"z": torch.tensor([1, 6, 8]), "pos": torch.randn(3, 3),
         "batch": torch.zeros(3, dtype=torch.long), "neg_dy": torch.randn(3, 3)}
run_validation(module, [batch])
