"""Parsing an edited document one top-level statement at a time (parsing.ParsedChunks):
the tree must be exactly the whole text's tree, whatever the edit; a syntax error must be
reported as a whole-text parse reports one, and cost only the lines around it; statements
the edit did not touch are not parsed again."""

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
        assert (edited.syntax_error is None) == (whole.syntax_error is None)
        if whole.syntax_error is None:
            assert dump(edited.tree) == dump(whole.tree)


def test_statements_the_edit_did_not_touch_are_reused() -> None:
    text = '"""A module.\n\nWith a docstring\nof several lines.\n"""\nimport torch\n\n\ndef f(x):\n    return x\n\n\ndef g(y):\n    return y\n'
    chunks = ParsedChunks()
    before = parse(text, chunks).tree
    after = parse(text.replace("return y", "return y + 1"), chunks).tree
    assert [a is b for a, b in zip(before.body, after.body)] == [True, True, True, False]
    # A syntax error in f leaves the statements around it as they were.
    assert parse(text.replace("return x", "return x +"), chunks).syntax_error is not None
    again = parse(text, chunks).tree
    assert [again.body[0], again.body[1]] == [before.body[0], before.body[1]]
    assert again.body[0] is before.body[0] and again.body[1] is before.body[1]


def test_typing_into_an_empty_document() -> None:
    chunks = ParsedChunks()
    text = ""
    for char in "import torch\nx = (1, 2)\n":
        text += char
        edited, whole = parse(text, chunks), parse(text)
        assert (edited.syntax_error is None) == (whole.syntax_error is None)
        if whole.syntax_error is None:
            assert dump(edited.tree) == dump(whole.tree)


def test_a_syntax_error_costs_only_its_own_statement() -> None:
    functions = [f"def f{n}(x):\n    y = x * {n}\n    return y\n\n\n" for n in range(4)]
    text = "import torch\n\n\n" + "".join(functions)
    chunks = ParsedChunks()
    before = parse(text, chunks).tree
    # Typing an opening bracket in f1: a whole-text parse blanks everything after it.
    broken = text.replace("y = x * 1", "y = (x * 1")
    edited, whole = parse(broken, chunks), parse(broken)
    assert edited.syntax_error is not None and whole.syntax_error is not None
    assert edited.syntax_error[0].line == 10  # the bracket's line
    kept = {statement.name: statement for statement in edited.tree.body if isinstance(statement, ast.FunctionDef)}
    assert list(kept) == ["f0", "f1", "f2", "f3"]
    # Only the broken line is lost: `pass` stands in its place, the return after it stays.
    assert [type(statement) for statement in kept["f1"].body] == [ast.Pass, ast.Return]
    assert kept["f1"].body[0].lineno == 10
    assert edited.tree.body[-1] is before.body[-1]
    # The same broken text again: the error is reported again, not cached away.
    assert parse(broken, chunks).syntax_error == edited.syntax_error
    assert dump(parse(text, chunks).tree) == dump(parse(text).tree)


# Found by the fuzz harness: the editor (which re-parses the edited statement alone) kept the
# statement or block above a broken top-level line, a whole-text parse blanked it too, so
# `gradwatch check` and the editor disagreed about the file.
ABOVE_A_BROKEN_LINE = [
    (
        "loss_b = (hidden.detach() * b).sum()\n"
        "loss_b.backward()\n"
        "loss_w = (hidden * b\n"
        "y = x\n"
        ").sum()\n"
        "loss_w.backward()\n",
        "y = x\n",  # deleted: the valid version the editor had before
        3,
        "loss_b.backward()",
    ),
    (
        "class Encoder(nn.Module):\n"
        "    def __init__(self):\n"
        "        self.layer = nn.Linear(2, 2)\n"
        "\n"
        "\n"
        "matchclass Embeddings(nn.Module):\n"
        "    def __init__(self):\n"
        "        self.table = nn.Embedding(3, 2)\n",
        "match",
        6,
        "class Encoder(nn.Module):",
    ),
]


@pytest.mark.parametrize("text, typed, error_line, kept", ABOVE_A_BROKEN_LINE)
def test_a_broken_top_level_line_does_not_take_what_is_above_it_with_it(text, typed, error_line, kept) -> None:
    whole = parse(text)
    assert whole.syntax_error is not None and whole.syntax_error[0].line == error_line
    assert kept in [ast.unparse(statement).split("\n")[0] for statement in whole.tree.body]
    chunks = ParsedChunks()
    parse(text.replace(typed, "", 1), chunks)
    assert dump(parse(text, chunks).tree) == dump(whole.tree)


def test_an_edit_of_every_statement_measures_each_line_once_for_nesting(monkeypatch) -> None:
    # Each re-parsed statement's tree is checked for deep nesting by its own lines' lengths:
    # measuring the whole document for each one made fix verification of a file with
    # thousands of findings quadratic (a fuzz find).
    from gradwatch import deep_nesting

    measured = []
    original = deep_nesting._byte_starts

    def measuring(lines):
        measured.append(len(lines))
        return original(lines)

    monkeypatch.setattr(deep_nesting, "_byte_starts", measuring)
    chunks = ParsedChunks()
    parse("".join(f"x{i} = {i}\n" for i in range(2000)), chunks)
    measured.clear()
    edited = "".join(f"x{i} = {i} + 1\n" for i in range(2000))  # every statement changes
    assert parse(edited, chunks).tree.body[1999].value.right.value == 1
    assert len(measured) == 2000 and sum(measured) == 2000
