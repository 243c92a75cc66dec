"""`gradwatch explain-error`: read a torch error and its traceback, say what happened and where.

The input is what a user pastes: Python's traceback (chained ones too), the
final `RuntimeError: ...` line, and what anomaly mode printed before it (the
forward call of the op whose backward failed). Recognising an error is text
matching on torch's messages; the lines to look at come from the traceback's
frames in the user's own files and from gradwatch's static analysis of those
files (`check_source`), filtered to the rules that predict that very error.

Nothing here imports torch or runs the user's code: it must answer at once,
also on a machine without torch (pasting an error from a cluster job).
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from gradwatch.torch_errors import KINDS, Kind

EXIT_RECOGNISED = 0
EXIT_UNRECOGNISED = 1
EXIT_USAGE = 2

# The most findings listed per error (the best-matching first); the rest are counted.
MAX_FINDINGS = 8
# A pasted log larger than this is cut to its last part (where the traceback is).
MAX_INPUT_CHARS = 2_000_000


# Details torch puts in the in-place message; the node name is `SigmoidBackward0` (or, under
# anomaly mode, `Sigmoid`), or `torch::autograd::CopySlices` for a write into a slice.
_INPLACE_DETAILS = re.compile(
    r"modified by an inplace operation: \[(?P<type>[\w.]+) \[(?P<shape>[^\]]*)\]\]"
    r"(?:, which is output (?P<output>\d+) of (?P<node>[\w:]+))?,? is at version (?P<now>\d+); "
    r"expected version (?P<expected>\d+) instead"
)
# What `gradwatch run` adds to that message when it saw the write.
_RUNTIME_NOTE = re.compile(
    r"gradwatch: it was modified by `(?P<write>[^`]*)` at (?P<where>\S+?:\d+)"
    r"(?:, after `(?P<saver>[^`]*)` at (?P<saved>\S+?:\d+) saved it)?"
)
_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+?))?\s*$')
# IPython and Jupyter: `File ~/project/train.py:12, in step(model)`, followed by context lines.
_IPYTHON_FRAME = re.compile(r"^\s*File (?P<path>(?:~|/|[A-Za-z]:\\)[^:]*?\.py):(?P<line>\d+)(?:, in (?P<function>[^(]+))?")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ANOMALY = re.compile(r"Error detected in (?P<node>[\w:]+)\. Traceback of forward call that caused the error:")
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?(?P<type>[A-Za-z_]\w*(?:Error|Exception|Warning)): (?P<message>.*)$")


@dataclass(frozen=True)
class Frame:
    path: str
    line: int
    function: str
    text: str  # the source line as the traceback quoted it ("" when it did not)


@dataclass
class ParsedError:
    message: str  # the error line as pasted ("RuntimeError: ..."), "" if none was found
    frames: list[Frame] = field(default_factory=list)  # every traceback's frames, outermost first
    forward_frames: list[Frame] = field(default_factory=list)  # anomaly mode's forward traceback
    failed_node: str | None = None  # anomaly mode's "Error detected in XBackward0"


def parse_error(text: str) -> ParsedError:
    lines = _ANSI.sub("", text).splitlines()
    frames: list[Frame] = []
    forward: list[Frame] = []
    failed_node = None
    message = ""
    in_forward = False
    for index, line in enumerate(lines):
        anomaly = _ANOMALY.search(line)
        if anomaly:
            failed_node = anomaly.group("node")
            in_forward = True
            continue
        if line.startswith("Traceback (most recent call last)"):
            in_forward = False
            continue
        frame = _FRAME.match(line)
        if frame:
            quoted = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if _FRAME.match(quoted or "") or quoted.startswith("(Triggered"):
                quoted = ""
            item = Frame(frame.group("path"), int(frame.group("line")), frame.group("function") or "", quoted)
            (forward if in_forward else frames).append(item)
            continue
        frame = _IPYTHON_FRAME.match(line)
        if frame:
            path = os.path.expanduser(frame.group("path"))
            # The lines after it are context with an arrow: the source is read from the file instead.
            item = Frame(path, int(frame.group("line")), (frame.group("function") or "").strip(), "")
            (forward if in_forward else frames).append(item)
            continue
        if in_forward and line and not line.startswith((" ", "\t")):
            in_forward = False
        exception = _EXCEPTION_LINE.match(line.strip())
        if exception and not exception.group("type").endswith("Warning"):
            message = line.strip()
    if not message:
        # No `XxxError: ...` line (a message pasted alone, or quoted inside a log line).
        message = next((line.strip() for line in lines if any(k.pattern.search(line) for k in KINDS)), "")
    return ParsedError(message, frames, forward, failed_node)


def recognise(parsed: ParsedError, text: str) -> Kind | None:
    for haystack in (parsed.message, text):
        for kind in KINDS:
            if kind.pattern.search(haystack):
                return kind
    return None


# ---------------------------------------------------------------- which files are the user's


def _library_folders() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    folders = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths}
    folders.add(os.path.dirname(os.path.abspath(__file__)))  # gradwatch itself
    return tuple(os.path.join(os.path.realpath(folder), "") for folder in folders if folder)


_LIBRARY_MARKERS = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")


def _is_torch_source(path: str) -> bool:
    """A file of a torch source checkout (an editable install is not under site-packages)."""
    folder = os.path.dirname(path)
    while True:
        if os.path.basename(folder) == "torch" and os.path.isfile(os.path.join(folder, "_tensor.py")):
            return True
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent


def user_file(path: str, cwd: str, libraries: tuple[str, ...]) -> str | None:
    """The real path of a traceback's file if it is the user's own and can be read, else None."""
    if path.startswith("<") or not path.endswith(".py"):
        return None  # <stdin>, <string>, <frozen runpy>, notebooks' <ipython-input-...>
    full = os.path.realpath(os.path.join(cwd, path))
    if not os.path.isfile(full):
        return None
    if any(marker in full for marker in _LIBRARY_MARKERS) or full.startswith(libraries):
        return None
    return None if _is_torch_source(full) else full


# ---------------------------------------------------------------- static findings


@dataclass(frozen=True)
class Lead:
    """A static finding of one of the error's rules, and how well it fits the traceback."""

    path: str
    finding: object  # gradwatch.findings.Finding
    score: int


