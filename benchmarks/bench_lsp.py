"""How fast does `gradwatch serve` answer while someone types? (A benchmark, not a test.)

Starts the server as a subprocess speaking plain JSON-RPC over pipes, with the
debounce set to 0, and measures what issue 11 asks for:

1. Edit-to-diagnostics latency on a 1,000- and a 5,000-line module built, at
   run time, from real code: the `.py` files of the pytorch/examples snapshot
   that `benchmarks/sweep.py` writes to `~/.cache/gradwatch/sweep/pytorch+examples`
   (see "The module" below). Edit positions are spread evenly over the
   module's statements (those with an identifier on their last line): imports,
   other module-level code and class bodies, top-level functions, methods. At each
   position four edits are made, one at a time, each timed from sending
   `didChange` to receiving the `publishDiagnostics` for that version:

   - valid: an `x` is typed at the end of the last identifier of the
     statement's last line (`loss.backward()` -> `loss.backwardx()`), then
     deleted again; both versions parse and both are timed as "valid";
   - syntax error: a `(` is typed right after the statement's last token (before
     any trailing comment), which leaves the module unparsable; that version is
     timed as "syntax error". Deleting it again is timed apart, as "error fixed"
     (the first valid version after a broken one).

   Every edited text is checked with `ast.parse` beforehand, so a "valid" edit
   parses and a "syntax error" edit does not. The documents are not on disk and
   no workspace is open (`rootUri` null). The server still follows imports from the
   file's folder: after each version's diagnostics are published, its cross-module
   pass starts, and the next edit must cancel it (what a user typing meets too).

2. First diagnostics and peak memory on a large workspace: a fresh server with
   the diffusers snapshot (`~/.cache/gradwatch/sweep/huggingface+diffusers`,
   about 450 files and 380,000 lines) as its root folder. The time from sending
   `initialize` to the first `publishDiagnostics` of
   `src/diffusers/models/unets/unet_2d_condition.py` (opened right after
   `initialized`) is "first diagnostics". Then more of its model files are opened
   (`--open`, default 10: the largest files under `src/diffusers/models`), each
   waited for, and the server is left until it stops using CPU (the
   cross-module passes that follow each first publication); its peak RSS
   (VmHWM, plus that of any child processes such as jedi's) is read then.

The module: files are taken in sorted order, one file per example folder in
turn (dcgan, distributed, fast_neural_style, fx, ...), skipping files that do
not mention torch. Each file's imports go to the top of the module (each
distinct import once; `from __future__` imports first), and its other top-level
statements (classes, functions, module-level code, but not the
`if __name__ == "__main__":` block or the docstring) are appended whole, as long
as they fit in the target size and are not an exact copy of one already taken.
Names defined by several files are left as they are: a later definition
rebinds the name, as Python does. The result must parse. Nothing random: the
same snapshot gives the same modules and positions.

    cd /work/main
    .venv/bin/python benchmarks/bench_lsp.py                      # both sizes, 40 positions each, and the workspace
    .venv/bin/python benchmarks/bench_lsp.py --lines 1000 --positions 20 --no-workspace
    .venv/bin/python benchmarks/bench_lsp.py --workspace-only --open 20
    .venv/bin/python benchmarks/bench_lsp.py --write-module /tmp/m   # also save the modules to look at

Prints median and p95 per size and kind of edit, each against the p95 target
(50 ms at 1,000 lines, 200 ms at 5,000), and in brackets the median CPU time the
server used per edit (all its threads, from /proc; in clock ticks of 10 ms, and
less disturbed by other work on the machine), the medians by where the edit was
(import / module / function / method), the server's peak RSS after the edits,
first diagnostics (target 1 s) and peak RSS on the workspace (target 200 MB,
server and children together); the exit status is 1 if a target is missed.
`--log PREFIX` keeps each server's stderr. The machine may be shared: run it
more than once and compare.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import keyword
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWEEP = Path.home() / ".cache" / "gradwatch" / "sweep"
EXAMPLES = SWEEP / "pytorch+examples"
DIFFUSERS = SWEEP / "huggingface+diffusers"
FIRST_FILE = "src/diffusers/models/unets/unet_2d_condition.py"

TARGET_P95_MS = {1000: 50.0, 5000: 200.0}
TARGET_FIRST_DIAGNOSTICS_S = 1.0
TARGET_PEAK_RSS_MB = 200.0

KINDS = ("valid", "syntax error", "error fixed")
PLACES = ("import", "module", "function", "method")  # "module": other module-level code, class bodies


# -- the module ------------------------------------------------------------------


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def _segment(lines: list[str], node: ast.stmt) -> str:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "".join(lines[first - 1 : node.end_lineno])


def _example_files(root: Path) -> list[Path]:
    """Sorted .py files mentioning torch, one per example folder in turn."""
    groups: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        groups.setdefault(relative.parts[0], []).append(path)
    ordered = []
    queues = [list(files) for _, files in sorted(groups.items())]
    while any(queues):
        for files in queues:
            if files:
                ordered.append(files.pop(0))
    return ordered


def build_module(lines: int, root: Path = EXAMPLES) -> tuple[str, list[str]]:
    """A module of at most `lines` lines of real code from `root`, and the files it took code from."""
    if not root.is_dir():
        raise SystemExit(
            f"{root} is missing: fetch github:pytorch/examples and run "
            "`.venv/bin/python benchmarks/sweep.py --repo examples` first (see benchmarks/README.md)"
        )
    future: list[str] = []
    imports: list[str] = []
    body: list[str] = []
    seen: set[str] = set()
    used: list[str] = []
    count = 2  # the docstring line and the blank line after the imports

    def size(text: str) -> int:
        return text.count("\n")

    for path in _example_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "torch" not in text:
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        source_lines = text.splitlines(keepends=True)
        new_imports, units = [], []
        for index, node in enumerate(tree.body):
            if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # the file's docstring
            segment = _segment(source_lines, node)
            if not segment.endswith("\n"):
                segment += "\n"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if segment not in seen:
                    new_imports.append((isinstance(node, ast.ImportFrom) and node.module == "__future__", segment))
            elif not _is_main_guard(node) and segment not in seen:
                units.append(segment)
        taken = False
        for unit in units:
            # Each unit after a blank line or two, as in the files: two before a def or class.
            block = ("\n\n" if unit.lstrip().startswith(("def ", "class ", "async ", "@")) else "\n") + unit
            header = sum(size(s) for _, s in new_imports) if not taken else 0
            if count + header + size(block) > lines:
                continue
            if not taken:
                for is_future, segment in new_imports:
                    (future if is_future else imports).append(segment)
                    seen.add(segment)
                count += header
                taken = True
                used.append(str(path.relative_to(root)))
            body.append(block)
            seen.add(unit)
            count += size(block)
        if count >= lines - 5:
            break
    module = (
        f'"""Real code from pytorch/examples, {len(used)} files, for the gradwatch LSP benchmark."""\n'
        + "".join(future)
        + "".join(imports)
        + "".join(body)
    )
    ast.parse(module)  # must parse: a benchmark of the error path by accident is worthless
    return module, used


# -- edit positions --------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    line: int  # 0-based
    name_end: int  # column just after the last identifier on the line (where `x` is typed)
    code_end: int  # column just after the last token of the statement (where `(` is typed)
    where: str  # one of PLACES


def _scopes(tree: ast.Module) -> dict[int, str]:
    """For a 1-based line: 'import' (a module-level import), 'function' or 'method' (inside a def
    at module level or in a class; a def nested in either counts as its owner); others are absent."""
    found: dict[int, str] = {}

    def visit(node: ast.AST, in_class: bool, in_def: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = in_def or ("method" if in_class else "function")
                for line in range(child.lineno, child.end_lineno + 1):
                    found[line] = kind
                visit(child, False, kind)
            elif isinstance(child, ast.ClassDef):
                visit(child, True, in_def)
            else:
                visit(child, in_class, in_def)

    visit(tree, False, None)
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for line in range(node.lineno, node.end_lineno + 1):
                found[line] = "import"
    return found


def candidate_positions(text: str) -> list[Position]:
    """One per logical line that has an identifier on its last physical line, in order."""
    scopes = _scopes(ast.parse(text))
    candidates = []
    last_code = None  # end of the last significant token
    last_name = None  # (line, end column) of the last identifier
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NEWLINE:
            if last_code is not None and last_name is not None and last_name[0] == last_code[0]:
                line = last_code[0]
                where = scopes.get(line, "module")
                candidates.append(Position(line - 1, last_name[1], last_code[1], where))
            last_code = last_name = None
        elif token.type in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING):
            continue
        elif token.type == tokenize.ENDMARKER:
            break
        else:
            last_code = token.end
            if token.type == tokenize.NAME and not keyword.iskeyword(token.string):
                last_name = token.end
    return candidates


def _parses(lines: list[str], index: int, replacement: str) -> bool:
    try:
        ast.parse("\n".join(lines[:index] + [replacement] + lines[index + 1 :]))
    except SyntaxError:
        return False
    return True


def spread(text: str, count: int) -> list[Position]:
    """`count` positions evenly over the candidates, each moved on to the next candidate
    where the edits do what they are meant to do (the `x` parses, the `(` does not)."""
    candidates = candidate_positions(text)
    lines = text.split("\n")
    chosen: list[Position] = []
    for i in range(min(count, len(candidates))):
        start = max(int((i + 0.5) * len(candidates) / count), candidates.index(chosen[-1]) + 1 if chosen else 0)
        for position in candidates[start:]:
            line = lines[position.line]
            if not line.isascii():
                continue  # LSP columns are UTF-16 code units; tokenize's are characters
            valid = line[: position.name_end] + "x" + line[position.name_end :]
            broken = line[: position.code_end] + "(" + line[position.code_end :]
            if _parses(lines, position.line, valid) and not _parses(lines, position.line, broken):
                chosen.append(position)
                break
    return chosen


# -- the server ------------------------------------------------------------------


class Server:
    """The language server over pipes; a reader thread queues what it sends."""

    def __init__(self, log_path: str | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO / "server") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.log = open(log_path, "wb") if log_path else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gradwatch.lsp", "--stdio", "--log-level", "info" if log_path else "warning"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log or subprocess.DEVNULL,
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
        self._write(message)
        return message_id

    def _write(self, message: dict) -> None:
        body = json.dumps(message).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def wait_for(self, predicate, timeout: float = 120.0) -> tuple[float, dict]:
        deadline = time.perf_counter() + timeout
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("the server did not answer in time")
            received_at, message = self.messages.get(timeout=remaining)
            if "id" in message and "method" in message:  # a request from the server
                if message["method"] == "workspace/configuration":
                    result = [None for _ in message["params"]["items"]]
                else:
                    result = None  # registrations, progress: accepted
                self._write({"jsonrpc": "2.0", "id": message["id"], "result": result})
            elif predicate(message):
                return received_at, message

    def initialize(self, root: Path | None) -> None:
        params = {
            "processId": os.getpid(),
            "rootUri": root.as_uri() if root else None,
            "capabilities": {"textDocument": {"publishDiagnostics": {"versionSupport": True}}},
            "initializationOptions": {"debounce": 0},
        }
        if root:
            params["workspaceFolders"] = [{"uri": root.as_uri(), "name": root.name}]
        request = self.send("initialize", params, request=True)
        self.wait_for(lambda m: m.get("id") == request)
        self.send("initialized", {})

    def open(self, uri: str, text: str) -> None:
        self.send(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, quiet: float = 1.5, timeout: float = 300.0) -> None:
        """Until the server used (almost) no CPU for `quiet` seconds, answering its requests meanwhile."""
        deadline = time.perf_counter() + timeout
        last, quiet_since = self.cpu_seconds(), time.perf_counter()
        while time.perf_counter() < deadline:
            try:
                self.wait_for(lambda m: False, timeout=0.25)
            except (TimeoutError, queue.Empty):
                pass
            now = self.cpu_seconds()
            if now - last > 0.02:
                quiet_since = time.perf_counter()
            elif time.perf_counter() - quiet_since >= quiet:
                return
            last = now

    def peak_rss_mb(self) -> tuple[float, float]:
        """VmHWM of the server, and the sum of its child processes' VmHWM."""
        return _hwm(self.process.pid), sum(_hwm(child) for child in _children(self.process.pid))

    def stop(self) -> None:
        try:
            request = self.send("shutdown", None, request=True)
            self.wait_for(lambda m: m.get("id") == request, timeout=10)
            self.send("exit", None)
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
        if self.log:
            self.log.close()


