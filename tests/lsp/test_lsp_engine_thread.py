"""The server's analyses never run the parser in two threads at once.

CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide
state (gh-106905): two threads inside `ast.parse` at the same time can fail
with a spurious SystemError, and that version is then published without
diagnostics. The race itself is rare; what is checked here is the condition
for it, on the real Analyser: `ast.parse` is watched (and slowed down, to make
an overlap likely if the scheduling allowed one) while several documents are
analysed at once.
"""

from __future__ import annotations

import ast
import threading
import time

import pytest
from gradwatch.config import Settings
from gradwatch.lsp.documents import Analyser, single_document_program

from lsp_helpers import GW201_SOURCE, until


@pytest.mark.asyncio
async def test_analyses_never_parse_in_two_threads_at_once(monkeypatch):
    parse = ast.parse
    lock = threading.Lock()
    inside = 0
    most_at_once = 0

    def watched_parse(*args, **kwargs):
        nonlocal inside, most_at_once
        with lock:
            inside += 1
            most_at_once = max(most_at_once, inside)
        try:
            time.sleep(0.02)
            return parse(*args, **kwargs)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(ast, "parse", watched_parse)
    texts = {f"file:///documents/doc{n}.py": f"{GW201_SOURCE}# document {n}\n" for n in range(6)}
    published = []

    def build(key: str):
        return single_document_program(key, 1, texts[key], Settings(), True, None, (key, 1))

    analyser = Analyser(build, lambda key: (key, 1), published.append, lambda: "utf-16")
    try:
        for key in texts:
            analyser.schedule(key)
        await until(lambda: len(published) == len(texts), what="every document analysed")
    finally:
        analyser.shutdown()
    assert all(not analysis.failed and analysis.findings for analysis in published)
    assert most_at_once == 1
