"""The three examples of the article the project started from, as written.

The article claims all three are broken. torch 2.13 disagrees about two of them:
`x * w` with `w` not requiring grad backpropagates fine, and `y.add_(x)` after
`y = x * 2` computes the right gradient. gradwatch follows torch.
"""

from __future__ import annotations

from gradwatch.checker import check_source
from gradwatch.findings import Severity
from gradwatch.fixes import apply_edits

REQUIRES_GRAD_FALSE = """
import torch

x = torch.randn(10, requires_grad=True)
w = torch.randn(10, requires_grad=False) # Incorrect: w should require gradient
y = x * w
loss = y.sum()
loss.backward() # RuntimeError: One of the differentiated Tensors does not require grad
"""
REQUIRES_GRAD_CORRECTED = """
import torch

x = torch.randn(10, requires_grad=True)
w = torch.randn(10, requires_grad=True)
y = x * w
loss = y.sum()
loss.backward()
"""
DETACH = """
import torch
import torch.nn.functional as F

x = torch.randn(10, requires_grad=True)
y = F.relu(x)
z = y.detach()  # Detached from the computational graph
loss = z.sum()
loss.backward() # Gradient of x will be None
"""
DETACH_CORRECTED = """
import torch
import torch.nn.functional as F

x = torch.randn(10, requires_grad=True)
y = F.relu(x)
loss = y.sum()
loss.backward()
"""
INPLACE = """
import torch

x = torch.randn(10, requires_grad=True)
y = x * 2
y.add_(x) # In-place addition can cause issues

loss = y.sum()
loss.backward() #Potentially incorrect or inconsistent gradients
"""
INPLACE_CORRECTED = """
import torch

x = torch.randn(10, requires_grad=True)
y = x * 2
y = y + x #Correct way for adding

loss = y.sum()
loss.backward()
"""


def findings(code):
    return check_source(code).findings


def test_requires_grad_false_is_not_an_error() -> None:
    # torch runs it: w.grad stays None, and nothing reads it.
    assert findings(REQUIRES_GRAD_FALSE) == []


def test_detach_example_errors_at_backward_citing_detach() -> None:
    (finding,) = findings(DETACH)
    assert finding.code == "GW101" and finding.severity is Severity.ERROR
    assert finding.span.line == 9
    assert "line 7" in finding.message and "y.detach()" in finding.message
    assert [r.span.line for r in finding.related] == [7]
    fixed = apply_edits(DETACH, finding.fix.edits)
    assert "z = y  # Detached" in fixed
    assert findings(fixed) == []


def test_inplace_example_gets_a_hint_with_the_rewrite() -> None:
    (finding,) = findings(INPLACE)
    assert finding.code == "GW203" and finding.severity is Severity.HINT
    assert finding.span.line == 6
    fixed = apply_edits(INPLACE, finding.fix.edits)
    assert "y = y + x # In-place addition" in fixed
    assert findings(fixed) == []


def test_corrected_versions_are_clean() -> None:
    for code in (REQUIRES_GRAD_CORRECTED, DETACH_CORRECTED, INPLACE_CORRECTED):
        assert findings(code) == []
