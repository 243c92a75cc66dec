# source: https://github.com/cornellius-gp/gpytorch/issues/169
# hazard: integer-grad
# cause: 37, 39
# expect: RuntimeError: Only Tensors of floating point and complex dtype can require gradients
import unittest

import torch
from torch.autograd import Variable


class InterpolatedLazyVariable:
    """W_left K W_right^T, where each W row has a few (index, value) interpolation entries."""

    def __init__(self, base, left_interp_indices, left_interp_values,
                 right_interp_indices, right_interp_values):
        self.base = base
        self.left = (left_interp_indices, left_interp_values)
        self.right = (right_interp_indices, right_interp_values)

    @staticmethod
    def _dense(indices, values, n):
        w = torch.zeros(indices.size(0), n)
        return w.scatter_add(1, indices, values)

    def evaluate(self):
        n = self.base.size(0)
        w_left = self._dense(*self.left, n)
        w_right = self._dense(*self.right, n)
        return w_left @ self.base @ w_right.t()

    def inv_matmul(self, rhs):
        return torch.linalg.solve(self.evaluate(), rhs)


class TestInterpolatedLazyVariable(unittest.TestCase):
    def test_inv_matmul(self):
        left_interp_indices = Variable(torch.LongTensor([[2, 3], [3, 4], [4, 5]]), requires_grad=True)
        left_interp_values = Variable(torch.Tensor([[1, 2], [0.5, 1], [1, 3]]), requires_grad=True)
        right_interp_indices = Variable(torch.LongTensor([[0, 1], [1, 2], [2, 3]]), requires_grad=True)
        right_interp_values = Variable(torch.Tensor([[1, 2], [2, 0.5], [1, 3]]), requires_grad=True)
        base = Variable(torch.eye(6) * 2 + 0.1, requires_grad=True)
        test_matrix = Variable(torch.randn(3, 4))

        interp_lazy_var = InterpolatedLazyVariable(base, left_interp_indices, left_interp_values,
                                                   right_interp_indices, right_interp_values)
        res = interp_lazy_var.inv_matmul(test_matrix)
        res.sum().backward()
        self.assertIsNotNone(left_interp_values.grad)


TestInterpolatedLazyVariable("test_inv_matmul").test_inv_matmul()
