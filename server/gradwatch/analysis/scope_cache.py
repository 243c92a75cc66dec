"""Reusing a function's analysis while the user edits another one.

An editor re-checks a document on every keystroke, but a keystroke changes one
function. A function whose text, position and surroundings (the module's
imports and classes, whether it is a `forward`) are unchanged produces the same
events, so the language server keeps one cache per document and the
interpreter replays what it recorded last time. Only the entries used by the
latest run are kept.
"""

from __future__ import annotations

from gradwatch.parsing import ParsedChunks


class ScopeCache:
    def __init__(self) -> None:
        self._entries: dict = {}
        self._next: dict = {}
        self.parsed_chunks = ParsedChunks()  # the document's top-level statements, parsed

    def get(self, key):
        hit = self._entries.get(key)
        if hit is not None:
            self._next[key] = hit
        return hit

    def put(self, key, value) -> None:
        self._next[key] = value

    def finish_run(self) -> None:
        self._entries, self._next = self._next, {}
