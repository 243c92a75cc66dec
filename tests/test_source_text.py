"""SourceText: ast's byte columns as character columns, and each node's text as written."""

from __future__ import annotations

import ast

import pytest

from gradwatch.source import SourceText

TEXTS = {
    "ascii": "import torch\n\nx = torch.ones(2, requires_grad=True)\ny = (x * 2).sum()\ny.backward()\n",
    # Only some lines hold a wide character: the others keep byte columns as they are.
    "mixed": (
        "import torch\n"
        "# σ(Σ_j α_ij W h_j)\n"
        "größe = torch.ones(2, requires_grad=True)\n"
        "y = (größe * 2).sum()  # ü\n"
        "label = 'λ' + str(y.item())\n"
        "z = torch.cat([größe,\n"
        "               größe]).sum()\n"
        "z.backward()\n"
        "w = [1,\n"  # starts on a line of ASCII, ends on a wide one
        "     'ä']\n"
    ),
    "crlf": "a = '😀'\r\nb = a + 'x'\r\nc = [b,\r\n     a]\r\n",
}


def _char_column(text: str, line: int, byte_column: int) -> int:
    line_text = text.splitlines(keepends=True)[line - 1]
    return len(line_text.encode("utf-8")[:byte_column].decode("utf-8"))


@pytest.mark.parametrize("name", TEXTS)
def test_every_node_has_its_own_text_and_character_columns(name):
    text = TEXTS[name]
    source = SourceText(text)
    nodes = [n for n in ast.walk(ast.parse(text)) if hasattr(n, "end_lineno") and n.end_lineno is not None]
    assert len(nodes) > 10
    for node in nodes:
        assert source.segment(node) == ast.get_source_segment(text, node), ast.dump(node)
        span = source.span(node)
        assert span.column == _char_column(text, node.lineno, node.col_offset)
        assert span.end_column == _char_column(text, node.end_lineno, node.end_col_offset)
