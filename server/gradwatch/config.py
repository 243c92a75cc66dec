"""Settings: which rules run and at what severity, from `[tool.gradwatch]` or the editor."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from gradwatch.file_io import RefusedFile, read_bounded
from gradwatch.findings import Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

OFF = "off"
SEVERITY_NAMES = {s.value: s for s in Severity}
KNOWN_KEYS = {"select", "ignore", "severity"}
# A pyproject.toml is a few KiB; the bound keeps a link to a huge file from costing memory.
MAX_CONFIG_BYTES = 1024 * 1024


class ConfigError(Exception):
    """A configuration that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Settings:
    # Codes or prefixes ("GW2" selects every in-place rule). Empty select = all rules.
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    # Code -> Severity, or "off" to disable the rule.
    severity: dict[str, Severity | str] = field(default_factory=dict)

    def enabled(self, code: str) -> bool:
        if self.severity.get(code) == OFF:
            return False
        if self.select and not _matches(code, self.select):
            return False
        return not _matches(code, self.ignore)

    def severity_for(self, code: str, default: Severity) -> Severity:
        chosen = self.severity.get(code, default)
        return chosen if isinstance(chosen, Severity) else default

    def overridden_by(self, other: Settings) -> Settings:
        """`other`'s explicit choices win (editor settings over pyproject.toml)."""
        return replace(
            self,
            select=other.select or self.select,
            ignore=self.ignore + other.ignore,
            severity={**self.severity, **other.severity},
        )


def _matches(code: str, patterns: tuple[str, ...]) -> bool:
    return any(code.startswith(p) for p in patterns)


def settings_from_mapping(table: object, where: str) -> Settings:
    """Validate a `[tool.gradwatch]`-shaped mapping; raise ConfigError naming `where`."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [tool.gradwatch] must be a table")
    unknown = set(table) - KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) in [tool.gradwatch]: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    select = _code_list(table.get("select", []), "select", where)
    ignore = _code_list(table.get("ignore", []), "ignore", where)
    raw_severity = table.get("severity", {})
    if not isinstance(raw_severity, dict):
        raise ConfigError(f'{where}: severity must be a table of CODE = "error"|"warning"|"information"|"hint"|"off"')
    severity: dict[str, Severity | str] = {}
    for code, name in raw_severity.items():
        _check_code(code, "severity", where)
        if name == OFF:
            severity[code] = OFF
        elif isinstance(name, str) and name in SEVERITY_NAMES:  # a list or table is unhashable
            severity[code] = SEVERITY_NAMES[name]
        else:
            raise ConfigError(
                f"{where}: severity for {code} is {name!r}; use one of {', '.join(list(SEVERITY_NAMES) + [OFF])}"
            )
    return Settings(select=select, ignore=ignore, severity=severity)


def _code_list(value: object, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where}: {key} must be a list of rule codes or prefixes, e.g. ["GW1", "GW201"]')
    for code in value:
        _check_code(code, key, where)
    return tuple(value)


def _check_code(code: object, key: str, where: str) -> None:
    if not isinstance(code, str) or not code.startswith("GW"):
        raise ConfigError(f"{where}: {key}: {code!r} is not a gradwatch rule code or prefix (they start with GW)")


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start` (a file or folder)."""
    start = Path(os.path.realpath(start))  # Path.resolve raises RuntimeError on a symlink loop
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def load_settings(start: Path) -> Settings:
    """Settings from the nearest pyproject.toml's [tool.gradwatch]; defaults if there is none."""
    path = find_pyproject(start)
    return Settings() if path is None else settings_from_file(path)


def settings_from_file(path: Path) -> Settings:
    """`[tool.gradwatch]` of one TOML file; defaults when the table is absent."""
    data = read_toml(path)
    tool = data.get("tool")
    table = tool.get("gradwatch") if isinstance(tool, dict) else None
    return Settings() if table is None else settings_from_mapping(table, str(path))


def read_toml(path: Path) -> dict:
    """The parsed TOML file. Whatever is wrong with it (missing, not a regular file, too
    large, not UTF-8, not TOML, nested too deeply to parse) is one ConfigError."""
    try:
        text = read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError as error:
        raise ConfigError(f"config file not found: {path}") from error
    except (RefusedFile, OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from error
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error
    except RecursionError as error:  # tomllib recurses once per nested array or inline table
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply to read") from error
