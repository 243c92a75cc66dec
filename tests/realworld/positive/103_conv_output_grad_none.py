# source: https://github.com/pytorch/pytorch/issues/2384
# hazard: nonleaf-grad
# cause: 16, 18
# expect: assert
import torch

input = torch.randn(2, 3, 8, 8, requires_grad=True)
m = torch.nn.Conv2d(3, 4, 5)
output = m(input)

loss = torch.sum(output)
m.zero_grad()
loss.backward()

print(input.grad.size())
print(output.grad)  # the reporter expected the gradient of the conv output here
assert input.grad is not None
assert output.grad is None
