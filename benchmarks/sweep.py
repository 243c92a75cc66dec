"""The precision sweep: gradwatch over pinned snapshots of real PyTorch code.

The snapshots are other projects' code, so none of it lives in this repository.
`sweep-repos.json` (next to this file) pins each one: a GitHub repository at a
commit, or a release wheel from PyPI, and the subfolders to sweep. This script
lays their `.py` files out again in a work folder outside the repository
(default ~/.cache/gradwatch/sweep/<owner+name>/), reading GitHub snapshots from
bare git mirrors (default /work/.mirror/<owner+name>/..., as the search tool's
`fetch` verb leaves them) and wheels with `pip download`. It then runs
`python -m gradwatch check --format json --exit-zero .` in each folder, one
repository at a time, and prints a table: files, lines, findings by severity
and seconds per repository.

    python benchmarks/sweep.py                      # every repository
    python benchmarks/sweep.py --repo nanoGPT --list
    python benchmarks/sweep.py --list --json /tmp/sweep.json
    python benchmarks/sweep.py --pin                # record the mirrors' HEADs

Run it with the interpreter gradwatch is installed in (or PYTHONPATH=server):
the check runs as `sys.executable -m gradwatch`. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPOS_FILE = Path(__file__).resolve().parent / "sweep-repos.json"
DEFAULT_WORKDIR = Path("~/.cache/gradwatch/sweep")
DEFAULT_MIRRORS = Path("/work/.mirror")
SEVERITIES = ("error", "warning", "information", "hint")
MARKER = ".gradwatch-sweep.json"  # what a work folder holds; lets a rerun skip the lay-out
# Makes each work folder the project root (find_pyproject stops here), so
# cross-module analysis follows imports across the whole snapshot.
PYPROJECT_STUB = "# Written by gradwatch's benchmarks/sweep.py: this folder is the project root.\n"


class SweepError(Exception):
    """One repository cannot be swept; the message says why and what to do."""


@dataclass
class Result:
    entry: dict
    files: int = 0
    lines: int = 0
    absent: int = 0  # blobs missing from the snapshot (large files are left out of it)
    seconds: float = 0.0
    findings: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files gradwatch could not check
    skipped: str | None = None  # why the repository was not swept

    def count(self, severity: str) -> int:
        return sum(1 for finding in self.findings if finding["severity"] == severity)


# ---------------------------------------------------------------- the pinned list


def load_repos(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["repositories"]
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f"sweep: cannot read the repository list {path}: {error}")


def slug(entry: dict) -> str:
    """`owner/name` -> `owner+name`, the folder name of mirrors and work folders."""
    return entry["repo"].replace("/", "+")


def version(entry: dict) -> str:
    """What the entry is pinned to: a commit, or a wheel's version."""
    return entry["wheel"].split("==")[1] if "wheel" in entry else entry["commit"][:10]


def matches(entry: dict, name: str) -> bool:
    """`--repo` takes `owner/name`, `name`, or the wheel's project name, any case."""
    names = {entry["repo"], entry["repo"].split("/")[1]}
    if "wheel" in entry:
        names.add(entry["wheel"].split("==")[0])
    return name.lower() in {each.lower() for each in names}


# ---------------------------------------------------------------- laying the files out


def find_git_dir(mirrors: Path, entry: dict) -> Path:
    folder = mirrors / slug(entry)
    for candidate in [folder, *sorted(folder.glob("*")), *sorted(folder.glob("*/*"))]:
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    raise SweepError(
        f"no git snapshot under {folder}: fetch it first (search tool: fetch github:{entry['repo']}), "
        "or point --mirrors at the folder that holds it"
    )


def git(git_dir: Path, *args: str) -> bytes:
    done = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise SweepError(f"git {args[0]} failed in {git_dir}: {message}")
    return done.stdout


def python_blobs(git_dir: Path, commit: str, paths: list[str]) -> list[tuple[str, str]]:
    """(blob id, path) of every .py file under `paths` at `commit`; symbolic links left out."""
    listing = git(git_dir, "ls-tree", "-r", "-z", commit, "--", *paths).decode("utf-8", "surrogateescape")
    blobs = []
    for record in filter(None, listing.split("\0")):
        meta, path = record.split("\t", 1)
        mode, kind, blob = meta.split()
        if kind == "blob" and mode != "120000" and path.endswith(".py"):
            blobs.append((blob, path))
    return blobs


