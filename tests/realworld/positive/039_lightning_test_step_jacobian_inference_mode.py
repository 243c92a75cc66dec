# source: https://github.com/Lightning-AI/pytorch-lightning/issues/19910
# hazard: no-graph
# cause: 23, 44
# expect: RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
import torch
import torch.nn as nn


class JacobianModule(nn.Module):
    """A LightningModule-like class whose steps need a Jacobian."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(5, 5)

    def jacobian_check(self):
        with torch.enable_grad():
            N = 5
            f = lambda x: x ** 2
            x = torch.randn(N, requires_grad=True)
            y = f(x)
            I_N = torch.eye(N)
            jacobian_rows = [torch.autograd.grad(y, x, v, retain_graph=True, allow_unused=True)[0]
                             for v in I_N.unbind()]
            return torch.stack(jacobian_rows)

    def validation_step(self, batch, batch_idx):
        return self.jacobian_check()

    def test_step(self, batch, batch_idx):
        return self.jacobian_check()


class Trainer:
    """What the Lightning loops do around the user's steps."""

    def validate(self, model, batches):
        model.eval()
        with torch.no_grad():
            return [model.validation_step(b, i) for i, b in enumerate(batches)]

    def test(self, model, batches):
        model.eval()
        with torch.inference_mode():
            return [model.test_step(b, i) for i, b in enumerate(batches)]


model = JacobianModule()
trainer = Trainer()
batches = [torch.randn(2, 5)]
trainer.validate(model, batches)
trainer.test(model, batches)
