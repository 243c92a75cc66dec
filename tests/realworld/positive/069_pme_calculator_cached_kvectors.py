# source: https://github.com/lab-cosmo/torch-pme/issues/62
# hazard: backward-twice
# cause: 25, 64
# expect: RuntimeError: Trying to backward through the graph a second time
import math

import torch


class PMEPotential:
    """Reciprocal-space Ewald-like sum; the k-vectors depend only on the cell and are cached."""

    def __init__(self, exponent=1.0, atomic_smearing=1.0, n_max=2):
        self.exponent = exponent
        self.atomic_smearing = atomic_smearing
        r = torch.arange(-n_max, n_max + 1, dtype=torch.float32)
        grid = torch.stack(torch.meshgrid(r, r, r, indexing="ij"), dim=-1).reshape(-1, 3)
        self.ns = grid[(grid != 0).any(dim=1)]
        self._cell_cache = None
        self._kvectors_cache = None
        self._kernel_cache = None

    def _compute_kvectors(self, cell):
        if self._cell_cache is not None and torch.equal(cell.detach(), self._cell_cache):
            return self._kvectors_cache, self._kernel_cache
        reciprocal_cell = 2 * math.pi * torch.linalg.inv(cell).T
        kvectors = self.ns @ reciprocal_cell
        k2 = (kvectors ** 2).sum(dim=1)
        kernel = torch.exp(-0.5 * self.atomic_smearing ** 2 * k2) / k2
        self._cell_cache = cell.detach().clone()
        self._kvectors_cache, self._kernel_cache = kvectors, kernel
        return kvectors, kernel

    def __call__(self, positions, charges, cell, neighbor_indices, neighbor_distances):
        kvectors, kernel = self._compute_kvectors(cell)
        phase = positions @ kvectors.T
        cos_sum = (charges * torch.cos(phase)).sum(dim=0)
        sin_sum = (charges * torch.sin(phase)).sum(dim=0)
        volume = torch.det(cell).abs()
        potential = (torch.cos(phase) * cos_sum + torch.sin(phase) * sin_sum) @ kernel
        return (4 * math.pi / volume) * potential.unsqueeze(1)


torch.manual_seed(0)
sr_cutoff = 5.5
calculator = PMEPotential(exponent=1.0, atomic_smearing=sr_cutoff / 5.0)

positions = 5 * torch.rand((10, 3), requires_grad=True)
cell = 5 * torch.eye(3, requires_grad=True)
charges = torch.rand((10, 1))
neighbor_indices = torch.zeros((0, 2), dtype=torch.int64)
neighbor_distances = torch.zeros((0))

output = calculator(positions, charges, cell, neighbor_indices, neighbor_distances)
output = output.sum()
output.backward()

positions = 5 * torch.rand((10, 3), requires_grad=True)
cell = 5 * torch.eye(3, requires_grad=True)
charges = torch.rand((10, 1))

output = calculator(positions, charges, cell, neighbor_indices, neighbor_distances)
output = output.sum()
output.backward()
