"""The server's copy of a document resolves positions as LSP clients do (unit level)."""

from __future__ import annotations

import random
import re

from gradwatch.lsp.text import lines_with_endings, offset_at
from lsprotocol import types

UTF16 = types.PositionEncodingKind.Utf16


def reference_offset(text: str, line: int, character: int) -> int:
    """vscode-languageserver-textdocument's offsetAt, on UTF-16 code units."""
    units = text.encode("utf-16-le", "surrogatepass")
    code_units = [units[i : i + 2] for i in range(0, len(units), 2)]
    as_units = "".join(chr(int.from_bytes(u, "little")) for u in code_units)
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", as_units)]
    if line >= len(starts):
        offset = len(as_units)
    else:
        next_start = starts[line + 1] if line + 1 < len(starts) else len(as_units)
        offset = min(starts[line] + character, next_start)
        while offset > starts[line] and as_units[offset - 1] in "\r\n":
            offset -= 1
    # Back from UTF-16 units to characters (a position inside a surrogate pair counts the pair).
    characters = 0
    consumed = 0
    for char in text:
        if consumed >= offset:
            break
        consumed += 2 if ord(char) > 0xFFFF else 1
        characters += 1
    return characters


def test_positions_match_the_reference_client_library():
    rng = random.Random(7)
    alphabet = ["a", "b", "\n", "\r\n", "\r", "😀", "张", "\x0c", "\u2028", "\x85", "\x0b"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        line_count = len(re.findall(r"\r\n|\r|\n", text)) + 1
        for _ in range(10):
            line, character = rng.randint(0, line_count + 1), rng.randint(0, 12)
            expected = reference_offset(text, line, character)
            actual = offset_at(text, types.Position(line=line, character=character), UTF16)
            assert actual == expected, (text, line, character)


def test_lines_break_only_where_lsp_breaks_them():
    text = "a\x0cb\u2028c\x85d\x0be\x1cf\u2029g\nh\r\ni\rj"
    assert lines_with_endings(text) == ["a\x0cb\u2028c\x85d\x0be\x1cf\u2029g\n", "h\r\n", "i\r", "j"]


def test_a_position_near_the_end_of_a_large_file_is_found_quickly():
    import time

    text = "x = 1  # 张量\n" * 400_000  # about 5 MB
    started = time.monotonic()
    offset = offset_at(text, types.Position(line=399_999, character=5), UTF16)
    assert offset == len(text) - len("x = 1  # 张量\n") + 5
    assert time.monotonic() - started < 0.1
