"""The `gradwatch` command: check, clean, rules, explain, serve, probe, run, explain-error.

Start-up cost matters (pre-commit runs this on every commit), so this module
imports only the standard library at the top; each subcommand imports what it
needs, and `serve`/`probe`/`run` are the only ones that touch pygls or torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from gradwatch import __version__

if TYPE_CHECKING:
    from gradwatch.config import Settings

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

FORMATS = ("text", "json", "sarif")


class UsageError(Exception):
    """Bad command line; reported as one `gradwatch: error: ...` line, exit 2."""


class _Parser(argparse.ArgumentParser):
    # argparse would print the whole usage block and exit; we want one line
    # and control over the exit (main() is also called in-process by tests).
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gradwatch",
        description="Find PyTorch autograd hazards without running the code.",
    )
    parser.add_argument("--version", action="version", version=f"gradwatch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = commands.add_parser("check", help="check Python files and folders (default: .)")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to check (default: .)")
    check.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    check.add_argument("--select", metavar="CODES", help="only these comma-separated codes or prefixes (e.g. GW1,GW201)")
    check.add_argument("--ignore", metavar="CODES", help="skip these comma-separated codes or prefixes")
    check.add_argument("--fix", action="store_true", help="apply fixes and write the files")
    check.add_argument("--unsafe-fixes", action="store_true", help="with --fix or --diff: also apply unsafe fixes")
    check.add_argument("--diff", action="store_true", help="print the fixes as a unified diff; write nothing")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings remain")
    check.add_argument("--jobs", "-j", type=int, metavar="N", help="parallel processes (default: all cores)")
    check.add_argument("--config", metavar="PATH", help="use this pyproject.toml instead of the nearest one")
    check.add_argument("--quiet", "-q", action="store_true", help="print findings only: no summary lines")
    check.add_argument("--statistics", action="store_true", help="print a count per rule instead of each finding")
    check.add_argument(
        "--python",
        metavar="PATH",
        help="the interpreter (or virtualenv) whose packages cross-module analysis sees (default: this one)",
    )
    check.add_argument(
        "--no-cross-module",
        action="store_true",
        help="do not follow calls into the project's other files (no jedi)",
    )
    check.add_argument("--no-cache", action="store_true", help="neither read nor write the cache (.gradwatch_cache)")
    check.set_defaults(handler=_run_check)

    clean = commands.add_parser("clean", help="remove the cache folders (.gradwatch_cache) under PATHs (default: .)")
    clean.add_argument("paths", nargs="*", metavar="PATH", help="folders to clean (default: .)")
    clean.set_defaults(handler=_run_clean)

    rules = commands.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=("text", "json"), default="text")
    rules.set_defaults(handler=_run_rules)

    explain = commands.add_parser("explain", help="show a rule's documentation")
    explain.add_argument("code", metavar="CODE")
    explain.set_defaults(handler=_run_explain)

    # Listed for --help only: main() hands their arguments over untouched.
    commands.add_parser("serve", help="run the language server (--stdio, --tcp HOST:PORT)", add_help=False)
    commands.add_parser("probe", help="measure which torch ops save what for backward", add_help=False)
    commands.add_parser("run", help="run a script under the autograd sentinel ([--stop] [--output PATH] [--] script.py [args...])", add_help=False)
    commands.add_parser(
        "explain-error",
        help="explain a pasted torch autograd error and its traceback ([FILE], default: stdin)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("serve", "probe", "run", "explain-error"):
        return _delegate(argv[0], argv[1:])
    from gradwatch.config import ConfigError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        return args.handler(args)
    except (UsageError, ConfigError) as error:
        _error(str(error))
        return EXIT_ERROR
    except SystemExit as exit_request:  # --help and --version
        code = exit_request.code
        return code if isinstance(code, int) else EXIT_ERROR
    except BrokenPipeError:
        # `gradwatch check | head`: the reader left; don't print a traceback.
        _silence_stdout()
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug of ours: one line, not a traceback, unless asked for
        if os.environ.get("GRADWATCH_DEBUG"):
            raise
        _error(f"internal error: {type(error).__name__}: {error} (set GRADWATCH_DEBUG=1 for the traceback)")
        return EXIT_ERROR


def _error(message: str) -> None:
    print(f"gradwatch: error: {message}", file=sys.stderr)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _delegate(command: str, rest: list[str]) -> int:
    try:
        if command == "serve":
            from gradwatch.lsp.server import main as entry
        elif command == "run":
            from gradwatch.runtime.main import main as entry
        elif command == "explain-error":
            from gradwatch.explain_error import main as entry
        else:
            from gradwatch.probe import main as entry
    except ImportError as error:
        _error(f"cannot start '{command}': {error}")
        return EXIT_ERROR
    try:
        result = entry(rest)
    except SystemExit as exit_request:  # their argparse on --help or a bad option
        code = exit_request.code
        return code if isinstance(code, int) else (EXIT_CLEAN if code is None else EXIT_ERROR)
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else EXIT_CLEAN


def _run_rules(args: argparse.Namespace) -> int:
    import json

    from gradwatch.output import rule_catalogue

    catalogue = rule_catalogue()
    if args.format == "json":
        items = [
            {"code": r.code, "name": r.name, "severity": r.severity.value, "summary": r.summary} for r in catalogue
        ]
        sys.stdout.write(json.dumps(items, indent=2, ensure_ascii=False) + "\n")
        return EXIT_CLEAN
    name_width = max(len(r.name) for r in catalogue)
    severity_width = max(len(r.severity.value) for r in catalogue)
    for rule in catalogue:
        print(f"{rule.code}  {rule.name:<{name_width}}  {rule.severity.value:<{severity_width}}  {rule.summary}")
    return EXIT_CLEAN


def _run_explain(args: argparse.Namespace) -> int:
    from gradwatch.output import rule_catalogue

    catalogue = {rule.code: rule for rule in rule_catalogue()}
    rule = catalogue.get(args.code.strip().upper())
    if rule is None:
        raise UsageError(f"unknown rule code {args.code!r}; known codes: {', '.join(catalogue)}")
    sys.stdout.write(rule.documentation)
    return EXIT_CLEAN


# ---------------------------------------------------------------- check

# Below this many files a process pool costs more (start-up, pickling) than it saves.
PARALLEL_MIN_FILES = 16


@dataclass(frozen=True)
class _CheckTask:
    """One file to check (and maybe fix); sent to a worker process, so plain data only."""

    path: Path
    display: str
    settings: Settings
    mode: str  # "check", "fix" or "diff"
    unsafe: bool
    # Cross-module analysis: the project folder (None: off) and the interpreter jedi uses.
    project_root: str | None = None
    python: str | None = None
    # The persistent cache (see result_cache): its folder and the run key (None: not used).
    cache_folder: str | None = None
    cache_key: str | None = None


@dataclass
class _FileOutcome:
    findings: tuple = ()
    # Set when fixes changed the text (fix and diff modes).
    original: str | None = None
    fixed_text: str | None = None
    fixed: int = 0
    # Why the file was skipped; `crashed` when that was our fault, not the file's.
    problem: str | None = None
    crashed: bool = False


_PROJECTS: dict = {}  # per process: (root, python) -> CrossModule, so jedi starts once per worker


def _cross_module(task: _CheckTask):
    if task.project_root is None:
        return None
    key = (task.project_root, task.python)
    if key not in _PROJECTS:
        from gradwatch.analysis.cross_module import CrossModule
        from gradwatch.analysis.project import ProjectIndex

        _PROJECTS[key] = CrossModule(ProjectIndex(task.project_root, task.python), files_stay_unchanged=True)
    return _PROJECTS[key]


def _check_file(task: _CheckTask) -> _FileOutcome:
    """Read, check and (in fix/diff mode) fix one file. Never raises: problems come back as text."""
    from gradwatch.checker import UnreadableFile, check_source, read_python_file
    from gradwatch.fixes import FixVerifier, RecheckCache, fix_until_stable, with_verified_fixes

    try:
        text = read_python_file(task.path)
    except UnreadableFile as error:
        return _FileOutcome(problem=str(error))
    entry = None
    if task.cache_folder is not None and task.cache_key is not None:
        from gradwatch.result_cache import Entry, nothing_to_fix

        entry = Entry(task.cache_folder, task.cache_key, task.path, text)
        cached = entry.load()
        # Only check-mode results are stored; they stand for --fix and --diff when there is nothing to fix.
        if cached is not None and (task.mode == "check" or nothing_to_fix(cached[1], task.unsafe)):
            return _FileOutcome(findings=cached[0])
    project = _cross_module(task)
    # Fixes are verified by re-checking fixed variants of the text: each re-analyses only what changed.
    cache = RecheckCache()

    def check(current: str, scopes: RecheckCache | None = cache) -> list:
        return check_source(current, str(task.path), task.settings, cache=scopes, project=project, names=False).findings

    try:
        if task.mode == "check":
            from gradwatch.analysis.dependency_log import recording

            with recording() as files_read:  # the other files the findings came from
                # Without the scope cache: keeping what each scope depends on costs about a
                # third of a check, and only pays off when fixed variants are re-checked.
                unverified = check(text, scopes=None)
                if any(finding.fixes for finding in unverified):
                    check(text)  # fills the cache: each fixed variant re-analyses only what it changed
                # Only fixes that verify are shown, counted as fixable and written to JSON/SARIF.
                verifier = FixVerifier(text, check, unverified)
                findings = tuple(with_verified_fixes(verifier, unverified))
            if entry is not None:
                from gradwatch.result_cache import offered_fixes

                entry.store(findings, offered_fixes(unverified), files_read)
            return _FileOutcome(findings=findings)
        fixed = fix_until_stable(text, check, unsafe=task.unsafe)
        verifier = FixVerifier(fixed.text, check, fixed.findings)
        remaining = tuple(with_verified_fixes(verifier, fixed.findings))
    except Exception as error:  # a bug in a rule must cost one file, not the run
        return _FileOutcome(
            problem=f"internal error, file skipped (please report): {type(error).__name__}: {error}", crashed=True
        )
    if fixed.fixed and fixed.text != text:
        return _FileOutcome(remaining, original=text, fixed_text=fixed.text, fixed=fixed.fixed)
    return _FileOutcome(remaining)


def _default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _check_all(tasks: list[_CheckTask], jobs: int) -> list[_FileOutcome]:
    from gradwatch.collector import tune_for_analysis

    tune_for_analysis()
    if jobs > 1 and len(tasks) >= PARALLEL_MIN_FILES:
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        workers = min(jobs, len(tasks))
        try:
            # The initializer for processes that are started rather than forked (macOS, Windows).
            with ProcessPoolExecutor(max_workers=workers, initializer=tune_for_analysis) as pool:
                # Several files per message: per-file round trips would eat the gain on small files.
                return list(pool.map(_check_file, tasks, chunksize=max(1, len(tasks) // (workers * 4))))
        except (OSError, BrokenProcessPool):
            pass  # no processes to be had here (e.g. a sandbox): checking serially gives the same result
    return _check_serially(tasks)


def _check_serially(tasks: list[_CheckTask]) -> list[_FileOutcome]:
    """Each file once, in the order that lets a file another file's check read (and parsed) reuse
    that tree (module_files.in_check_order); the outcomes in the tasks' order."""
    from gradwatch.analysis.module_files import in_check_order

    outcomes: list[_FileOutcome | None] = [None] * len(tasks)
    for index in in_check_order([str(task.path) for task in tasks]):
        outcomes[index] = _check_file(tasks[index])
    return outcomes  # type: ignore[return-value]


