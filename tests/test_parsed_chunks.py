"""Parsing an edited document one top-level statement at a time (parsing.ParsedChunks):
the tree must be exactly the whole text's tree, whatever the edit, and statements the
edit did not touch are not parsed again."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from gradwatch.parsing import ParsedChunks, parse

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted((REPO / "server" / "gradwatch" / "analysis").glob("*.py"))[:12] + sorted(
    (REPO / "examples").rglob("*.py")
)
EDITS = [" ", "  # note", "(", '"""', "\\", ":", "x = 1", "\n", "\ndef f(:\n", "\nelse:\n", "@", "'"]


def dump(tree: ast.AST) -> str:
    return ast.dump(tree, include_attributes=True)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_edit_gives_the_tree_of_the_whole_text(path: Path) -> None:
    rng = random.Random(path.name)
    text = path.read_text()
    chunks = ParsedChunks()
    assert dump(parse(text, chunks).tree) == dump(parse(text).tree)
    for _ in range(40):
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(EDITS) + text[at:]
        edited, whole = parse(text, chunks), parse(text)
        assert dump(edited.tree) == dump(whole.tree)
        assert edited.syntax_error == whole.syntax_error


def test_statements_the_edit_did_not_touch_are_reused() -> None:
    text = '"""A module.\n\nWith a docstring\nof several lines.\n"""\nimport torch\n\n\ndef f(x):\n    return x\n\n\ndef g(y):\n    return y\n'
    chunks = ParsedChunks()
    before = parse(text, chunks).tree
    after = parse(text.replace("return y", "return y + 1"), chunks).tree
    assert [a is b for a, b in zip(before.body, after.body)] == [True, True, True, False]
    # A syntax error costs this text the reuse, not the next one.
    assert parse(text.replace("return x", "return x +"), chunks).syntax_error is not None
    again = parse(text, chunks).tree
    assert again.body[2] is before.body[2]


def test_typing_into_an_empty_document() -> None:
    chunks = ParsedChunks()
    text = ""
    for char in "import torch\nx = (1, 2\n":
        text += char
        assert dump(parse(text, chunks).tree) == dump(parse(text).tree)
