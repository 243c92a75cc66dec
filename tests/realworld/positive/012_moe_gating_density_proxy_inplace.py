# source: https://github.com/lucidrains/mixture-of-experts/issues/6
# hazard: inplace-saved
# cause: 38, 75
# expect: RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)


def top1(t):
    values, index = t.topk(k=1, dim=-1)
    values, index = map(lambda x: x.squeeze(dim=-1), (values, index))
    return values, index


class Top2Gating(nn.Module):
    def __init__(self, dim, num_gates, eps=1e-9, outer_expert_dims=tuple()):
        super().__init__()
        self.eps = eps
        self.num_gates = num_gates
        self.w_gating = nn.Parameter(torch.randn(*outer_expert_dims, dim, num_gates))

    def forward(self, x, importance=None):
        num_gates = self.num_gates
        raw_gates = torch.einsum('...bnd,...de->...bne', x, self.w_gating)
        raw_gates = raw_gates.softmax(dim=-1)

        gate_1, index_1 = top1(raw_gates)
        mask_1 = F.one_hot(index_1, num_gates).float()
        density_1_proxy = raw_gates

        if importance is not None:
            equals_one_mask = (importance == 1.).float()
            mask_1 *= equals_one_mask[..., None]
            gate_1 *= equals_one_mask
            density_1_proxy *= equals_one_mask[..., None]
            del equals_one_mask

        gates_without_top_1 = raw_gates * (1. - mask_1)
        gate_2, index_2 = top1(gates_without_top_1)

        denom = gate_1 + gate_2 + self.eps
        gate_1 /= denom
        gate_2 /= denom

        # balancing loss
        density_1 = mask_1.mean(dim=-2)
        density_1_proxy = density_1_proxy.mean(dim=-2)
        loss = (density_1_proxy * density_1).mean() * float(num_gates ** 2)
        return gate_1, gate_2, loss


class HeirarchicalGating(nn.Module):
    def __init__(self, dim, num_experts=(2, 3)):
        super().__init__()
        outer, inner = num_experts
        self.gate_outer = Top2Gating(dim, num_gates=outer)
        self.gate_inner = Top2Gating(dim, num_gates=inner, outer_expert_dims=(outer,))
        self.num_experts_outer = outer

    def forward(self, inputs):
        gate_1, gate_2, loss_outer = self.gate_outer(inputs)
        # importance is 1.0 for first-choice groups, 0.5 for second-choice ones
        importance = torch.stack([gate_1, gate_2]).detach()
        importance = 0.5 * ((importance > 0.5).float() + (importance > 0.).float())
        expert_inputs_outer = inputs.unsqueeze(0).expand(self.num_experts_outer, *inputs.shape)
        inner_1, inner_2, loss_inner = self.gate_inner(expert_inputs_outer, importance=importance)
        return inner_1.sum() + inner_2.sum(), loss_outer + loss_inner


gating = HeirarchicalGating(dim=4)
combined, aux_loss = gating(torch.randn(3, 5, 4))
(combined + 1e-2 * aux_loss).backward()