def _hwm(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found + [grandchild for child in found for grandchild in _children(child)]


def diagnostics_for(uri: str, version: int):
    return lambda m: (
        m.get("method") == "textDocument/publishDiagnostics"
        and m["params"]["uri"] == uri
        and m["params"].get("version") == version
    )


# -- the runs --------------------------------------------------------------------


def run_edits(lines: int, positions: int, log_path: str | None, write_to: str | None) -> dict:
    text, files = build_module(lines)
    if write_to:
        Path(write_to).mkdir(parents=True, exist_ok=True)
        Path(write_to, f"examples_{lines}.py").write_text(text)
    chosen = spread(text, positions)
    uri = f"file:///tmp/gradwatch-bench/examples_{lines}.py"
    server = Server(log_path)
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
    by_place: dict[tuple[str, str], list[float]] = {}
    try:
        server.initialize(None)
        server.open(uri, text)
        _, first = server.wait_for(diagnostics_for(uri, 1))
        version = 1
        for position in chosen:
            p = position
            edits = [
                ("valid", _insert(p.line, p.name_end, "x")),
                ("valid", _delete(p.line, p.name_end, 1)),
                ("syntax error", _insert(p.line, p.code_end, "(")),
                ("error fixed", _delete(p.line, p.code_end, 1)),
            ]
            for kind, change in edits:
                version += 1
                cpu_before = server.cpu_seconds()
                sent = time.perf_counter()
                server.send(
                    "textDocument/didChange",
                    {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
                )
                received_at, _ = server.wait_for(diagnostics_for(uri, version))
                elapsed = (received_at - sent) * 1000
                latencies[kind].append(elapsed)
                cpu[kind].append((server.cpu_seconds() - cpu_before) * 1000)
                by_place.setdefault((kind, p.where), []).append(elapsed)
        return {
            "lines": text.count("\n"),
            "files": len(files),
            "findings": len(first["params"]["diagnostics"]),
            "positions": len(chosen),
            "places": {where: sum(1 for p in chosen if p.where == where) for where in PLACES},
            "latencies": latencies,
            "cpu": cpu,
            "by_place": by_place,
            "peak_rss": server.peak_rss_mb(),
        }
    finally:
        server.stop()


def run_workspace(open_count: int, log_path: str | None) -> dict:
    if not (DIFFUSERS / FIRST_FILE).is_file():
        raise SystemExit(
            f"{DIFFUSERS / FIRST_FILE} is missing: fetch github:huggingface/diffusers and run "
            "`.venv/bin/python benchmarks/sweep.py --repo diffusers` first (see benchmarks/README.md)"
        )
    models = DIFFUSERS / "src" / "diffusers" / "models"
    others = sorted(
        (p for p in models.rglob("*.py") if p != DIFFUSERS / FIRST_FILE),
        key=lambda p: (-p.stat().st_size, str(p)),
    )[:open_count]
    server = Server(log_path)
    try:
        started = time.perf_counter()
        server.initialize(DIFFUSERS)
        first = DIFFUSERS / FIRST_FILE
        server.open(first.as_uri(), first.read_text(encoding="utf-8"))
        received_at, _ = server.wait_for(diagnostics_for(first.as_uri(), 1))
        first_diagnostics = received_at - started
        opened_at = time.perf_counter()
        for path in others:
            server.open(path.as_uri(), path.read_text(encoding="utf-8"))
        for path in others:
            server.wait_for(diagnostics_for(path.as_uri(), 1), timeout=300)
        all_published = time.perf_counter() - opened_at
        server.wait_idle()
        return {
            "first_diagnostics_s": first_diagnostics,
            "opened": 1 + len(others),
            "opened_lines": sum(p.read_text(encoding="utf-8").count("\n") for p in [first, *others]),
            "all_published_s": all_published,
            "settled_s": time.perf_counter() - opened_at,
            "peak_rss": server.peak_rss_mb(),
        }
    finally:
        server.stop()


def _insert(line: int, column: int, text: str) -> dict:
    return {"range": _range(line, column, line, column), "text": text}


def _delete(line: int, column: int, length: int) -> dict:
    return {"range": _range(line, column, line, column + length), "text": ""}


def _range(line: int, start: int, end_line: int, end: int) -> dict:
    return {"start": {"line": line, "character": start}, "end": {"line": end_line, "character": end}}


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# -- the report ------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, action="append", help="module size (repeatable); default 1000 and 5000")
    parser.add_argument("--positions", type=int, default=40, help="edit positions per module, 4 edits each (default 40)")
    parser.add_argument("--open", type=int, default=10, help="files opened in the workspace after the first (default 10)")
    parser.add_argument("--no-workspace", action="store_true", help="skip the diffusers workspace")
    parser.add_argument("--workspace-only", action="store_true", help="only the diffusers workspace")
    parser.add_argument("--log", metavar="PREFIX", help="write each server's stderr (log level info) to PREFIX-<run>.log")
    parser.add_argument("--write-module", metavar="FOLDER", help="also write the generated modules there")
    args = parser.parse_args()
    sizes = [] if args.workspace_only else (args.lines or [1000, 5000])
    print(f"gradwatch LSP benchmark: debounce 0, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}")
    all_met = True

    def row(name: str, value: str, met: bool | None, target: str = "") -> None:
        nonlocal all_met
        verdict = "" if met is None else (f"ok (target {target})" if met else f"MISSED (target {target})")
        print(f"  {name:34} {value:>22}  {verdict}")
        all_met = all_met and met is not False

    for lines in sizes:
        log = f"{args.log}-{lines}.log" if args.log else None
        result = run_edits(lines, args.positions, log, args.write_module)
        target = TARGET_P95_MS.get(lines, TARGET_P95_MS[5000] * lines / 5000)
        places = ", ".join(f"{count} {where}" for where, count in result["places"].items())
        print(
            f"\n{result['lines']} lines from {result['files']} pytorch/examples files, {result['findings']} findings; "
            f"{result['positions']} positions ({places}), 4 edits each:"
        )
        print(f"  {'kind (edits)':34} {'median / p95 (CPU)':>22}")
        for kind in KINDS:
            values = result["latencies"][kind]
            median, p95 = statistics.median(values), _percentile(values, 95)
            cpu = statistics.median(result["cpu"][kind])
            row(f"{kind} ({len(values)})", f"{median:.1f} / {p95:.1f} ms ({cpu:.0f})", p95 <= target, f"p95 <= {target:.0f} ms")
        print(f"  median by place ({' / '.join(PLACES)}):")
        for kind in KINDS:
            medians = []
            for where in PLACES:
                values = result["by_place"].get((kind, where))
                medians.append(f"{statistics.median(values):.0f}" if values else "-")
            print(f"    {kind:32} {' / '.join(medians):>22} ms")
        server_mb, children_mb = result["peak_rss"]
        row("server peak RSS (VmHWM)", f"{server_mb:.0f} MB" + (f" + {children_mb:.0f}" if children_mb else ""), None)

    if not args.no_workspace:
        log = f"{args.log}-workspace.log" if args.log else None
        result = run_workspace(args.open, log)
        print(
            f"\ndiffusers workspace: {FIRST_FILE} first, then {result['opened'] - 1} more model files "
            f"({result['opened_lines']:,} lines open; all published after {result['all_published_s']:.1f} s, "
            f"idle after {result['settled_s']:.1f} s):"
        )
        row(
            "initialize -> first diagnostics",
            f"{result['first_diagnostics_s']:.2f} s",
            result["first_diagnostics_s"] <= TARGET_FIRST_DIAGNOSTICS_S,
            f"<= {TARGET_FIRST_DIAGNOSTICS_S:.0f} s",
        )
        server_mb, children_mb = result["peak_rss"]
        row(
            "peak RSS (VmHWM) server + children",
            f"{server_mb:.0f} + {children_mb:.0f} MB",
            server_mb + children_mb <= TARGET_PEAK_RSS_MB,
            f"<= {TARGET_PEAK_RSS_MB:.0f} MB",
        )
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
