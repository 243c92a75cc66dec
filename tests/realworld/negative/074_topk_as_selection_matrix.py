# source: https://github.com/Shawn-Guo-CN/Lossless_Text_Compression_with_Transformer
# hazard: none
# expect: runs
import torch


def topk_by_selection(y, k):
    """The same values as `torch.topk(y, k)`, as a product with a 0/1 selection matrix."""
    _, picked = torch.topk(y, k)
    selection = torch.zeros(k, y.shape[0])
    selection[torch.arange(k), picked] = 1
    selection.requires_grad = True
    return selection @ y, selection


torch.manual_seed(0)
w = torch.rand(3, 3, requires_grad=True)
x = torch.tensor([0.4, 0.5, 0.6], requires_grad=True)

top, _ = torch.topk(w @ x, 2)
(top ** 2).sum().backward()
direct = w.grad.clone()
w.grad.zero_()
x.grad.zero_()

selected, selection = topk_by_selection(w @ x, 2)
(selected ** 2).sum().backward()
assert torch.allclose(w.grad, direct)
assert selection.grad is not None