def _settings_for(path: str):
    from gradwatch.config import ConfigError, Settings, find_pyproject, settings_from_file

    pyproject = find_pyproject(Path(path))
    if pyproject is None:
        return Settings()
    try:
        return settings_from_file(pyproject)
    except (ConfigError, OSError):
        return Settings()


def static_findings(paths: Sequence[str]) -> tuple[dict[str, list], list[str]]:
    """Findings per file (check_source, no cross-module analysis), and the files it could not check."""
    from gradwatch.checker import UnreadableFile, check_source, read_python_file

    found: dict[str, list] = {}
    problems = []
    for path in paths:
        try:
            text = read_python_file(Path(path))
        except UnreadableFile as error:
            problems.append(f"{path}: {error}")
            continue
        found[path] = check_source(text, path, _settings_for(path), names=False).findings
    return found, problems


def rank_leads(
    findings: dict[str, list], codes: Sequence[str], trace_lines: set[tuple[str, int]], op: str | None
) -> list[Lead]:
    """The findings of `codes`, best first: those whose lines the traceback passes through, then
    those that name the saved tensor's op, then in file order."""
    leads = []
    for path, items in findings.items():
        for finding in items:
            if finding.code not in codes:
                continue
            lines = {finding.span.line} | {r.span.line for r in finding.related if r.path in (None, path)}
            score = 2 * len({(path, line) for line in lines} & trace_lines)
            if op and f"`{op}`" in finding.message:
                score += 1
            leads.append(Lead(path, finding, score))
    leads.sort(key=lambda lead: (-lead.score, codes.index(lead.finding.code), lead.path, lead.finding.span))
    return leads


# ---------------------------------------------------------------- the saved tensor


def op_of_node(node: str) -> str:
    """`SigmoidBackward0` -> `sigmoid`; `AddmmBackward0` -> `addmm`; `NativeBatchNormBackward0` ->
    `native_batch_norm`; `torch::autograd::CopySlices` -> `CopySlices` (kept: it is no op)."""
    name = node.rsplit("::", 1)[-1]
    stripped = re.sub(r"Backward\d*$", "", name)
    if stripped == name and "::" in node:
        return name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", stripped).lower()


