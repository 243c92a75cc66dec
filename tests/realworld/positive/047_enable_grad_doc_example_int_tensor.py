# source: https://github.com/pytorch/pytorch/issues/53466
# hazard: integer-grad
# cause: 8
# expect: RuntimeError: Only Tensors of floating point and complex dtype can require gradients
import torch

# the example of the torch.enable_grad docstring, run as printed at the time
x = torch.tensor([1], requires_grad=True)
with torch.no_grad():
    with torch.enable_grad():
        y = x * 2
assert y.requires_grad
y.backward()
assert x.grad is not None


@torch.enable_grad()
def doubler(x):
    return x * 2


with torch.no_grad():
    z = doubler(x)
assert z.requires_grad