def lay_out_git(entry: dict, mirrors: Path, dest: Path) -> int:
    """Write the pinned commit's .py files under `dest`; returns how many blobs were absent."""
    git_dir = find_git_dir(mirrors, entry)
    commit = entry["commit"]
    check = ["git", f"--git-dir={git_dir}", "cat-file", "-e", f"{commit}^{{commit}}"]
    if subprocess.run(check, capture_output=True).returncode != 0:
        head = git(git_dir, "rev-parse", "HEAD").decode().strip()
        raise SweepError(
            f"the pinned commit {commit[:10]} is not in {git_dir} (its HEAD is {head[:10]}): "
            f"fetch github:{entry['repo']} again, or re-pin with --pin"
        )
    blobs = python_blobs(git_dir, commit, entry["paths"])
    if not blobs:
        raise SweepError(f"no .py files under {', '.join(entry['paths'])} at {commit[:10]}: check 'paths'")
    absent = 0
    # One `cat-file --batch` reads the blobs one by one; a blob the snapshot lacks answers "<id> missing".
    with subprocess.Popen(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as batch:
        for blob, path in blobs:
            batch.stdin.write(blob.encode() + b"\n")
            batch.stdin.flush()
            header = batch.stdout.readline().split()
            if header[1:] == [b"missing"]:
                absent += 1
                continue
            if len(header) != 3:
                raise SweepError(f"git cat-file --batch stopped at {path} in {git_dir}")
            data = batch.stdout.read(int(header[2]))
            batch.stdout.read(1)  # the newline after each object
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        batch.stdin.close()
    return absent


def lay_out_wheel(entry: dict, dest: Path) -> int:
    """Download the pinned wheel (pip, no dependencies) and unpack its .py files under `paths`."""
    with tempfile.TemporaryDirectory(prefix="gradwatch-sweep-") as download:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        done = subprocess.run([*command, "--dest", download, entry["wheel"]], capture_output=True, text=True)
        wheels = list(Path(download).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise SweepError(f"pip download {entry['wheel']} failed: {last}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = [
                name for name in wheel.namelist()
                if name.endswith(".py") and any(name.startswith(path.rstrip("/") + "/") for path in entry["paths"])
            ]
            if not names:
                raise SweepError(f"{wheels[0].name} has no .py files under {', '.join(entry['paths'])}")
            for name in names:
                target = dest / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(wheel.read(name))
    return 0


def prepare(entry: dict, workdir: Path, mirrors: Path) -> tuple[Path, int]:
    """The entry's work folder, laid out unless a previous run already did it for the same pin."""
    dest = workdir / slug(entry)
    pin = {key: entry.get(key) for key in ("repo", "commit", "wheel", "paths")}
    marker = dest / MARKER
    if marker.is_file():
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        if recorded.get("pin") == pin:
            return dest, recorded.get("absent", 0)
        shutil.rmtree(dest)  # made by this script for another pin
    elif dest.exists() and any(dest.iterdir()):
        raise SweepError(f"{dest} exists and was not made by this script: remove it or choose another --workdir")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        absent = lay_out_wheel(entry, dest) if "wheel" in entry else lay_out_git(entry, mirrors, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # no half-made folder that a rerun would trust
        raise
    (dest / "pyproject.toml").write_text(PYPROJECT_STUB, encoding="utf-8")
    marker.write_text(json.dumps({"pin": pin, "absent": absent}), encoding="utf-8")
    return dest, absent


# ---------------------------------------------------------------- checking


def measure(dest: Path) -> tuple[int, int]:
    """Files and lines that `gradwatch check .` looks at (the same discovery: hidden folders are skipped)."""
    from gradwatch.discovery import discover_python_files

    files = discover_python_files([dest])
    return len(files), sum(len(path.read_bytes().splitlines()) for path in files)


def run_check(dest: Path, cross_module: bool) -> tuple[list[dict], list[str], float]:
    """Findings (paths relative to `dest`), problem lines from stderr, and wall-clock seconds."""
    command = [sys.executable, "-m", "gradwatch", "check", "--format", "json", "--exit-zero", "."]
    if not cross_module:
        command.append("--no-cross-module")
    start = time.perf_counter()
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(command, cwd=dest, env=environment, capture_output=True, encoding="utf-8", errors="replace")
    seconds = time.perf_counter() - start
    try:
        findings = json.loads(done.stdout)
    except ValueError:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or f"exit code {done.returncode}, no output"
        raise SweepError(f"gradwatch check did not produce JSON: {tail}") from None
    return findings, done.stderr.strip().splitlines(), seconds


def sweep(entry: dict, args: argparse.Namespace) -> Result:
    result = Result(entry)
    try:
        dest, result.absent = prepare(entry, args.workdir, args.mirrors)
        result.files, result.lines = measure(dest)
        result.findings, result.problems, result.seconds = run_check(dest, not args.no_cross_module)
    except SweepError as error:
        result.skipped = str(error)
    return result


# ---------------------------------------------------------------- output


def progress(index: int, total: int, result: Result) -> None:
    head = f"[{index}/{total}] {result.entry['repo']} @ {version(result.entry)}:"
    if result.skipped:
        print(f"{head} SKIPPED: {result.skipped}", file=sys.stderr)
        return
    notes = [f"{result.absent} blobs absent"] if result.absent else []
    notes += [f"{len(result.problems)} gradwatch messages on stderr"] if result.problems else []
    print(
        f"{head} {result.files} files, {result.lines} lines, {len(result.findings)} findings "
        f"in {result.seconds:.1f} s" + (f" ({'; '.join(notes)})" if notes else ""),
        file=sys.stderr,
        flush=True,
    )


def print_table(results: list[Result]) -> None:
    """One row per swept repository, a total row, then a line per skipped repository."""
    swept = [result for result in results if not result.skipped]
    rows = [
        [r.entry["repo"], version(r.entry), r.files, r.lines, *(r.count(s) for s in SEVERITIES), f"{r.seconds:.1f}"]
        for r in swept
    ]
    if len(rows) > 1:
        totals = [sum(row[column] for row in rows) for column in range(2, 8)]
        rows.append(["total", "", *totals, f"{sum(r.seconds for r in swept):.1f}"])
    table = [["repository", "commit", "files", "lines", *SEVERITIES, "seconds"], *rows]
    table = [[str(cell) for cell in row] for row in table]
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    rule = "  ".join("-" * width for width in widths)
    for number, row in enumerate(table if swept else []):
        if number == len(table) - 1 and len(swept) > 1:
            print(rule)  # above the total
        # Names left-aligned, numbers right-aligned.
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if number == 0:
            print(rule)
    if not swept:
        print("nothing swept")
    for result in results:
        if result.skipped:
            print(f"skipped {result.entry['repo']}: {result.skipped}")


def print_list(results: list[Result]) -> None:
    """Every error and warning finding, per repository (paths relative to its work folder)."""
    for result in results:
        if result.skipped:
            continue
        shown = [f for f in result.findings if f["severity"] in ("error", "warning")]
        print(f"\n## {result.entry['repo']} @ {version(result.entry)}: {len(shown)} errors and warnings")
        for f in sorted(shown, key=lambda f: (f["path"], f["line"], f["column"])):
            print(f"{f['path']}:{f['line']}:{f['column']} {f['code']} {f['message']}")
        for problem in result.problems:
            print(f"(not checked) {problem}")


def write_json(results: list[Result], path: Path, workdir: Path) -> None:
    document = {"workdir": str(workdir), "repositories": []}
    for r in results:
        item = {**r.entry, "skipped": r.skipped}
        if not r.skipped:
            item.update(
                files=r.files, lines=r.lines, absent_blobs=r.absent, seconds=round(r.seconds, 2),
                counts={s: r.count(s) for s in SEVERITIES}, problems=r.problems, findings=r.findings,
            )
        document["repositories"].append(item)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- pinning


def pin(entries: list[dict], mirrors: Path) -> int:
    """Record each mirror's HEAD as the entry's commit (wheels keep their pin); rewrites the list."""
    for entry in entries:
        if "wheel" in entry:
            continue
        try:
            head = git(find_git_dir(mirrors, entry), "rev-parse", "HEAD").decode().strip()
        except SweepError as error:
            print(f"sweep: {entry['repo']} keeps {entry.get('commit', 'no commit')}: {error}", file=sys.stderr)
            continue
        if entry.get("commit") != head:
            print(f"sweep: {entry['repo']}: {entry.get('commit', 'none')} -> {head}", file=sys.stderr)
            entry["commit"] = head
    document = json.loads(REPOS_FILE.read_text(encoding="utf-8"))
    # One repository a line, as the file is written by hand.
    rows = ",\n".join(f"    {json.dumps(entry)}" for entry in entries)
    about = json.dumps(document.get("about", ""))
    REPOS_FILE.write_text(f'{{\n  "about": {about},\n  "repositories": [\n{rows}\n  ]\n}}\n', encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", metavar="NAME", help="sweep only this repository (owner/name or name)")
    parser.add_argument("--list", action="store_true", help="also print every error and warning finding")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write every finding to this JSON file")
    parser.add_argument("--no-cross-module", action="store_true", help="passed on to gradwatch check")
    parser.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help="where the files are laid out (default: %(default)s)"
    )
    parser.add_argument(
        "--mirrors", type=Path, default=DEFAULT_MIRRORS, help="where the git snapshots are (default: %(default)s)"
    )
    parser.add_argument(
        "--pin", action="store_true", help=f"record the mirrors' HEAD commits in {REPOS_FILE.name} and exit"
    )
    args = parser.parse_args(argv)
    args.workdir = args.workdir.expanduser().resolve()

    entries = load_repos(REPOS_FILE)
    if args.pin:
        return pin(entries, args.mirrors)
    if args.repo:
        entries = [entry for entry in entries if matches(entry, args.repo)]
        if not entries:
            known = ", ".join(entry["repo"] for entry in load_repos(REPOS_FILE))
            parser.error(f"no repository {args.repo!r} in {REPOS_FILE.name} (known: {known})")
    try:
        import gradwatch  # noqa: F401  (the check runs as `sys.executable -m gradwatch`)
    except ImportError:
        raise SystemExit(
            f"sweep: gradwatch is not importable from {sys.executable}: run this script with the venv's python, "
            "or set PYTHONPATH=server"
        )

    results = []
    for index, entry in enumerate(entries, 1):
        results.append(sweep(entry, args))
        progress(index, len(entries), results[-1])
    print_table(results)
    if args.list:
        print_list(results)
    if args.json:
        write_json(results, args.json, args.workdir)
    return 1 if any(result.skipped for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
