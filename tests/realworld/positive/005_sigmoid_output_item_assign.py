# source: https://github.com/pytorch/pytorch/issues/9391
# hazard: inplace-saved
# cause: 17, 18
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch

# the sigmoid written out by hand saves nothing that the assignment touches
a = torch.tensor([1, 2, 3.], requires_grad=True)
b = 1 / ((-a).exp() + 1)
b[1] = 2
b.sum().backward()
print(a.grad)

# torch.sigmoid saves its output, which the assignment overwrites
a = torch.tensor([1, 2, 3.], requires_grad=True)
b = a.sigmoid()
b[1] = 2
b.sum().backward()
print(a.grad)
