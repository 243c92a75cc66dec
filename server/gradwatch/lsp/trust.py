"""Which Python the server lets jedi run.

jedi runs the interpreter it is given (a subprocess that answers its questions
about installed packages). `interpreter` arrives with the editor settings, and
in several editors a repository's own files reach those (Emacs `.dir-locals.el`,
Helix `.helix/languages.toml`): a cloned repository could name a program of its
own. So an interpreter from the settings is used only when

- it is the Python running this server: running it again grants nothing. The
  VS Code extension sends exactly that (the interpreter it chose under
  workspace trust, which also runs the server);
- it is the one given on the server's command line (`--python`), which the
  user's own editor configuration sets;
- the command line says to trust the settings (`--trust-settings-interpreter`);
  then it must also be named like a Python interpreter and pass jedi's
  safe-environment check. The name matters: jedi's check only asks that the
  program (symlinks followed) be owned by root or be a known system Python, and
  `/bin/rm` is owned by root too.

Anything else is refused with a message; jedi then uses the command line's
interpreter, or else the server's own environment.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass

# python, python3, python3.12, pythonw.exe ...; not python3-config (a shell script).
_PYTHON_NAME = re.compile(r"python(\d+(\.\d+)*)?w?(\.exe)?", re.IGNORECASE)


@dataclass(frozen=True)
class InterpreterChoice:
    python: str | None  # None: the server's own environment
    # Run only after jedi's safe-environment check (it came from settings, trusted by flag).
    safe: bool = False
    refused: str | None = None  # why the settings' interpreter was not used


@dataclass(frozen=True)
class InterpreterPolicy:
    command_line: str | None = None  # `gradwatch serve --python PATH`
    trust_settings: bool = False  # `gradwatch serve --trust-settings-interpreter`

    def choose(self, requested: str | None) -> InterpreterChoice:
        """What jedi runs for the settings' `interpreter` (`requested`, None when not set)."""
        if not requested:
            return InterpreterChoice(self.command_line)
        if is_running_python(requested):
            return InterpreterChoice(_normalised(requested))
        if self.command_line is not None and _normalised(requested) == _normalised(self.command_line):
            return InterpreterChoice(self.command_line)
        if not self.trust_settings:
            return self._refuse(
                f"gradwatch: did not run the interpreter {requested!r} from the editor settings, which a "
                f"repository's own files can set in some editors; using {self.command_line or sys.executable!r}. "
                f"To use it, start the server with `--python {requested}` (see the gradwatch docs, editors.md)."
            )
        if not looks_like_python(_normalised(requested)):
            return self._refuse(
                f"gradwatch: did not run {requested!r} from the editor settings: "
                "it is not named like a Python interpreter"
            )
        return InterpreterChoice(_normalised(requested), safe=True)

    def _refuse(self, why: str) -> InterpreterChoice:
        return InterpreterChoice(self.command_line, refused=why)


def is_running_python(path: str) -> bool:
    """`path` names the interpreter running this process (or its environment's folder).

    Paths are compared as written, never through symlinks: a virtualenv's python is a
    symlink to the system one, and its own site-packages (with `.pth` files that run
    code at start-up) is what makes it a different program.
    """
    candidate = _normalised(path)
    return candidate == _normalised(sys.executable) or candidate == _normalised(sys.prefix)


def looks_like_python(path: str) -> bool:
    """The program jedi would run for `path` is named like a Python interpreter, both as
    given and with symlinks followed (for a virtualenv folder: its python)."""
    if os.path.isdir(path):
        windows = sys.platform == "win32"
        path = os.path.join(path, "Scripts", "python.exe") if windows else os.path.join(path, "bin", "python")
    names = {os.path.basename(path), os.path.basename(os.path.realpath(path))}
    return all(_PYTHON_NAME.fullmatch(name) for name in names)


def _normalised(path: str) -> str:
    path = os.path.expanduser(path)
    if os.sep not in path and (os.altsep is None or os.altsep not in path):
        path = shutil.which(path) or path  # a bare name such as `python3`, found on PATH
    return os.path.normcase(os.path.abspath(path))
