"""Settings: which rules run and at what severity, from `[tool.gradwatch]` or the editor."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from gradwatch.findings import Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

OFF = "off"
SEVERITY_NAMES = {s.value: s for s in Severity}
KNOWN_KEYS = {"select", "ignore", "severity"}


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
        elif name in SEVERITY_NAMES:
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
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def load_settings(start: Path) -> Settings:
    """Settings from the nearest pyproject.toml's [tool.gradwatch]; defaults if there is none."""
    path = find_pyproject(start)
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error
    table = data.get("tool", {}).get("gradwatch")
    if table is None:
        return Settings()
    return settings_from_mapping(table, str(path))