@dataclass(frozen=True)
class SavedInfo:
    dtype: str
    shape: str
    node: str | None
    output: int | None
    op: str | None
    version_now: int
    version_expected: int

    def describe(self) -> str:
        shape = f"shape [{self.shape}]" if self.shape else "a single element"
        what = f"a {self.dtype} of {shape}"
        writes = self.version_now - self.version_expected
        times = "once" if writes == 1 else f"{writes} times"
        if self.node is None:
            origin = (
                f"The tensor backward needed is {what} that was not computed by an op (a leaf: a tensor you "
                "created, an input or a parameter) and that another op saved as its input."
            )
        elif self.op == "CopySlices":
            origin = (
                f"The tensor backward needed is {what}: output {self.output} of CopySlices, i.e. a tensor that "
                "was itself written into through indexing (`x[i] = v`) and then saved by a later op."
            )
        else:
            origin = (
                f"The tensor backward needed is {what}: output {self.output} of {self.node}, i.e. the result of "
                f"`{self.op}`."
            )
        return (
            f"{origin} It was saved at version {self.version_expected}; when backward ran it was at version "
            f"{self.version_now}: it was modified in place {times} in between."
        )


def saved_info(message: str) -> SavedInfo | None:
    match = _INPLACE_DETAILS.search(message)
    if match is None:
        return None
    node = match.group("node")
    return SavedInfo(
        match.group("type"),
        match.group("shape").strip(),
        node,
        int(match.group("output")) if match.group("output") else None,
        op_of_node(node) if node else None,
        int(match.group("now")),
        int(match.group("expected")),
    )


# ---------------------------------------------------------------- the explanation


@dataclass
class Explanation:
    recognised: bool
    text: str
    kind: Kind | None = None
    saved: SavedInfo | None = None
    user_frames: list[Frame] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)


def _display(path: str, cwd: str) -> str:
    try:
        relative = os.path.relpath(path, cwd)
    except ValueError:
        return path
    return path if relative.startswith(os.pardir) else relative


def _source_line(path: str, line: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, 1):
                if number == line:
                    return text.strip()
    except OSError:
        pass
    return ""


def explain(text: str, cwd: str | None = None) -> Explanation:
    cwd = cwd or os.getcwd()
    text = text[-MAX_INPUT_CHARS:]
    parsed = parse_error(text)
    kind = recognise(parsed, text)
    if kind is None:
        shown = parsed.message or "(no error line found)"
        return Explanation(
            False,
            "gradwatch explain-error: not a torch autograd error gradwatch recognises:\n"
            f"  {shown[:300]}\n"
            "It recognises torch's errors about in-place changes to saved tensors, backward through a freed "
            "graph, backward without a graph or on a non-scalar, in-place changes to leaf tensors, .numpy() on "
            "tensors that require grad, and torch.autograd.grad's and requires_grad's errors.\n",
        )
    libraries = _library_folders()
    out: list[str] = []
    error_line = parsed.message or kind.pattern.pattern
    out.append(f"gradwatch explain-error: {kind.title}.")
    out.append(f"  {error_line if len(error_line) <= 400 else error_line[:397] + '...'}")
    out.append("")
    out.append("What happened:")
    out.extend(_wrap(kind.explanation, "  "))

    saved = saved_info(text) if kind.name == "inplace-on-saved-tensor" else None
    if saved is not None:
        out.append("")
        out.extend(_wrap(saved.describe(), "  "))

    # The user's frames, innermost last, with the files they are in.
    user_frames = []
    for frame in parsed.frames:
        real = user_file(frame.path, cwd, libraries)
        if real is not None:
            user_frames.append(Frame(real, frame.line, frame.function, frame.text or _source_line(real, frame.line)))
    forward_frames = []
    for frame in parsed.forward_frames:
        real = user_file(frame.path, cwd, libraries)
        if real is not None:
            forward_frames.append(Frame(real, frame.line, frame.function, frame.text or _source_line(real, frame.line)))
    runtime = _RUNTIME_NOTE.search(text)

    out.append("")
    if user_frames:
        out.append("Where it was raised, in your code (innermost last):")
        for frame in _unique_frames(user_frames):
            out.append(f"  {_display(frame.path, cwd)}:{frame.line}  {frame.text}".rstrip())
    else:
        out.append("The traceback shows none of your files (or they are not on this machine at these paths).")
    if forward_frames:
        node = f" ({parsed.failed_node})" if parsed.failed_node else ""
        out.append(f"The forward call of the op whose backward failed{node}, from anomaly mode:")
        for frame in _unique_frames(forward_frames):
            out.append(f"  {_display(frame.path, cwd)}:{frame.line}  {frame.text}".rstrip())
    if runtime:
        out.append(f"`gradwatch run` saw the write: `{runtime.group('write')}` at {runtime.group('where')}")
        if runtime.group("saved"):
            out.append(f"  after `{runtime.group('saver')}` at {runtime.group('saved')} saved the tensor.")

    files = list(dict.fromkeys(frame.path for frame in user_frames + forward_frames))
    findings, problems = static_findings(files)
    trace_lines = {(frame.path, frame.line) for frame in user_frames + forward_frames}
    op = saved.op if saved is not None else None
    leads = rank_leads(findings, kind.codes, trace_lines, op)
    fallback = not leads and bool(kind.fallback_codes)
    if fallback:
        leads = rank_leads(findings, kind.fallback_codes, trace_lines, op)

    out.append("")
    codes = ", ".join(kind.codes)
    if not files:
        out.append(f"No file to analyse, so no static findings ({codes}).")
    elif leads:
        names = ", ".join(sorted({lead.finding.code for lead in leads}))
        if fallback:
            out.append(
                f"gradwatch's static analysis found no {codes} finding, but these in-place writes ({names}) "
                "change tensors in the graph; one of them may be the write (a tensor saved by an op it "
                "does not model):"
            )
        else:
            out.append(f"Likely culprits, from gradwatch's static analysis of these files ({names}):")
        for lead in leads[:MAX_FINDINGS]:
            out.extend(_describe_lead(lead, cwd))
        if len(leads) > MAX_FINDINGS:
            out.append(f"  ... and {len(leads) - MAX_FINDINGS} more (gradwatch check --select {codes.replace(' ', '')}).")
    else:
        checked = ", ".join(_display(path, cwd) for path in findings) or "none"
        out.append(f"gradwatch's static analysis found no {codes} finding in the files of the traceback ({checked}).")
        if kind.runtime_names_it:
            out.append(
                "  The cause may be in code it cannot follow. `gradwatch run your_script.py` runs the program "
                "and names the line when it happens."
            )
    for problem in problems:
        out.append(f"  (not checked: {problem})")

    out.append("")
    out.append("How to fix it:")
    out.extend(_wrap(kind.fix, "  "))
    return Explanation(True, "\n".join(out) + "\n", kind, saved, user_frames, leads)


