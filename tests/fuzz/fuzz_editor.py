"""The language server's side of a fuzz input: its analysis of an open document, and the
document after the editor applies gradwatch's fix-all code action."""

from __future__ import annotations

import re

_EDITOR_URI = "file:///fuzz/input.py"


def editor_analysis(text: str, encoding: str = "utf-16"):
    """What the language server computes for `text` open in an editor: findings as diagnostics."""
    from gradwatch.config import Settings
    from gradwatch.lsp.documents import analyse_program, single_document_program

    program = single_document_program(_EDITOR_URI, 1, text, Settings(), True, None, 0)
    return analyse_program(program, encoding)


def editor_fix_all(text: str, encoding: str = "utf-16") -> str | None:
    """The document after the editor applies gradwatch's source.fixAll action; None if none is offered.

    Goes through the language server's code-action entry point, as a request would."""
    import asyncio
    import inspect

    from lsprotocol import types

    from gradwatch.lsp import actions

    uri = _EDITOR_URI
    analysis = editor_analysis(text, encoding)
    if analysis is None:
        return None
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[], only=[actions.FIX_ALL_KIND]),
    )
    entry = getattr(actions, "code_actions_now", None) or actions.code_actions
    answer = entry(analysis, uri, params, encoding, False)
    if inspect.isawaitable(answer):
        answer = asyncio.run(answer)
    fix_all = [action for action in answer if action.kind == actions.FIX_ALL_KIND and action.edit is not None]
    if not fix_all:
        return None
    edit = fix_all[0].edit
    edits = edit.changes[uri] if edit.changes else edit.document_changes[0].edits
    return apply_lsp_edits(text, edits)


def apply_lsp_edits(text: str, edits) -> str:
    """Apply LSP text edits (UTF-16 positions, lines split at \\n, \\r\\n, \\r) as an editor does."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def offset(position) -> int:
        if position.line >= len(starts):
            return len(text)
        start = starts[position.line]
        end = starts[position.line + 1] if position.line + 1 < len(starts) else len(text)
        line = text[start:end].rstrip("\r\n")
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return start + index
            units += 2 if ord(char) > 0xFFFF else 1
        return start + len(line)

    spans = sorted(((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits), key=lambda s: s[:2])
    pieces, position = [], 0
    for start, end, new_text in spans:
        pieces += [text[position:start], new_text]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