def _parse_codes(value: str | None, option: str, known: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    codes = tuple(part.strip().upper() for part in value.split(",") if part.strip())
    if not codes:
        raise UsageError(f"{option} needs at least one rule code or prefix, e.g. {option} GW2")
    for code in codes:
        if not (code.startswith("GW") and code[2:].isdigit() or code == "GW") or not any(
            k.startswith(code) for k in known
        ):
            raise UsageError(
                f"{option}: {code!r} is not a rule code or prefix; known codes: {', '.join(known)}"
            )
    return codes


def _with_command_line(settings, select: tuple[str, ...], ignore: tuple[str, ...]):
    """Command-line --select replaces pyproject's select and ignore; --ignore alone adds to its ignore."""
    from dataclasses import replace

    from gradwatch.config import OFF

    if select:
        # Naming a rule on the command line also re-enables it if pyproject switched it "off".
        severity = {
            code: level
            for code, level in settings.severity.items()
            if not (level == OFF and any(code.startswith(s) for s in select))
        }
        return replace(settings, select=select, ignore=ignore, severity=severity)
    if ignore:
        return replace(settings, ignore=settings.ignore + ignore)
    return settings


class _SettingsResolver:
    """Settings per file: --config for all, else each file's nearest pyproject.toml (read once);
    and each file's project root (cross-module analysis), found with the same look-up."""

    def __init__(self, config: str | None, select: tuple[str, ...], ignore: tuple[str, ...]) -> None:
        from gradwatch.config import settings_from_file

        self.select, self.ignore = select, ignore
        self.fixed = self._finish(settings_from_file(Path(config))) if config else None
        self.by_pyproject: dict = {}
        self.pyproject_by_folder: dict = {}

    def _finish(self, settings):
        return _with_command_line(settings, self.select, self.ignore)

    def for_file(self, path):
        from gradwatch.config import Settings, settings_from_file

        if self.fixed is not None:
            return self.fixed
        pyproject = self._pyproject(path)
        if pyproject not in self.by_pyproject:
            base = Settings() if pyproject is None else settings_from_file(pyproject)
            self.by_pyproject[pyproject] = self._finish(base)
        return self.by_pyproject[pyproject]

    def project_root(self, path) -> str:
        """The folder of the nearest pyproject.toml, else the file's own folder."""
        pyproject = self._pyproject(path)
        return str((pyproject.parent if pyproject else path.resolve().parent))

    def _pyproject(self, path):
        """The file's nearest pyproject.toml, looked for once per folder."""
        from gradwatch.config import find_pyproject

        folder = path.parent
        if folder not in self.pyproject_by_folder:
            self.pyproject_by_folder[folder] = find_pyproject(path)
        return self.pyproject_by_folder[folder]


def _display_path(path, cwd: str) -> str:
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute, cwd)
    except ValueError:  # another drive, on Windows
        return absolute
    return absolute if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


