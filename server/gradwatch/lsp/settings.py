"""Editor settings, merged with `[tool.gradwatch]` of each document's workspace folder.

Settings arrive three ways: `initializationOptions`, `workspace/configuration`
(section "gradwatch", asked per workspace folder) and
`workspace/didChangeConfiguration`. All three carry the same object:

    {"enable": true, "select": ["GW1"], "ignore": [], "severity": {"GW203": "off"},
     "debounce": 150, "run": "onType", "interpreter": ["/path/to/python"],
     "inlayHints": {"shapes": true}}

Editor choices win over pyproject.toml (`Settings.overridden_by`). A setting
that cannot be used is reported once and left at its default; it never stops
the server.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pygls.uris import to_fs_path

from gradwatch.config import ConfigError, Settings, load_settings, settings_from_mapping

log = logging.getLogger(__name__)

SECTION = "gradwatch"
RUN_ON_TYPE = "onType"
RUN_ON_SAVE = "onSave"
DEFAULT_DEBOUNCE_MS = 150
# Longer than anyone would wait for a squiggle; anything above is clamped.
MAX_DEBOUNCE_MS = 60_000
_RULE_KEYS = ("select", "ignore", "severity")


@dataclass(frozen=True)
class EditorSettings:
    enable: bool = True
    rules: Settings = field(default_factory=Settings)
    debounce_ms: float = DEFAULT_DEBOUNCE_MS
    run: str = RUN_ON_TYPE
    # The Python environment the user's code runs in; jedi resolves imports with it.
    interpreter: tuple[str, ...] = ()
    # Inlay hints with the proved shape of assigned tensors (inlay_hints.py).
    inlay_hint_shapes: bool = True


def parse_editor_settings(raw: Any, where: str) -> tuple[EditorSettings, list[str]]:
    """Read one settings object; returns the usable part and a message per bad value."""
    if raw is None:
        return EditorSettings(), []
    if not isinstance(raw, dict):
        return EditorSettings(), [f"{where}: gradwatch settings must be an object, got {type(raw).__name__}"]
    if isinstance(raw.get(SECTION), dict):  # {"gradwatch": {...}} as well as the bare object
        raw = raw[SECTION]
    problems: list[str] = []
    values: dict[str, Any] = {}

    enable = raw.get("enable", True)
    if isinstance(enable, bool):
        values["enable"] = enable
    else:
        problems.append(f"{where}: enable must be true or false, got {_shown(enable)}")

    rule_table = {key: raw[key] for key in _RULE_KEYS if raw.get(key) is not None}
    try:
        values["rules"] = settings_from_mapping(rule_table, where)
    except ConfigError as error:
        problems.append(str(error))
    except Exception as error:  # noqa: BLE001 - any odd value costs the rule settings, never the rest
        log.warning("cannot read rule settings %r", rule_table, exc_info=True)
        problems.append(f"{where}: cannot use select/ignore/severity ({type(error).__name__})")

    debounce, problem = _debounce_ms(raw.get("debounce", DEFAULT_DEBOUNCE_MS), where)
    if debounce is not None:
        values["debounce_ms"] = debounce
    if problem is not None:
        problems.append(problem)

    run = raw.get("run", RUN_ON_TYPE)
    if run in (RUN_ON_TYPE, RUN_ON_SAVE):
        values["run"] = run
    else:
        problems.append(f"{where}: run must be {RUN_ON_TYPE!r} or {RUN_ON_SAVE!r}, got {_shown(run)}")

    interpreter = raw.get("interpreter", raw.get("python"))
    if isinstance(interpreter, str):
        interpreter = [interpreter] if interpreter else []
    if interpreter is None:
        interpreter = []
    if isinstance(interpreter, list) and all(isinstance(part, str) for part in interpreter):
        values["interpreter"] = tuple(interpreter)
    else:
        problems.append(f"{where}: interpreter must be a path or a list of strings, got {_shown(interpreter)}")

    # {"inlayHints": {"shapes": false}} as VS Code sends it; "inlayHints.shapes" as some editors spell it.
    hints = raw.get("inlayHints")
    shapes = hints.get("shapes", True) if isinstance(hints, dict) else raw.get("inlayHints.shapes", True)
    if hints is not None and not isinstance(hints, dict):
        problems.append(f"{where}: inlayHints must be an object, got {_shown(hints)}")
    elif isinstance(shapes, bool):
        values["inlay_hint_shapes"] = shapes
    else:
        problems.append(f"{where}: inlayHints.shapes must be true or false, got {_shown(shapes)}")

    return EditorSettings(**values), problems


def _debounce_ms(value: Any, where: str) -> tuple[float | None, str | None]:
    """(milliseconds to use or None for the default, a problem to report or None).

    JSON numbers can be anything: 1e309 arrives as inf, 10**309 as an int no float
    holds. A timer that never fires would leave pull requests unanswered, so only a
    finite number is used, clamped into [0, MAX_DEBOUNCE_MS].
    """
    expected = f"{where}: debounce must be a number of milliseconds from 0 to {MAX_DEBOUNCE_MS}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"{expected}, got {_shown(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"{expected}, got {_shown(value)}"
    if value < 0:
        return 0.0, f"{expected}, got {_shown(value)} (using 0)"
    if value > MAX_DEBOUNCE_MS:  # compared before float(): a huge int has no float
        return float(MAX_DEBOUNCE_MS), f"{expected}, got {_shown(value)} (using {MAX_DEBOUNCE_MS})"
    return float(value), None


def _shown(value: Any) -> str:
    """A value for a message, never a page of digits."""
    if isinstance(value, int) and value.bit_length() > 64:  # str() refuses ints past 4300 digits
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SettingsStore:
    """What applies to a document: its folder's pyproject.toml, overridden by the editor."""

    def __init__(self, report: Callable[[str], None]) -> None:
        # `report` shows a message to the user; each distinct message is shown once.
        self._report = report
        self._reported: set[str] = set()
        self._global = EditorSettings()
        self._folders: dict[str, EditorSettings] = {}
        self._project: dict[str, Settings] = {}

    def set_global(self, raw: Any, where: str = "editor settings") -> None:
        self._global = self._parse(raw, where)

    def set_folder(self, folder_uri: str, raw: Any) -> None:
        if raw is None:
            self._folders.pop(folder_uri, None)
        else:
            self._folders[folder_uri] = self._parse(raw, f"editor settings for {folder_uri}")

    def fingerprint(self) -> str:
        """Equal fingerprints: the editor settings did not change."""
        return repr((self._global, sorted(self._folders.items())))

    def forget_project_files(self) -> None:
        """pyproject.toml may have changed: read it again on next use."""
        self._project.clear()

    def editor_for(self, folder_uri: str | None) -> EditorSettings:
        if folder_uri is not None and folder_uri in self._folders:
            return self._folders[folder_uri]
        return self._global

    def rules_for(self, document_uri: str, folder_uri: str | None) -> Settings:
        project = self._project_settings(folder_uri or _parent_folder_uri(document_uri))
        return project.overridden_by(self.editor_for(folder_uri).rules)

    def _project_settings(self, folder_uri: str | None) -> Settings:
        if folder_uri is None:
            return Settings()
        if folder_uri not in self._project:
            self._project[folder_uri] = self._load_project(folder_uri)
        return self._project[folder_uri]

    def _load_project(self, folder_uri: str) -> Settings:
        path = to_fs_path(folder_uri) if folder_uri.startswith("file:") else None
        if path is None:
            return Settings()
        try:
            return load_settings(Path(path))
        except ConfigError as error:
            self.report_once(f"gradwatch: {error} (using the default settings)")
            return Settings()
        except OSError as error:  # e.g. a folder that vanished
            log.warning("cannot read settings under %s: %s", path, error)
            return Settings()

    def _parse(self, raw: Any, where: str) -> EditorSettings:
        try:
            parsed, problems = parse_editor_settings(raw, where)
        except Exception:  # noqa: BLE001 - a settings object must never stop initialize
            log.exception("cannot read %s", where)
            parsed, problems = EditorSettings(), [f"{where}: cannot read the settings (see the log)"]
        for problem in problems:
            self.report_once(f"gradwatch: {problem} (ignored)")
        return parsed

    def report_once(self, message: str) -> None:
        if message in self._reported:
            return
        self._reported.add(message)
        log.warning("%s", message)
        self._report(message)


def folder_of(document_uri: str, folder_uris: list[str]) -> str | None:
    """The workspace folder holding the document (the deepest one, for nested folders)."""
    best: str | None = None
    for folder in folder_uris:
        prefix = folder.rstrip("/") + "/"
        if document_uri.startswith(prefix) and (best is None or len(folder) > len(best)):
            best = folder
    return best


def _parent_folder_uri(document_uri: str) -> str | None:
    if not document_uri.startswith("file:"):
        return None
    return document_uri.rsplit("/", 1)[0]
