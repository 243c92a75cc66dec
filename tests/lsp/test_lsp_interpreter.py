"""The server runs no interpreter that a repository could have chosen through the editor settings.

Emacs' `.dir-locals.el` and Helix's `.helix/languages.toml` put a repository's
own values into `initializationOptions` / `workspace/configuration`. An
`interpreter` from there is run only if it is the server's own Python, the
one given on its command line, or, with `--trust-settings-interpreter`, one
that passes jedi's safe-environment check.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from gradwatch.lsp.trust import InterpreterPolicy
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_helpers import (
    GW101_SOURCE,
    codes,
    make_client,
    open_document,
    server_command,
    server_env,
    start_session,
    until,
    wait_for_diagnostics,
)

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(sys.platform == "win32", reason="the planted interpreter is a shell script"),
]

HAZARD_IN_A_HELPER = """import torch
from helpers_inplace import normalize_

def step():
    x = torch.randn(3, requires_grad=True)
    h = x.sigmoid()
    normalize_(h)
    h.sum().backward()
"""


def plant_interpreter(repository: Path) -> tuple[Path, Path]:
    """A repository's own `python`, which leaves a file behind when run; (the program, that file)."""
    program = repository / ".venv" / "bin" / "python"
    program.parent.mkdir(parents=True)
    ran = repository / "interpreter-ran"
    program.write_text(f"#!/bin/sh\ntouch '{ran}'\nexit 1\n")
    program.chmod(0o755)
    return program, ran


def repository_settings(client: LanguageClient, interpreter: str) -> dict:
    """The same settings through initializationOptions and workspace/configuration."""
    settings = {"debounce": 20, "interpreter": interpreter}
    client.set_configuration(settings, section="gradwatch")
    return settings


async def test_an_interpreter_from_the_settings_is_not_run(bare_client: LanguageClient, folder):
    program, ran = plant_interpreter(folder)
    await start_session(bare_client, [folder], repository_settings(bare_client, str(program)))
    uri = open_document(bare_client, folder / "a.py", GW101_SOURCE)
    assert codes(await wait_for_diagnostics(bare_client, uri, version=1)) == ["GW101"]
    await until(lambda: any(str(program) in m.message for m in bare_client.messages), what="the refusal")
    assert not ran.exists(), "the server ran the repository's interpreter"


async def test_the_interpreter_running_the_server_is_used(bare_client: LanguageClient, folder):
    """What the VS Code extension sends: the Python it chose (under workspace trust) to run the server."""
    (folder / "helpers_inplace.py").write_text("def normalize_(x):\n    x.sub_(x.mean())\n    return x\n")
    await start_session(bare_client, [folder], repository_settings(bare_client, sys.executable))
    uri = open_document(bare_client, folder / "uses_helper.py", HAZARD_IN_A_HELPER)
    # Found only by following the call into the helper's file, with jedi in that environment.
    await until(
        lambda: any(p.uri == uri and "GW201" in codes(p.diagnostics) for p in bare_client.published),
        what="GW201 from the cross-module analysis",
    )
    assert not [m for m in bare_client.messages if "interpreter" in m.message]


TRUSTING = ClientServerConfig(
    server_command=[*server_command(), "--trust-settings-interpreter"],
    server_env=server_env(),
    client_factory=make_client,
)


@pytest_lsp.fixture(config=TRUSTING, loop_scope="module")
async def trusting_client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_a_trusted_settings_interpreter_must_pass_the_safe_environment_check(
    trusting_client: LanguageClient, folder
):
    client = trusting_client
    program, ran = plant_interpreter(folder)
    await start_session(client, [folder], repository_settings(client, str(program)))
    uri = open_document(client, folder / "a.py", GW101_SOURCE)
    assert codes(await wait_for_diagnostics(client, uri, version=1)) == ["GW101"]
    await until(lambda: any("not usable" in m.message for m in client.messages), what="the safety check's refusal")
    assert not ran.exists(), "jedi ran an interpreter that is neither a system Python nor a virtualenv of one"


async def test_the_command_line_interpreter_is_the_users_choice(tmp_path):
    mine = str(tmp_path / "env" / "bin" / "python")
    policy = InterpreterPolicy(command_line=mine)
    assert policy.choose(None).python == mine  # nothing in the settings: the command line's
    assert policy.choose(mine).python == mine and policy.choose(mine).refused is None
    other = policy.choose(str(tmp_path / "repo" / ".venv" / "bin" / "python"))
    assert other.python == mine and other.refused is not None
    assert InterpreterPolicy().choose(sys.executable).python == sys.executable
    trusted = InterpreterPolicy(trust_settings=True).choose("/elsewhere/python3.12")
    assert trusted.python == "/elsewhere/python3.12" and trusted.safe
    # jedi's own check would pass any program root owns.
    assert InterpreterPolicy(trust_settings=True).choose("/bin/rm").refused is not None
