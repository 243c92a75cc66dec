# source: https://github.com/pytorch/pytorch/pull/5842
# hazard: inplace-saved
# cause: 26, 39
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform

torch.manual_seed(0)


class BoltzmannTransform(Transform):
    """
    Transform from unconstrained space to the simplex via `y = exp(x)` then
    normalizing.
    """
    domain = constraints.real_vector
    codomain = constraints.simplex

    def __eq__(self, other):
        return isinstance(other, BoltzmannTransform)

    def _call(self, x):
        logprobs = x
        probs = (logprobs - logprobs.max(-1, True)[0]).exp()
        probs /= probs.sum(-1, True)
        return probs

    def _inverse(self, y):
        probs = y
        return probs.log()


transform = BoltzmannTransform()
logits = torch.randn(4, 3, requires_grad=True)
target = torch.tensor([0, 2, 1, 1])
probs = transform(logits)
nll = -probs[torch.arange(4), target].log().mean()
nll.backward()
