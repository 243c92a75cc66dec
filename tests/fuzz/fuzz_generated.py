"""Generated programs: hypothesmith's valid Python, and small PyTorch programs built from hazard parts.

Hypothesis draws them in batches (its first examples are the simplest, so one
run per program would give the same trivial program each time). A batch is
reproducible from its seed.
"""

from __future__ import annotations

import random
import warnings

import hypothesmith
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from fuzz_inputs import in_hostile_context

GENERATORS = ("grammar", "node", "torch")

_NAMES = ["x", "y", "z", "w", "out", "loss"]
_PREAMBLE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
# One statement each; {a} is assigned, {b} and {c} are read.
_STATEMENTS = [
    "{a} = torch.randn(3, requires_grad=True)",
    "{a} = torch.randn(3)",
    "{a} = torch.zeros(3, requires_grad=True)",
    "{a} = {b}.sigmoid()",
    "{a} = {b}.exp()",
    "{a} = {b}.tanh()",
    "{a} = {b} * {c}",
    "{a} = {b} + 1",
    "{a} = {b} @ {c}",
    "{a} = {b}.detach()",
    "{a} = {b}.clone()",
    "{a} = {b}.data",
    "{a} = {b}.numpy()",
    "{a} = {b}.item()",
    "{a} = torch.tensor({b})",
    "{a} = F.relu({b}, inplace=True)",
    "{a} = nn.ReLU(inplace=True)({b})",
    "{a} = torch.relu_({b})",
    "{a}.add_(1)",
    "{a}.mul_({b})",
    "{a}.clamp_(0, 1)",
    "{a}.sigmoid_()",
    "{a} += {b}",
    "{a} *= 2",
    "{a}[0] = 0",
    "{a}.requires_grad = True",
    "{a}.requires_grad_()",
    "{a}.sum().backward()",
    "{a}.backward()",
    "{a}.sum().backward(retain_graph=True)",
    "{a}.backward(torch.ones_like({a}))",
    "print({a}.grad)",
    "{a}.grad.zero_()",
    "{a}.grad = None",
    "{a} = {b}.grad",
    "{a} = torch.autograd.grad({b}.sum(), {c})",
]
_BLOCKS = [
    "with torch.no_grad():",
    "for _ in range(2):",
    "if {a}.sum() > 0:",
    "def step({a}, {b}):",
    "while False:",
    "try:",
]


@st.composite
def torch_programs(draw) -> str:
    """A few tensors, in-place ops, backward calls and blocks, with one statement in a hostile context."""
    lines = [_PREAMBLE]
    depth = 0
    for _ in range(draw(st.integers(2, 14))):
        names = {key: draw(st.sampled_from(_NAMES)) for key in "abc"}
        indent = "    " * depth
        if depth < 3 and draw(st.integers(0, 5)) == 0:
            header = draw(st.sampled_from(_BLOCKS)).format(**names)
            lines.append(f"{indent}{header}\n")
            if header == "try:":
                lines.append(f"{indent}    pass\n{indent}except Exception:\n")
            depth += 1
            indent = "    " * depth
        elif depth and draw(st.integers(0, 3)) == 0:
            depth -= 1
        lines.append(f"{indent}{draw(st.sampled_from(_STATEMENTS)).format(**names)}\n")
    if lines[-1].rstrip().endswith(":"):
        lines.append("    " * depth + "pass\n")
    program = "".join(lines)
    context_seed = draw(st.integers(0, 2**32 - 1))
    if context_seed % 2:
        program = in_hostile_context(random.Random(context_seed), program)
    return program


def _strategy(kind: str):
    if kind == "torch":
        return torch_programs()
    if kind == "grammar":
        return hypothesmith.from_grammar()
    return hypothesmith.from_node()


def generated_programs(kind: str, batch_seed: int, count: int) -> list[str]:
    """Up to `count` programs of one generator (see GENERATORS), the same for the same seed."""
    programs: list[str] = []

    @seed(batch_seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(_strategy(kind))
    def collect(program: str) -> None:
        programs.append(program)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarnings of generated code
        collect()
    return programs
