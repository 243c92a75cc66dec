"""Fixtures for the end-to-end tests of `gradwatch serve`: the real server over stdio (pytest-lsp).

`client` is one server per test module (starting one costs about a second);
each test gets its own folder (`project`) inside its workspace, so the URIs
of one test never meet another's. Tests that change settings or need other
client capabilities start their own server (`bare_client`, `pull_client`).
Every async test module runs in a module-wide event loop
(`pytestmark = pytest.mark.asyncio(loop_scope="module")`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from lsp_helpers import CONFIG, start_session

EMPTY_PYPROJECT = "[project]\nname = 'example'\n"


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient, tmp_path_factory: pytest.TempPathFactory):
    """A server for one workspace folder (its empty pyproject.toml stops the search for settings there)."""
    root = tmp_path_factory.mktemp("workspace")
    (root / "pyproject.toml").write_text(EMPTY_PYPROJECT)
    lsp_client.root = root
    await start_session(lsp_client, [root])
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def project(client: LanguageClient, request: pytest.FixtureRequest) -> Path:
    """This test's own folder inside the shared server's workspace."""
    path = client.root / re.sub(r"\W+", "_", request.node.name)
    path.mkdir()
    return path


@pytest_lsp.fixture(config=CONFIG, loop_scope="module")
async def pull_client(lsp_client: LanguageClient, tmp_path: Path):
    """A server of its own for an editor that pulls diagnostics (textDocument/diagnostic)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(EMPTY_PYPROJECT)
    lsp_client.project = project
    await start_session(lsp_client, [project], pull=True)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG, loop_scope="module")
async def bare_client(lsp_client: LanguageClient):
    """A server of its own that the test initializes itself (`start_session`), e.g. with its own options."""
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A workspace folder whose (empty) pyproject.toml stops the search for settings there."""
    path = tmp_path / "folder"
    path.mkdir()
    (path / "pyproject.toml").write_text(EMPTY_PYPROJECT)
    return path
