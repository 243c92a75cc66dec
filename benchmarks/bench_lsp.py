"""How fast does `gradwatch serve` answer while someone types? (A benchmark, not a test.)

Starts the server as a subprocess speaking plain JSON-RPC over pipes, opens a
generated training module (1,000 and 5,000 lines: models, losses, training
loops, a few hazards), then makes 100 single-character edits, one at a time,
with the debounce set to 0, and measures for each edit the time from sending
`didChange` to receiving the diagnostics published for that version.

    python benchmarks/bench_lsp.py            # both sizes
    python benchmarks/bench_lsp.py --lines 1000 --edits 50

Prints median and p95 edit-to-diagnostics latency, the time from `initialize`
to the first diagnostics, and the server's peak RSS (VmHWM), against targets.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_P95_MS = {1000: 50.0, 5000: 200.0}
TARGET_FIRST_DIAGNOSTICS_S = 1.0
TARGET_PEAK_RSS_MB = 200.0

HEADER = '''"""A generated training module for the gradwatch LSP benchmark."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
'''

BLOCKS = [
    '''

class ResidualBlock{n}(nn.Module):
    """A small residual block."""

    def __init__(self, width=64):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        identity = x
        out = self.fc1(x)
        out = self.norm(out)
        out = F.gelu(out)
        out = self.fc2(out)
        return out + identity
''',
    '''

def contrastive_loss_{n}(anchor, positive, temperature=0.1):
    anchor = F.normalize(anchor, dim=-1)
    positive = F.normalize(positive, dim=-1)
    logits = anchor @ positive.t() / temperature
    labels = torch.arange(anchor.shape[0])
    return F.cross_entropy(logits, labels)
''',
    '''

