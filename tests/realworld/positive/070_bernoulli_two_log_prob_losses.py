# source: https://github.com/pytorch/pytorch/issues/11192
# hazard: backward-twice
# cause: 18, 22, 23
# expect: RuntimeError: Trying to backward through the graph a second time
import torch
from torch.distributions import Bernoulli

# Two losses built directly from a leaf: each backward has its own graph, fine.
t = torch.tensor(1.0, requires_grad=True)
l1 = 2 * t
l2 = 3 * t
l1.backward()
l2.backward()

# Through a distribution: the logits are computed once and cached on the object,
# so both losses share that part of the graph.
p = torch.tensor(0.2, requires_grad=True)
pi = Bernoulli(p)

l1 = 2 * pi.log_prob(torch.tensor(1.0))
l2 = 3 * pi.log_prob(torch.tensor(0.0))
l1.backward()
l2.backward()