def _unified_diff(display: str, before: str, after: str) -> str:
    import difflib
    import re

    # Split like Python does (\n, \r\n, \r) so a form feed or U+2028 inside a line does not split it.
    def lines(text: str) -> list[str]:
        return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)

    out = []
    for line in difflib.unified_diff(lines(before), lines(after), f"a/{display}", f"b/{display}"):
        out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _run_check(args: argparse.Namespace) -> int:
    from gradwatch.discovery import PathNotFound, discover_python_files
    from gradwatch.output import rule_catalogue

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be 1 or more, not {args.jobs}")
    if args.statistics and args.format == "sarif":
        raise UsageError("--statistics works with --format text or json")
    catalogue = rule_catalogue()
    known = [rule.code for rule in catalogue]
    select = _parse_codes(args.select, "--select", known)
    ignore = _parse_codes(args.ignore, "--ignore", known)
    resolver = _SettingsResolver(args.config, select, ignore)

    try:
        files = discover_python_files([Path(p) for p in (args.paths or ["."])], on_skip=_report_discovery_skip)
    except PathNotFound as error:
        raise UsageError(str(error)) from error
    if not files and not args.quiet:
        print("gradwatch: warning: no Python files found under the given paths", file=sys.stderr)

    mode = "diff" if args.diff else "fix" if args.fix else "check"
    cwd = os.getcwd()
    # Cross-module answers hold for one run (files_stay_unchanged); main() may be called again in-process.
    _PROJECTS.clear()
    # Settings are resolved before any checking, so a broken pyproject stops the run up front.
    tasks = [
        _CheckTask(
            path,
            _display_path(path, cwd),
            resolver.for_file(path),
            mode,
            args.unsafe_fixes,
            None if args.no_cross_module else resolver.project_root(path),
            args.python,
        )
        for path in files
    ]
    if not args.no_cache:
        tasks = _with_cache(tasks, args.paths or ["."], cwd, quiet=args.quiet)
    outcomes = _check_all(tasks, args.jobs or _default_jobs())
    results = sorted(zip(tasks, outcomes), key=lambda pair: pair[0].display)
    failed = _report_skipped(results)
    if mode == "diff":
        return _show_diffs(results, args, failed)
    if mode == "fix":
        failed = _write_fixes(results) or failed
    _print_findings(results, args, catalogue)
    if mode == "fix" and not args.quiet:
        fixed = [outcome.fixed for _, outcome in results if outcome.fixed]
        print(f"Fixed {_plural(sum(fixed), 'finding')} in {_plural(len(fixed), 'file')}.", file=sys.stderr)
    if failed:
        return EXIT_ERROR
    remaining = any(outcome.findings for _, outcome in results)
    return EXIT_FINDINGS if remaining and not args.exit_zero else EXIT_CLEAN