def train_epoch_{n}(model, loader, optimizer, scheduler=None):
    model.train()
    total = 0.0
    for step, (inputs, targets) in enumerate(loader):
        optimizer.zero_grad()
        prediction = model(inputs)
        loss = F.mse_loss(prediction, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item()
    return total / max(1, step + 1)
''',
    '''

@torch.no_grad()
def evaluate_{n}(model, loader):
    model.eval()
    correct = 0
    for inputs, targets in loader:
        logits = model(inputs)
        correct += (logits.argmax(dim=-1) == targets).sum().item()
    return correct
''',
    '''

def detached_objective_{n}():
    weights = torch.randn(8, requires_grad=True)
    frozen = weights.detach()
    penalty = (frozen ** 2).sum()
    penalty.backward()
    return weights.grad
''',
    '''

def saved_output_{n}():
    logits = torch.randn(4, requires_grad=True)
    gate = logits.sigmoid()
    gate.add_(1)
    gate.sum().backward()
''',
    '''

def scaled_update_{n}():
    base = torch.randn(5, requires_grad=True)
    scaled = base * 2
    scaled.add_(base)
    scaled.sum().backward()
    # edits land on the line below
    marker = math.pi
''',
]


def generate_module(lines: int) -> str:
    parts = [HEADER]
    count = HEADER.count("\n")
    n = 0
    while count < lines:
        block = BLOCKS[n % len(BLOCKS)].format(n=n)
        parts.append(block)
        count += block.count("\n")
        n += 1
    return "".join(parts)


class Server:
    """The language server over pipes; a reader thread queues what it sends."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO / "server") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gradwatch.lsp", "--stdio", "--log-level", "warning"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.messages: queue.Queue[tuple[float, dict]] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = stream.read(length)
            self.messages.put((time.perf_counter(), json.loads(body)))

    def send(self, method: str, params, request: bool = False) -> int | None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        message_id = None
        if request:
            self._next_id += 1
            message_id = message["id"] = self._next_id
        body = json.dumps(message).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return message_id

    def wait_for(self, predicate, timeout: float = 120.0) -> tuple[float, dict]:
        deadline = time.perf_counter() + timeout
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("the server did not answer in time")
            received_at, message = self.messages.get(timeout=remaining)
            if message.get("method") == "workspace/configuration":
                self._answer(message["id"], [None for _ in message["params"]["items"]])
            elif predicate(message):
                return received_at, message

    def _answer(self, message_id, result) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": message_id, "result": result}).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        try:
            request = self.send("shutdown", None, request=True)
            self.wait_for(lambda m: m.get("id") == request, timeout=10)
            self.send("exit", None)
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()


def diagnostics_for(uri: str, version: int):
    return lambda m: (
        m.get("method") == "textDocument/publishDiagnostics"
        and m["params"]["uri"] == uri
        and m["params"].get("version") == version
    )


def run(lines: int, edits: int) -> dict:
    text = generate_module(lines)
    uri = f"file:///tmp/gradwatch-bench/train_{lines}.py"
    server = Server()
    try:
        started = time.perf_counter()
        request = server.send(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": None,
                "capabilities": {"textDocument": {"publishDiagnostics": {"versionSupport": True}}},
                "initializationOptions": {"debounce": 0},
            },
            request=True,
        )
        server.wait_for(lambda m: m.get("id") == request)
        server.send("initialized", {})
        server.send(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        received_at, first = server.wait_for(diagnostics_for(uri, 1))
        first_diagnostics = received_at - started

        # Type one character at a time at the end of a marker line, then take it back.
        text_lines = text.split("\n")
        marker_line = max(i for i, line in enumerate(text_lines) if line.strip() == "marker = math.pi")
        column = len(text_lines[marker_line])
        latencies = []
        for edit in range(edits):
            version = edit + 2
            if edit % 2 == 0:
                change = {"range": _range(marker_line, column, marker_line, column), "text": "1"}
            else:
                change = {"range": _range(marker_line, column, marker_line, column + 1), "text": ""}
            sent = time.perf_counter()
            server.send(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
            )
            received_at, _ = server.wait_for(diagnostics_for(uri, version))
            latencies.append((received_at - sent) * 1000)
        return {
            "lines": text.count("\n"),
            "findings": len(first["params"]["diagnostics"]),
            "first_diagnostics_s": first_diagnostics,
            "median_ms": statistics.median(latencies),
            "p95_ms": _percentile(latencies, 95),
            "peak_rss_mb": server.peak_rss_mb(),
        }
    finally:
        server.stop()


def _range(line: int, start: int, end_line: int, end: int) -> dict:
    return {"start": {"line": line, "character": start}, "end": {"line": end_line, "character": end}}


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, action="append", help="module size (repeatable); default 1000 and 5000")
    parser.add_argument("--edits", type=int, default=100)
    args = parser.parse_args()
    sizes = args.lines or [1000, 5000]
    print(f"gradwatch LSP benchmark: {args.edits} single-character edits, debounce 0, Python {sys.version.split()[0]}")
    all_met = True
    for lines in sizes:
        result = run(lines, args.edits)
        p95_target = TARGET_P95_MS.get(lines, TARGET_P95_MS[5000] * lines / 5000)
        checks = [
            ("edit->diagnostics median", f"{result['median_ms']:.1f} ms", ""),
            ("edit->diagnostics p95", f"{result['p95_ms']:.1f} ms", _verdict(result["p95_ms"] <= p95_target, f"<= {p95_target:.0f} ms")),
            (
                "initialize->first diagnostics",
                f"{result['first_diagnostics_s']:.2f} s",
                _verdict(result["first_diagnostics_s"] <= TARGET_FIRST_DIAGNOSTICS_S, f"<= {TARGET_FIRST_DIAGNOSTICS_S:.0f} s"),
            ),
            (
                "server peak RSS (VmHWM)",
                f"{result['peak_rss_mb']:.0f} MB",
                _verdict(result["peak_rss_mb"] < TARGET_PEAK_RSS_MB, f"< {TARGET_PEAK_RSS_MB:.0f} MB"),
            ),
        ]
        print(f"\n{result['lines']} lines ({result['findings']} findings):")
        for name, value, verdict in checks:
            print(f"  {name:32} {value:>10}  {verdict}")
            all_met = all_met and not verdict.startswith("MISSED")
    return 0 if all_met else 1


def _verdict(met: bool, target: str) -> str:
    return f"ok (target {target})" if met else f"MISSED (target {target})"


if __name__ == "__main__":
    raise SystemExit(main())
