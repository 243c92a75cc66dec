"""A batch of fuzz inputs through `gradwatch check` as a user runs it.

The batch is written as files into a folder (some in encodings other than
UTF-8), then checked: once as the baseline, once per (PYTHONHASHSEED, --jobs)
variant whose output must be byte-identical to it, and once with --fix, after
which every file that parsed must still parse.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fuzz_inputs import REPO
from fuzz_oracles import Failure, new_failure
from fuzz_syntax import parses

CLI_TIMEOUT_SECONDS = 300
_INTERNAL_ERROR = re.compile(r"^(?P<path>.+?): internal error", re.MULTILINE)


def as_file_bytes(text: str, how: str) -> bytes:
    """`text` as a file on disk: "utf-8", "utf-8-sig", "latin-1" (with a coding cookie), "utf-16", "bad-byte"."""
    if how == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    if how == "latin-1":
        try:
            return ("# -*- coding: latin-1 -*-\n" + text).encode("latin-1")
        except UnicodeEncodeError:
            pass
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    data = text.encode("utf-8", "surrogatepass")
    if how == "bad-byte" and data:
        middle = len(data) // 2
        return data[:middle] + b"\xff" + data[middle:]
    return data


def _run(folder: Path, *options: str, hash_seed: int = 0, jobs: int = 1) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHONHASHSEED", "GRADWATCH"))}
    env["PYTHONHASHSEED"] = str(hash_seed)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "server"), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "gradwatch", "check", "--exit-zero", "-j", str(jobs), *options, "."]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, timeout=CLI_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL
    )


def check_batch(files: dict[str, bytes], variants: list[tuple[int, int]], folder: Path) -> list[Failure]:
    """Failures of the CLI on `files` (name -> content); `variants` are (hash seed, jobs) pairs."""
    if folder.exists():
        shutil.rmtree(folder)
    checked = folder / "check"
    checked.mkdir(parents=True)
    # An empty pyproject.toml: default settings, and the search for one stops here.
    (checked / "pyproject.toml").write_text("")
    for name, data in files.items():
        (checked / name).write_bytes(data)
    failures: list[Failure] = []
    baseline = _run(checked, "--format", "json")
    failures += _exit_failures(baseline, files, "check")
    for hash_seed, jobs in variants:
        other = _run(checked, "--format", "json", hash_seed=hash_seed, jobs=jobs)
        if (other.returncode, other.stdout) != (baseline.returncode, baseline.stdout):
            what = f"PYTHONHASHSEED=0 -j 1 against PYTHONHASHSEED={hash_seed} -j {jobs}"
            failures += _differences(baseline, other, files, what)
    fixed = folder / "fix"
    shutil.copytree(checked, fixed)
    failures += _exit_failures(_run(fixed, "--fix", jobs=2), files, "check --fix")
    for name, data in files.items():
        before, after = _decoded(data), _decoded((fixed / name).read_bytes())
        if before is not None and before != after and parses(before) and not (after is not None and parses(after)):
            failures.append(
                new_failure("cli_fix_breaks", "written file", f"{name}: --fix wrote code that does not parse", data=data)
            )
    shutil.rmtree(folder, ignore_errors=True)
    return failures


def _decoded(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _exit_failures(run: subprocess.CompletedProcess, files: dict[str, bytes], what: str) -> list[Failure]:
    if run.returncode in (0, 1):  # 1 cannot happen with --exit-zero, but it is not a crash
        return []
    stderr = run.stderr.decode("utf-8", "replace")
    culprits = [m.group("path") for m in _INTERNAL_ERROR.finditer(stderr) if m.group("path") in files]
    detail = f"`gradwatch {what}` exited {run.returncode}:\n{stderr[-3000:]}"
    if not culprits:
        return [new_failure("cli_exit_2", f"{what}:exit {run.returncode}", detail, data=b"")]
    return [
        new_failure("cli_exit_2", f"{what}:{_error_type(stderr, name)}", f"{name}\n{detail}", data=files[name])
        for name in culprits
    ]


def _error_type(stderr: str, name: str) -> str:
    match = re.search(re.escape(name) + r": internal error[^:]*: (\w+)", stderr)
    return match.group(1) if match else "internal error"


def _differences(
    baseline: subprocess.CompletedProcess, other: subprocess.CompletedProcess, files: dict[str, bytes], what: str
) -> list[Failure]:
    try:
        first, second = _by_path(baseline.stdout), _by_path(other.stdout)
    except ValueError:
        detail = f"{what}: outputs differ (exit {baseline.returncode} and {other.returncode}); not JSON"
        return [new_failure("nondeterministic_hash_seed", "whole output", detail, data=b"")]
    failures = []
    for path in sorted(set(first) | set(second)):
        if first.get(path) != second.get(path):
            a, b = first.get(path, []), second.get(path, [])
            pairs = [(x, y) for x, y in zip(a, b) if x != y] or [(a, b)]
            first_item, second_item = (json.dumps(item)[:2000] for item in pairs[0])
            detail = f"{what}: findings of {path} differ\n- {first_item}\n+ {second_item}"
            codes = ",".join(sorted({item.get("code", "?") for item in a + b if isinstance(item, dict)}))
            name = Path(path).name
            failures.append(
                new_failure("nondeterministic_hash_seed", f"{codes}", detail, data=files.get(name, b""))
            )
    if not failures:
        detail = f"{what}: exit codes {baseline.returncode} and {other.returncode}"
        failures.append(new_failure("nondeterministic_hash_seed", "exit code", detail, data=b""))
    return failures


def _by_path(stdout: bytes) -> dict[str, list]:
    items = json.loads(stdout.decode("utf-8"))
    grouped: dict[str, list] = {}
    for item in items:
        grouped.setdefault(item.get("path", "?"), []).append(item)
    return grouped
