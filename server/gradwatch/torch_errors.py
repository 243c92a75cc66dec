"""The autograd errors torch raises that gradwatch can explain: how to recognise each
message, what it means in plain words, the rules whose findings are its likely
causes, and the usual fix (used by `gradwatch explain-error`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One torch error gradwatch knows: how to spot it, the rules that predict it, what to say."""

    name: str
    pattern: re.Pattern
    title: str
    codes: tuple[str, ...]  # rules whose findings are this error's likely causes
    explanation: str
    fix: str
    # Rules whose findings are shown only when the codes above found nothing (weaker leads).
    fallback_codes: tuple[str, ...] = ()
    # Whether `gradwatch run` would name the line at runtime (said when the static analysis found nothing).
    runtime_names_it: bool = False


KINDS: tuple[Kind, ...] = (
    Kind(
        "inplace-on-saved-tensor",
        re.compile(r"one of the variables needed for gradient computation has been modified by an inplace operation"),
        "an in-place operation changed a tensor that backward needed",
        ("GW201",),
        "During the forward pass an op saved a tensor for its backward (sigmoid, exp and relu save their "
        "output; mul and mm save their inputs). Afterwards an in-place operation (`x.add_()`, `x += ...`, "
        "`x[i] = ...`, `relu(inplace=True)`, ...) changed that tensor. Every tensor carries a version counter "
        "that each in-place write increments; backward compared the version it saved with the current one, "
        "found they differ, and refused to compute a gradient from changed values.",
        "Make the write out of place (`y = y + 1` instead of `y.add_(1)` or `y += 1`, `inplace=False` for "
        "layers), or `.clone()` the tensor before modifying it, or move the write after `backward()`.",
        fallback_codes=("GW203",),
        runtime_names_it=True,
    ),
    Kind(
        "backward-twice",
        re.compile(r"Trying to backward through the graph a second time"),
        "a second backward went through a graph that an earlier backward had already freed",
        ("GW106", "GW302"),
        "A backward frees the graph it went through (the tensors its ops saved) unless told to keep it. A "
        "later backward reached part of that same graph: either `backward()` was called twice on the same "
        "loss, or a tensor computed in an earlier iteration (a running total, a hidden state, a value kept "
        "from the previous step) was used again after its graph was freed.",
        "If both backwards really need the graph, pass `retain_graph=True` to the first one. More often the "
        "fix is to not carry the graph across iterations: `.detach()` the value kept between steps (a hidden "
        "state, a running total: `total += loss.item()`), or recompute the forward before the second backward.",
        runtime_names_it=True,
    ),
    Kind(
        "backward-without-graph",
        re.compile(r"element \d+ of tensors does not require grad and does not have a grad_fn"),
        "backward was called on a tensor that has no autograd graph",
        ("GW101", "GW102"),
        "The tensor you called `backward()` on (or passed to `torch.autograd.grad`) was not computed from "
        "any tensor that requires grad, so there is nothing to differentiate. Usually the graph was cut on "
        "the way: a `.detach()`, `.data`, `.item()`/`.numpy()` and back, `torch.no_grad()` or "
        "`torch.inference_mode()` around the forward, or parameters frozen with `requires_grad=False`.",
        "Find where the loss loses its graph and remove the cut (the `.detach()`, `.data` or `no_grad()`); "
        "check `loss.requires_grad` and `loss.grad_fn` while stepping back through the forward.",
    ),
    Kind(
        "backward-on-non-scalar",
        re.compile(r"grad can be implicitly created only for scalar outputs"),
        "backward was called without a `gradient` on a tensor with more than one element",
        ("GW112",),
        "`backward()` with no argument means \"the gradient of this number\": it only makes sense for a "
        "tensor with one element, such as a loss. The tensor here has several elements, so torch does not "
        "know how to weigh them.",
        "Reduce it to a scalar first (`loss.sum().backward()` or `.mean()`), or pass the weights "
        "explicitly: `y.backward(gradient=torch.ones_like(y))`.",
    ),
    Kind(
        "inplace-on-leaf",
        re.compile(r"a (?:view of a )?leaf Variable that requires grad is being used in an in-place operation"),
        "an in-place operation changed a leaf tensor that requires grad",
        ("GW202",),
        "A leaf tensor is one you created with `requires_grad=True` (a parameter, a trained input). "
        "Autograd accumulates the gradient into it, so it refuses in-place changes to it (or to a view of "
        "it) while gradients are being recorded: the change itself would have to be part of the graph.",
        "Update parameters under `with torch.no_grad():` (as optimizers do), or make the operation out of "
        "place (`w = w + 1` creates a new, non-leaf tensor).",
    ),
    Kind(
        "numpy-requires-grad",
        re.compile(r"Can't call numpy\(\) on Tensor that requires grad"),
        "`.numpy()` was called on a tensor that requires grad",
        ("GW108",),
        "A NumPy array cannot carry autograd's graph, so torch refuses to hand out one that would silently "
        "drop it.",
        "Call `.detach().numpy()` (or `.detach().cpu().numpy()` on a GPU tensor); for a single number, "
        "`.item()`.",
    ),
    Kind(
        "grad-of-tensor-without-grad",
        re.compile(r"One of the differentiated Tensors does not require grad"),
        "`torch.autograd.grad` was asked for the gradient of a tensor that does not require grad",
        ("GW103",),
        "Every tensor in `inputs` of `torch.autograd.grad` must require grad; one of them does not, so it "
        "has no gradient to give.",
        "Create that tensor with `requires_grad=True` (or call `.requires_grad_()` on it), or leave it out "
        "of `inputs`.",
    ),
    Kind(
        "grad-of-unused-input",
        re.compile(r"differentiated Tensors? (?:at index \d+ )?appears to not have been used in the graph"),
        "`torch.autograd.grad` was asked for the gradient of a tensor the outputs do not depend on",
        ("GW107",),
        "One of the `inputs` of `torch.autograd.grad` takes no part in computing the outputs, so torch "
        "cannot tell whether its gradient should be zero or whether this is a mistake.",
        "Pass `allow_unused=True` (its gradient comes back as None), or remove it from `inputs`, or check "
        "why the outputs do not use it.",
    ),
    Kind(
        "integer-requires-grad",
        re.compile(r"[Oo]nly Tensors of floating point (?:and complex )?dtype can require gradients"),
        "`requires_grad=True` was set on a tensor with an integer or bool dtype",
        ("GW109",),
        "Gradients are only defined for floating-point and complex tensors; an integer or bool tensor "
        "cannot require grad.",
        "Give it a floating dtype (`dtype=torch.float32`, or `torch.tensor([1.0, 2.0])`), or do not ask for "
        "its gradient.",
    ),
    Kind(
        "requires-grad-of-non-leaf",
        re.compile(r"you can only change requires_grad flags of leaf variables"),
        "`requires_grad` was changed on a tensor computed from others (not a leaf)",
        ("GW110",),
        "A tensor computed from tensors that require grad is part of the graph; its `requires_grad` follows "
        "from how it was computed and cannot be switched off.",
        "Use `y = y.detach()` to get a tensor outside the graph, or compute it under `torch.no_grad()`.",
    ),
    Kind(
        "matmul-shape-mismatch",
        re.compile(
            r"mat1 and mat2 shapes cannot be multiplied|Expected size for first two dimensions of batch2 tensor"
            r"|size mismatch, got input \(\d+\), mat|inconsistent tensor size, expected tensor \[\d+\] and src"
        ),
        "a matrix product's inner dimensions differ",
        ("GW401",),
        "A matrix product needs the columns of its first factor to match the rows of the second: for `a @ b`, "
        "`a.shape[-1] == b.shape[-2]`; for `nn.Linear(in_features, out_features)` (and `F.linear(x, weight)`), "
        "the input's last size must be `in_features`. Torch folds the leading dimensions of the input into the "
        "rows it reports (`8x5` for an input of shape (2, 4, 5)).",
        "Make the inner sizes agree: size the layer for its input (`nn.Linear(5, 3)` for 5 features), "
        "transpose one factor (`a @ b.T`), or fix the reshape that produced the input.",
    ),
    Kind(
        "broadcast-mismatch",
        re.compile(r"The size of tensor a \(\d+\) must match the size of tensor b \(\d+\) at non-singleton dimension"),
        "two tensors of an elementwise op have shapes that cannot broadcast",
        ("GW402",),
        "Elementwise ops align their operands' shapes from the last dimension; each pair of sizes must be equal "
        "or one of them 1. The dimension torch names is counted in the broadcast result.",
        "Add the missing dimension (`b[:, None]`, `b.unsqueeze(0)`), transpose one operand, or fix the size "
        "of the tensor that was built with the wrong one.",
    ),
    Kind(
        "reshape-element-count",
        re.compile(r"shape '\[[-\d, ]*\]' is invalid for input of size \d+"),
        "`view`/`reshape` asked for a shape with another number of elements",
        ("GW403",),
        "`view` and `reshape` keep every element: the sizes asked for must multiply to the tensor's element "
        "count (with one `-1`, the others must divide it).",
        "Ask for sizes whose product is the element count (`x.numel()`), or let torch infer one with `-1`.",
    ),
)
