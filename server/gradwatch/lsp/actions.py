"""Code actions: each finding's fixes, "ignore on this line", and fix-all for a document.

Everything here reads an analysis of the current document version; nothing
runs the engine on the request path.
"""

from __future__ import annotations

import re
from dataclasses import replace

from lsprotocol import types

from gradwatch.findings import Finding, Fix, Span, TextEdit
from gradwatch.fixes import apply_fixes
from gradwatch.lsp import convert
from gradwatch.lsp.documents import Analysis, LocatedFinding, Segment

FIX_ALL_KIND = f"{types.CodeActionKind.SourceFixAll.value}.gradwatch"
KINDS = [types.CodeActionKind.QuickFix, FIX_ALL_KIND]

# An existing `# noqa: A1, B2` list, or `# gradwatch: ignore[A1` up to its `]`: codes are appended there.
_NOQA_LIST = re.compile(r"#\s*noqa\s*:\s*[A-Za-z]+[0-9]+(?:\s*,\s*[A-Za-z]+[0-9]+)*", re.IGNORECASE)
_IGNORE_LIST = re.compile(r"#\s*gradwatch:\s*ignore\[[^\]]*(?=\])", re.IGNORECASE)


class EditBuilder:
    """Turns engine edits (program coordinates) into one WorkspaceEdit for the client."""

    def __init__(self, analysis: Analysis, encoding: str, versioned: bool) -> None:
        self.analysis = analysis
        self.encoding = encoding
        self.versioned = versioned

    def workspace_edit(self, edits: list[TextEdit]) -> types.WorkspaceEdit | None:
        by_uri: dict[str, list[types.TextEdit]] = {}
        for edit in edits:
            located = self.analysis.program.locate(edit.span)
            if located is None:
                return None  # an edit we cannot place would leave a half-applied fix
            segment, span = located
            coder = convert.LineCoder(segment.lines, self.encoding)
            by_uri.setdefault(segment.uri, []).append(types.TextEdit(range=coder.range(span), new_text=edit.new_text))
        return self.from_lsp_edits(by_uri)

    def from_lsp_edits(self, by_uri: dict[str, list[types.TextEdit]]) -> types.WorkspaceEdit:
        if not self.versioned:
            return types.WorkspaceEdit(changes=by_uri)
        versions = {segment.uri: segment.version for segment in self.analysis.program.segments}
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=versions.get(uri)),
                    edits=lsp_edits,
                )
                for uri, lsp_edits in by_uri.items()
            ]
        )


def code_actions(
    analysis: Analysis,
    uri: str,
    params: types.CodeActionParams,
    encoding: str,
    versioned: bool,
) -> list[types.CodeAction]:
    only = params.context.only
    builder = EditBuilder(analysis, encoding, versioned)
    actions: list[types.CodeAction] = []
    if _wanted(types.CodeActionKind.QuickFix, only):
        for item in analysis.findings_in(uri):
            if _overlaps(item.diagnostic.range, params.range):
                actions.extend(_quick_fixes(item, builder))
    if _wanted(FIX_ALL_KIND, only):
        fix_all = fix_all_action(analysis, uri, builder)
        if fix_all is not None:
            actions.append(fix_all)
    return actions


def _quick_fixes(item: LocatedFinding, builder: EditBuilder) -> list[types.CodeAction]:
    actions = []
    preferred_given = False
    for fix in item.finding.fixes:
        edit = builder.workspace_edit(list(fix.edits))
        if edit is None:
            continue
        preferred = fix.safe and not preferred_given
        preferred_given = preferred_given or preferred
        actions.append(
            types.CodeAction(
                title=fix.title if fix.safe else f"{fix.title} (changes behaviour)",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[item.diagnostic],
                is_preferred=preferred or None,
                edit=edit,
            )
        )
    segment = builder.analysis.segment(item.uri)
    if segment is not None:
        actions.append(_ignore_action(item, segment, builder))
    return actions


def _ignore_action(item: LocatedFinding, segment: Segment, builder: EditBuilder) -> types.CodeAction:
    code = item.finding.code
    line = item.span.line
    text = segment.lines[line - 1] if 1 <= line <= len(segment.lines) else ""
    start, end, new_text = noqa_insertion(text, code)
    coder = convert.LineCoder(segment.lines, builder.encoding)
    edit = types.TextEdit(
        range=types.Range(start=coder.to_client(line, start), end=coder.to_client(line, end)),
        new_text=new_text,
    )
    return types.CodeAction(
        title=f"Ignore {code} on this line",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[item.diagnostic],
        edit=builder.from_lsp_edits({item.uri: [edit]}),
    )


def noqa_insertion(line_text: str, code: str) -> tuple[int, int, str]:
    """(start column, end column, new text) that makes `line_text` suppress `code`."""
    for pattern in (_NOQA_LIST, _IGNORE_LIST):
        match = pattern.search(line_text)
        if match is not None:
            return match.end(), match.end(), f", {code}"
    content_end = len(line_text.rstrip())
    return content_end, len(line_text), f"  # noqa: {code}"


def fix_all_action(analysis: Analysis, uri: str, builder: EditBuilder) -> types.CodeAction | None:
    """Every safe fix in document `uri`, as one edit (what `gradwatch check --fix` does in one round)."""
    segment = analysis.segment(uri)
    if segment is None:
        return None
    local_findings = [f for f in (_local_finding(item.finding, analysis, uri) for item in analysis.findings_in(uri)) if f]
    if not local_findings:
        return None
    old_text = "\n".join(segment.lines)
    new_text, applied = apply_fixes(old_text, local_findings, unsafe=False)
    if not applied:
        return None
    edit = convert.minimal_edit(old_text, new_text, convert.LineCoder(segment.lines, builder.encoding))
    if edit is None:
        return None
    return types.CodeAction(
        title="Fix all gradwatch problems with a safe fix",
        kind=FIX_ALL_KIND,
        edit=builder.from_lsp_edits({uri: [edit]}),
    )


def _local_finding(finding: Finding, analysis: Analysis, uri: str) -> Finding | None:
    """The finding with its fixes moved into document `uri`'s own lines; fixes reaching elsewhere are dropped."""
    fixes: list[Fix] = []
    for fix in finding.fixes:
        edits = []
        for edit in fix.edits:
            located = analysis.program.locate(edit.span)
            if located is None or located[0].uri != uri:
                break
            edits.append(TextEdit(located[1], edit.new_text))
        else:
            fixes.append(replace(fix, edits=tuple(edits)))
    if not fixes:
        return None
    located = analysis.program.locate(finding.span)
    span = located[1] if located is not None else Span(1, 0, 1, 0)
    return replace(finding, span=span, fixes=tuple(fixes), related=())


def _wanted(kind: str, only: list[str] | None) -> bool:
    # Kinds are hierarchical: asking for "source" includes "source.fixAll.gradwatch".
    if not only:
        return True
    return any(kind == requested or kind.startswith(f"{requested}.") for requested in only)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    a_start, a_end = (a.start.line, a.start.character), (a.end.line, a.end.character)
    b_start, b_end = (b.start.line, b.start.character), (b.end.line, b.end.character)
    return a_start <= b_end and b_start <= a_end
