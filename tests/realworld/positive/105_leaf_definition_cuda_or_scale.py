# source: https://discuss.pytorch.org/t/how-to-define-a-leaf-tensor-in-pytorch-0-4-1/28461
# hazard: nonleaf-grad
# cause: 12, 16, 29
# expect: assert
import torch

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def move(t):
    # .cuda() on a GPU machine, a scaling on CPU: both are recorded operations
    return t.cuda() if device.type == "cuda" else t * 2


# Case 1: requires_grad=True at creation, then the tensor is moved/scaled
x1 = move(torch.ones(3, requires_grad=True))
# Case 2: the tensor is moved/scaled first, requires_grad is set afterwards
x2 = move(torch.ones(3))
x2.requires_grad = True

target = torch.full((3,), 5.0, device=device)
for x in (x1, x2):
    loss = ((x - target) ** 2).sum()
    loss.backward()

print(x1.is_leaf, x2.is_leaf)
assert x2.is_leaf and x2.grad is not None
# Case 1 is not a leaf: its .grad stays None after backward
assert x1.grad is None
