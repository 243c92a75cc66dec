# source: https://github.com/pytorch/pytorch/issues/115918
# hazard: grad-not-required
# cause: 11, 19, 20
# expect: RuntimeError: One of the differentiated Tensors does not require grad
import torch


def partial_derivatives(output, inputs):
    # the reporter expected allow_unused=True to give None for inputs
    # that do not take part in the backward graph
    return torch.autograd.grad(output, inputs, allow_unused=True)


a = torch.tensor([1.0, 2.0])
b = torch.tensor([3.0, 4.0], requires_grad=True)
c = a @ b

grads = {}
inputs = [a, b]
for name, g in zip("ab", partial_derivatives(c, inputs)):
    grads[name] = g
