"""Reusing a function's analysis while the user edits another one.

An editor re-checks a document on every keystroke, but a keystroke changes one
function. A function whose text, position and surroundings (the module's
imports and classes, whether it is a `forward`) are unchanged produces the same
events, so the language server keeps one cache per document and the
interpreter replays what it recorded last time. The entries used by the latest
two runs are kept: a transient syntax error (a `(` typed, then closed or
deleted) takes functions away for one run, and the run after it finds them
again.
"""

from __future__ import annotations

from gradwatch.parsing import ParsedChunks


class ScopeCache:
    def __init__(self) -> None:
        self._entries: dict = {}  # used by the latest run
        self._older: dict = {}  # used by the run before it
        self._next: dict = {}
        self.parsed_chunks = ParsedChunks()  # the document's top-level statements, parsed

    def get(self, key, usable=lambda entry: True):
        """The latest entry for `key` that is `usable` (its dependencies still hold), kept for
        the next run; None when there is none."""
        for entries in (self._entries, self._older):
            hit = entries.get(key)
            if hit is not None and usable(hit):
                self._next[key] = hit
                return hit
        return None

    def put(self, key, value) -> None:
        self._next[key] = value

    def finish_run(self) -> None:
        self._older, self._entries, self._next = self._entries, self._next, {}
