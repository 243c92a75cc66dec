"""What the autograd sentinel (`gradwatch run`) costs per training step, next to anomaly mode.

    PYTHONPATH=server python benchmarks/bench_runtime.py [--rounds 7] [--steps 30]

Three small models train on CPU (one thread, so other work on the machine
disturbs the figures less): a CNN, a transformer encoder and an MLP. Each
round times `--steps` training steps (zero_grad, forward, loss, backward,
optimizer step) of every model three ways, interleaved so that drift in the
machine's speed hits all three alike:

- plain;
- under the sentinel (`gradwatch.runtime.sentinel.Sentinel`, exactly what
  `gradwatch run` installs);
- under `torch.autograd.set_detect_anomaly(True)`, torch's own tool for
  finding the op whose backward failed.

It prints the median time per step of each and the ratios to plain. The
target (issue 13): the sentinel at most 1.3x plain and below anomaly mode on
every model. The models use in-place ops the way real ones do
(`nn.ReLU(inplace=True)`, `x += residual`), so the sentinel's write checks run.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from gradwatch.runtime.report import Report  # noqa: E402
from gradwatch.runtime.sentinel import Sentinel  # noqa: E402


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.conv1 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        out += x  # ResNet's residual: legal, the batch norm saved nothing it needs
        out = F.relu(out, inplace=True)
        return self.head(F.adaptive_avg_pool2d(out, 1).flatten(1))


class SmallTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 100)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)))


def small_mlp() -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(4):
        layers += [nn.Linear(64, 64), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Linear(64, 10))


def make_steps():
    """name -> one training step of that model (a closure over its data and optimizer)."""
    torch.manual_seed(0)
    setups = {
        "cnn": (SmallCNN(), torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,)), torch.optim.SGD),
        "transformer": (
            SmallTransformer(),
            torch.randint(0, 100, (8, 16)),
            torch.randint(0, 100, (8, 16)),
            torch.optim.Adam,
        ),
        "mlp": (small_mlp(), torch.randn(32, 64), torch.randint(0, 10, (32,)), torch.optim.SGD),
    }
    steps = {}
    for name, (model, inputs, targets, optimizer_class) in setups.items():
        optimizer = optimizer_class(model.parameters(), lr=0.01)

        def step(model=model, inputs=inputs, targets=targets, optimizer=optimizer):
            optimizer.zero_grad()
            logits = model(inputs)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            loss.backward()
            optimizer.step()

        steps[name] = step
    return steps


# One sentinel, entered for each timed run: the models are built under it, as under
# `gradwatch run` (it then knows where each layer was constructed).
SENTINEL = Sentinel(Report(stream=io.StringIO()))
MODES = {
    "plain": nullcontext,
    "sentinel": lambda: SENTINEL,
    "anomaly": lambda: torch.autograd.set_detect_anomaly(True),
}


def time_steps(step, mode: str, count: int) -> float:
    """Seconds per step, `count` steps under `mode` (after two untimed ones)."""
    with MODES[mode]():
        step()
        step()
        start = time.thread_time()
        for _ in range(count):
            step()
        return (time.thread_time() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with SENTINEL:
        steps = make_steps()
    times: dict[tuple[str, str], list[float]] = {(n, m): [] for n in steps for m in MODES}
    for _ in range(args.rounds):
        for name, step in steps.items():
            for mode in MODES:
                times[(name, mode)].append(time_steps(step, mode, args.steps))
    print(
        f"median CPU ms per training step over {args.rounds} rounds of {args.steps} steps "
        f"(torch {torch.__version__}, CPU, 1 thread)"
    )
    print(f"{'model':<12} {'plain':>8} {'sentinel':>9} {'anomaly':>9} {'sentinel/plain':>15} {'anomaly/plain':>14}")
    for name in steps:
        plain, sentinel, anomaly = (statistics.median(times[(name, mode)]) * 1000 for mode in MODES)
        print(
            f"{name:<12} {plain:>8.2f} {sentinel:>9.2f} {anomaly:>9.2f} "
            f"{sentinel / plain:>14.2f}x {anomaly / plain:>13.2f}x"
        )


if __name__ == "__main__":
    main()
