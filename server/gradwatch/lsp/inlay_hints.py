"""Inlay hints: the proved shape of a tensor after the name an assignment binds, `y: (4, 3) = x @ w`.

They come from the names of the document's current analysis, the same records hover reads
(`Analysis.names`); nothing here analyses anything. A name gets a hint where it is bound (an
assignment, unpacking or loop target) and its value has a proved shape: `?` for a size that
is not known. An annotated target (`y: Tensor = ...`) and an augmented one (`y += ...`)
get none: the hint would sit between the name and its annotation or operator.
"""

from __future__ import annotations

import re

from lsprotocol import types

from gradwatch.analysis.describe import shape_text
from gradwatch.lsp.documents import Analysis

# What follows a target that must not get a hint: an annotation (not `:=`), an augmented operator.
_NO_HINT_AFTER = re.compile(r"\s*(?::(?!=)|(?:\*\*|//|>>|<<|[-+*/%@&|^])=)")


def label(shape: tuple) -> str:
    """`: (4, 3)`, `: (?, 16)`, `: (5,)`, `: ()`: the sizes as hover shows them."""
    return f": {shape_text(shape)}"


def inlay_hints(analysis: Analysis, uri: str, range: types.Range, encoding: str) -> list[types.InlayHint]:
    """The hints of document `uri` whose position lies in `range` (client positions), in document order."""
    coder = analysis.coder(uri, encoding)
    if coder is None:
        return []
    first = (range.start.line, range.start.character)
    last = (range.end.line, range.end.character)
    hints: dict[tuple[int, int], types.InlayHint] = {}
    for item in analysis.names:
        if item.uri != uri or not item.name.bound or item.name.shape is None:
            continue
        span = item.span
        if _NO_HINT_AFTER.match(coder.line_text(span.end_line), span.end_column):
            continue
        position = coder.to_client(span.end_line, span.end_column)
        where = (position.line, position.character)
        # The first record of a place wins, as it does for hover (a name analysed twice has two).
        if where in hints or not first <= where <= last:
            continue
        hints[where] = types.InlayHint(
            position=position,
            label=label(item.name.shape),
            kind=types.InlayHintKind.Type,
            tooltip=types.MarkupContent(kind=types.MarkupKind.Markdown, value=item.name.description),
        )
    return [hints[where] for where in sorted(hints)]
