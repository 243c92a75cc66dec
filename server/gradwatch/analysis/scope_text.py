"""What a scope's text says about the work it is worth (Interpreter.relevant).

A scope whose text contains none of the words and matches none of the patterns
below cannot produce an event any rule uses, so it is skipped (this keeps
whole-project checks fast). They are searched one by one, each pattern starting
with a literal the regex engine scans for quickly: one alternation of them all
tries every alternative at every character (on diffusers that cost 4% of a run).
A module's `forward` (its result is taken as backpropagated) is also relevant
when code it runs is (forward_reach.py), and the module body (which may build
and call the module) when it names `forward`; not the other scopes that name it
(`forward_features`, `self.forward(x)`): with nothing else here, they make no
event a rule uses.
"""

from __future__ import annotations

import re

_RELEVANT_WORDS = ("backward", "autograd", "requires_grad")
_READS_GRAD = re.compile(r"\.grad\b")
# numpy used by name: `.numpy()`, `numpy.asarray(t)`, an import of it; not a name that holds
# the word (`torch.from_numpy`, `numpy_to_pil`), which makes no event.
_USES_NUMPY = re.compile(r"\.numpy\(|\bnumpy\.|\bimport numpy\b|\bfrom numpy\b")
# Writing in place: an event a rule uses only with a backward in the scope (above) or where
# grad mode is known to be on (Interpreter._grad_mode_may_be_known); elsewhere a caller may
# run the scope under no_grad, where any write is fine. A write through a subscript
# (`x[i] = v`) is a statement whose target starts its line: a `]` before `=` elsewhere is
# mostly a parameter's default (`mask: Optional[Tensor] = None`).
_WRITES_IN_PLACE = tuple(
    re.compile(pattern)
    for pattern in (
        r"inplace",
        r"_\((?<=[A-Za-z0-9]_\()",  # an in-place method: `x.add_(`
        r"=(?<=[-+*/@%&|^]=)",  # an augmented assignment: `x += y`
        # A subscript write at the start of a line (the text is searched with a "\n" in front)
        # or after a `;`. The possessive quantifiers only spare backtracking that cannot
        # match: neither blanks nor a name's characters can be what follows them.
        r"\n[ \t]*+[\w.]++\[.*\][ \t]*=[^=]",
        r";[ \t]*+[\w.]++\[.*\][ \t]*=[^=]",
    )
)
# An `__init__` that follows no call (it names no backward, autograd or forward) holds a
# leaf that requires grad only where its own text makes or names one: a parameter, a
# layer's `.weight` or `.bias` (`self.fc.weight.mul_(0.1)`; not `bias=False`),
# `.parameters()`, `.data`, or `requires_grad` (which makes any scope relevant). A write
# in place elsewhere in it (`depth += 1`, an init function that runs under no_grad) can
# make no event a rule uses but the hint on the output of a layer it applies, which is
# not looked for.
_NAMES_TRAINED_TENSOR = re.compile(r"Parameter|parameters|\.\w*(?:weight|bias)|\.data\b")
# A scope that names one of these may turn grad mode on itself.
_ENABLES_GRAD = ("enable_grad", "set_grad_enabled")

# A scope that is not relevant can still make a shape error (GW4xx) when it makes
# tensors of literal sizes (`torch.randn(4, 5)`, `torch.tensor([...])`, `nn.Linear(6, 3)`; other
# factories give no shape) or takes tensors of known shape (`Float[Tensor, "b 3"]`): it then
# runs for those events alone (`Evaluator.shapes_only`).
_SHAPED_CALLS = re.compile(
    r"\b(?:randn|rand|zeros|ones|empty|full|randint)\(\s*[(\[]?\s*-?\d|\b(?:tensor|as_tensor)\(\s*[\[(]"
    r"|\bLinear\(\s*\d"
)
# Every call _SHAPED_CALLS matches contains one of these: finding none (with `in`, fast) spares
# the regex, whose leading `\b` makes it try each alternative at every character.
_SHAPED_CALLEES = ("randn(", "rand(", "randint(", "zeros(", "ones(", "empty(", "full(", "tensor(", "Linear(")
# A jaxtyping annotation (`Float[Tensor, "b 3"]`, also inside a string annotation): its shape
# is a string. `Union[torch.Tensor, ...]`, `Tuple[Tensor, Tensor]` give no shape.
_SHAPED_ANNOTATION = re.compile(r"""\[(?:torch\.)?Tensor\s*,\s*["']""")

_BACKPROPAGATES = ("backward", "autograd", "forward")  # words: `in` finds them faster than a regex
# `.numpy()` raises on a tensor that requires grad, and a changed requires_grad flag
# on a non-leaf, with no backward in sight: such a scope is worth following into the
# calls that make (or change) those tensors.
_RAISES_WITHOUT_BACKWARD = re.compile(r"\.numpy\(|\.requires_grad_\(|\.requires_grad\s*=[^=]")


def is_relevant(segment: str) -> bool:
    """Whether a scope run with grad mode on (a module's `forward`) can make an event."""
    return always_relevant(segment) or writes_in_place(segment)


def always_relevant(segment: str) -> bool:
    """Whether the scope can make an event whatever grad mode it runs in."""
    if any(word in segment for word in _RELEVANT_WORDS) or _READS_GRAD.search(segment):
        return True
    return "numpy" in segment and bool(_USES_NUMPY.search(segment))  # `in` first: the regex is slower


def writes_in_place(segment: str) -> bool:
    lines = "\n" + segment  # so that "\n" marks the start of every line, the first one too
    return any(pattern.search(lines) for pattern in _WRITES_IN_PLACE)


def init_writes_to_no_trained_tensor(segment: str) -> bool:
    """Whether an `__init__` with this text can write in place only to tensors that do not
    require grad (see _NAMES_TRAINED_TENSOR)."""
    return not backpropagates(segment) and not _NAMES_TRAINED_TENSOR.search(segment)


def may_enable_grad(segment: str) -> bool:
    return any(word in segment for word in _ENABLES_GRAD)


def is_shaped(segment: str) -> bool:
    if _SHAPED_ANNOTATION.search(segment):
        return True
    return any(callee in segment for callee in _SHAPED_CALLEES) and bool(_SHAPED_CALLS.search(segment))


def backpropagates(segment: str) -> bool:
    """Whether the scope may run a backward (or is a module's forward): worth following
    its calls, into other files too."""
    return any(word in segment for word in _BACKPROPAGATES)


def raises_without_backward(segment: str) -> bool:
    return bool(_RAISES_WITHOUT_BACKWARD.search(segment))