def _with_cache(tasks: list[_CheckTask], paths: list[str], cwd: str, quiet: bool) -> list[_CheckTask]:
    from dataclasses import replace

    from gradwatch.result_cache import Plan

    def warn(message: str) -> None:
        if not quiet:
            print(f"gradwatch: warning: {message}", file=sys.stderr)

    plan = Plan([Path(p) for p in paths], cwd, warn)
    located = []
    for task in tasks:
        folder, key = plan.locate(task.path, task.settings, task.project_root, task.python)
        located.append(replace(task, cache_folder=folder, cache_key=key))
    return located


def _run_clean(args: argparse.Namespace) -> int:
    from gradwatch.result_cache import clean

    paths = [Path(p) for p in args.paths or ["."]]
    for path in paths:
        if not path.exists():
            raise UsageError(f"path not found: {path}")
    removed = clean(paths)
    for folder in removed:
        print(f"Removed {_display_path(folder, os.getcwd())}")
    if not removed:
        print("No cache to remove.", file=sys.stderr)
    return EXIT_CLEAN


def _report_discovery_skip(path: Path, reason: str) -> None:
    print(f"{_display_path(path, os.getcwd())}: {reason}", file=sys.stderr)


def _report_skipped(results: list[tuple[_CheckTask, _FileOutcome]]) -> bool:
    """One stderr line per skipped file; True if one was skipped because of a bug of ours."""
    crashed = False
    for task, outcome in results:
        if outcome.problem:
            print(f"{task.display}: {outcome.problem}", file=sys.stderr)
            crashed = crashed or outcome.crashed
    return crashed


