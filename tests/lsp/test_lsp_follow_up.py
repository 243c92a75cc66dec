"""The cross-module pass of a version starts only after a pause in the edits: a version that a
newer one replaced within the pause never starts one (the newer edit would otherwise have to
cancel it first, and wait for it to notice)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from gradwatch.config import Settings
from gradwatch.lsp import documents
from gradwatch.lsp.documents import Analyser, Analysis, single_document_program

from lsp_helpers import GW201_SOURCE, until

KEY = "file:///documents/typing.py"


@pytest.mark.asyncio
async def test_a_version_replaced_before_the_pause_never_starts_its_cross_module_pass(monkeypatch):
    version = 1
    passes: list[tuple[int, str]] = []  # (version, "first" or "cross")

    def build(key: str):
        program = single_document_program(key, version, GW201_SOURCE, Settings(), True, None, (key, version))
        return replace(program, project=object())  # a project: each version gets a cross-module pass

    def analyse(program, encoding, scopes=None, cancelled=None):
        passes.append((program.state[1], "cross" if program.project is not None else "first"))
        return Analysis(program, calls_other_files=True)

    published: list[Analysis] = []

    def publish(analysis: Analysis) -> None:
        nonlocal version
        published.append(analysis)
        if analysis.program.state[1] == 1:  # the next keystroke comes right after version 1's diagnostics
            version = 2
            analyser.schedule(KEY)

    monkeypatch.setattr(documents, "analyse_program", analyse)
    analyser = Analyser(build, lambda key: (key, version), publish, lambda: "utf-16")
    try:
        analyser.schedule(KEY)
        await until(lambda: (2, "cross") in passes, what="the cross-module pass of version 2")
    finally:
        analyser.shutdown()
    assert passes == [(1, "first"), (2, "first"), (2, "cross")]
