"""Fixtures for the end-to-end tests of `gradwatch serve`: the real server over stdio (pytest-lsp)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from lsp_helpers import CONFIG, start_session


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, tmp_path: Path):
    """A server for a workspace folder `tmp_path/project` (an empty pyproject.toml stops the search there)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'example'\n")
    lsp_client.project = project
    await start_session(lsp_client, [project])
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def pull_client(lsp_client: LanguageClient, tmp_path: Path):
    """Like `client`, but the editor pulls diagnostics (textDocument/diagnostic)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'example'\n")
    lsp_client.project = project
    await start_session(lsp_client, [project], pull=True)
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def project(client: LanguageClient) -> Path:
    return client.project


@pytest_lsp.fixture(config=CONFIG)
async def bare_client(lsp_client: LanguageClient, tmp_path: Path):
    """A started server the test initializes itself (`start_session`), e.g. with its own options."""
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A workspace folder whose (empty) pyproject.toml stops the search for settings there."""
    path = tmp_path / "folder"
    path.mkdir()
    (path / "pyproject.toml").write_text("[project]\nname = 'example'\n")
    return path