def _write_fixes(results: list[tuple[_CheckTask, _FileOutcome]]) -> bool:
    """Write every fixed file; True if one could not be written. A read-only file is
    skipped with a message: the user protected it, which is not a failure of the run."""
    from gradwatch.file_io import ReadOnlyFile, RefusedFile, write_fixed_text

    failed = False
    for task, outcome in results:
        if outcome.fixed_text is None:
            continue
        try:
            write_fixed_text(task.path, outcome.fixed_text)
            continue
        except ReadOnlyFile as error:
            print(f"{task.display}: {error}", file=sys.stderr)
        except (RefusedFile, OSError) as error:
            print(f"{task.display}: cannot write the fixes: {error}", file=sys.stderr)
            failed = True
        # The file is unchanged, so what it holds is what was found before fixing.
        from gradwatch.checker import check_source

        project = _cross_module(task)
        outcome.findings = tuple(
            check_source(outcome.original, str(task.path), task.settings, project=project, names=False).findings
        )
        outcome.fixed = 0
    return failed


def _show_diffs(results: list[tuple[_CheckTask, _FileOutcome]], args: argparse.Namespace, failed: bool) -> int:
    fixed = []
    for task, outcome in results:
        if outcome.fixed_text is not None:
            sys.stdout.write(_unified_diff(task.display, outcome.original, outcome.fixed_text))
            fixed.append(outcome.fixed)
    if not args.quiet:
        print(f"Would fix {_plural(sum(fixed), 'finding')} in {_plural(len(fixed), 'file')}.", file=sys.stderr)
    if failed:
        return EXIT_ERROR
    return EXIT_FINDINGS if fixed and not args.exit_zero else EXIT_CLEAN


def _print_findings(results: list[tuple[_CheckTask, _FileOutcome]], args: argparse.Namespace, catalogue) -> None:
    import json

    from gradwatch.output import (
        FileReport,
        format_json,
        format_sarif,
        format_statistics_text,
        format_text,
        statistics,
        summary_line,
        use_color,
    )

    reports = [FileReport(task.display, outcome.findings) for task, outcome in results if not outcome.problem]
    if args.format == "json" and args.statistics:
        sys.stdout.write(json.dumps(statistics(reports, args.unsafe_fixes), indent=2) + "\n")
    elif args.format == "json":
        sys.stdout.write(format_json(reports))
    elif args.format == "sarif":
        sys.stdout.write(format_sarif(reports, catalogue, __version__))
    elif args.statistics:
        sys.stdout.write(format_statistics_text(statistics(reports, args.unsafe_fixes)))
        if not args.quiet:
            print(summary_line(reports, args.unsafe_fixes))
    else:
        is_terminal = bool(getattr(sys.stdout, "isatty", None) and sys.stdout.isatty())
        text = format_text(
            reports,
            color=use_color(sys.stdout),
            fix_markers=is_terminal,
            unsafe_fixes=args.unsafe_fixes,
            summary=not args.quiet,
        )
        sys.stdout.write(text)
    sys.stdout.flush()