def _unique_frames(frames: list[Frame]) -> list[Frame]:
    # A recursion or a loop in the traceback repeats frames; one line each is enough.
    seen, kept = set(), []
    for frame in frames:
        key = (frame.path, frame.line)
        if key not in seen:
            seen.add(key)
            kept.append(frame)
    return kept


def _describe_lead(lead: Lead, cwd: str) -> list[str]:
    finding = lead.finding
    where = f"{_display(lead.path, cwd)}:{finding.span.line}:{finding.span.column + 1}"
    lines = [f"  {where}  {finding.code} {finding.message}"]
    for related in finding.related:
        path = _display(related.path, cwd) if related.path else _display(lead.path, cwd)
        lines.append(f"      {path}:{related.span.line}  {related.message}")
    if finding.fixes:
        titles = [fix.title for fix in finding.fixes]
        more = f" (or: {'; '.join(titles[1:])})" if len(titles) > 1 else ""
        lines.append(f"      fix: {titles[0]}{more}")
    return lines


def _wrap(text: str, indent: str, width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent)


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None, stdin=None, stdout=None, stderr=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    if any(arg in ("-h", "--help") for arg in argv):
        stdout.write(USAGE)
        return EXIT_RECOGNISED
    if len(argv) > 1 or (argv and argv[0].startswith("-") and argv[0] != "-"):
        stderr.write(f"gradwatch: error: explain-error takes one FILE (or none: stdin), not {argv!r}\n")
        return EXIT_USAGE
    try:
        if argv and argv[0] != "-":
            with open(argv[0], encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        else:
            if getattr(stdin, "isatty", lambda: False)():
                stderr.write("Paste the error with its traceback, then press Ctrl-D (Ctrl-Z Enter on Windows).\n")
            text = stdin.read()
    except OSError as error:
        stderr.write(f"gradwatch: error: cannot read {argv[0]}: {error.strerror or error}\n")
        return EXIT_USAGE
    if not text.strip():
        stderr.write("gradwatch: error: no error text given (pipe it in, or name a file holding it)\n")
        return EXIT_USAGE
    explanation = explain(text)
    stdout.write(explanation.text)
    return EXIT_RECOGNISED if explanation.recognised else EXIT_UNRECOGNISED


USAGE = """usage: gradwatch explain-error [FILE]

Explain a torch autograd error: paste the error with its traceback on stdin, or
name a file that holds it. Says what happened, the lines of your code the
traceback passes through, and the findings of gradwatch's static analysis of
those files that predict this error (the likely culprits, with their fixes).

Exit status: 0 recognised, 1 not a torch error gradwatch recognises, 2 usage error.
"""
