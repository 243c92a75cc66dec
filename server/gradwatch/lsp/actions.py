"""Code actions: each finding's fixes, "ignore on this line", and fix-all for a document.

Everything here reads an analysis of the current document version. A fix is
offered only once it is verified (`gradwatch.fixes.FixVerifier`: it parses,
stays in its statement, and a re-check no longer reports the finding). That
re-runs the engine, so it happens when actions are asked for, not on every
keystroke, in a worker thread holding the engine lock, and its verdicts are
kept with the analysis they judge.
"""

from __future__ import annotations

import asyncio
import re
import threading
import weakref

from lsprotocol import types

from gradwatch.checker import check_source
from gradwatch.findings import Fix, TextEdit
from gradwatch.fixes import FixVerifier, OverlappingEdits, RecheckCache, apply_edits, with_line_endings
from gradwatch.lsp import convert
from gradwatch.lsp.documents import ENGINE_LOCK, Analysis, LocatedFinding, Segment

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


async def code_actions(
    analysis: Analysis,
    uri: str,
    params: types.CodeActionParams,
    encoding: str,
    versioned: bool,
) -> list[types.CodeAction]:
    """The actions for `params`, with their fixes verified off the event loop."""
    return await asyncio.to_thread(code_actions_now, analysis, uri, params, encoding, versioned)


def code_actions_now(
    analysis: Analysis,
    uri: str,
    params: types.CodeActionParams,
    encoding: str,
    versioned: bool,
) -> list[types.CodeAction]:
    """The same, in the calling thread (which waits for the engine lock)."""
    only = params.context.only
    builder = EditBuilder(analysis, encoding, versioned)
    actions: list[types.CodeAction] = []
    with ENGINE_LOCK:  # verification parses and analyses: never beside an engine run (see ENGINE_LOCK)
        verifier = fix_verifier(analysis)
        if _wanted(types.CodeActionKind.QuickFix, only):
            for item in analysis.findings_in(uri):
                if _overlaps(item.diagnostic.range, params.range):
                    actions.extend(_quick_fixes(item, builder, verifier))
        if _wanted(FIX_ALL_KIND, only):
            fix_all = fix_all_action(analysis, uri, builder, verifier)
            if fix_all is not None:
                actions.append(fix_all)
    return actions


# Verifiers of recent analyses: an editor asks for actions at every cursor move, and
# each verdict costs a re-check. Keyed by the analysis object (one per document version).
_VERIFIERS: dict[int, tuple[weakref.ref, FixVerifier]] = {}
_VERIFIERS_KEPT = 16
_VERIFIERS_GUARD = threading.Lock()


def fix_verifier(analysis: Analysis) -> FixVerifier:
    """The verifier of `analysis`'s program text, re-checking locally (without following other files)."""
    with _VERIFIERS_GUARD:
        kept = _VERIFIERS.get(id(analysis))
        if kept is not None and kept[0]() is analysis:
            return kept[1]
        program = analysis.program
        cache = RecheckCache()

        def check(text: str) -> list:
            return check_source(text, path=program.path, settings=program.settings, cache=cache).findings

        verifier = FixVerifier(program.text, check)
        _VERIFIERS[id(analysis)] = (weakref.ref(analysis), verifier)
        for key in [key for key, (ref, _) in _VERIFIERS.items() if ref() is None]:
            del _VERIFIERS[key]
        while len(_VERIFIERS) > _VERIFIERS_KEPT:
            del _VERIFIERS[next(iter(_VERIFIERS))]
        return verifier


def _quick_fixes(item: LocatedFinding, builder: EditBuilder, verifier: FixVerifier) -> list[types.CodeAction]:
    actions = []
    preferred_given = False
    for fix in verifier.verified(item.finding):
        fix = with_line_endings(verifier.text, fix)
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


def fix_all_action(
    analysis: Analysis, uri: str, builder: EditBuilder, verifier: FixVerifier
) -> types.CodeAction | None:
    """Every verified safe fix in document `uri`, as one edit (one round of `gradwatch check --fix`)."""
    segment = analysis.segment(uri)
    if segment is None:
        return None
    findings = [item.finding for item in analysis.findings_in(uri)]
    applied = verifier.select(findings, allowed=lambda fix: _local_edits(fix, analysis, uri) is not None)
    if not applied:
        return None
    edits = [edit for _, fix in applied for edit in _local_edits(fix, analysis, uri) or ()]
    old_text = _document_text(analysis, segment)
    try:
        new_text = apply_edits(old_text, edits)
    except OverlappingEdits:
        return None
    edit = convert.minimal_edit(old_text, new_text, convert.LineCoder(segment.lines, builder.encoding))
    if edit is None:
        return None
    return types.CodeAction(
        title="Fix all gradwatch problems with a safe fix",
        kind=FIX_ALL_KIND,
        edit=builder.from_lsp_edits({uri: [edit]}),
    )


def _local_edits(fix: Fix, analysis: Analysis, uri: str) -> list[TextEdit] | None:
    """The fix's edits in document `uri`'s own lines; None if one of them reaches elsewhere."""
    edits = []
    for edit in fix.edits:
        located = analysis.program.locate(edit.span)
        if located is None or located[0].uri != uri:
            return None
        edits.append(TextEdit(located[1], edit.new_text))
    return edits


def _document_text(analysis: Analysis, segment: Segment) -> str:
    """The document's text as the editor has it: a file's own (its line endings kept);
    a notebook cell's lines (cells are joined with \\n into the program)."""
    program = analysis.program
    if not program.notebook and len(program.segments) == 1:
        return program.text
    return "\n".join(segment.lines)


def _wanted(kind: str, only: list[str] | None) -> bool:
    # Kinds are hierarchical: asking for "source" includes "source.fixAll.gradwatch".
    if not only:
        return True
    return any(kind == requested or kind.startswith(f"{requested}.") for requested in only)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    a_start, a_end = (a.start.line, a.start.character), (a.end.line, a.end.character)
    b_start, b_end = (b.start.line, b.start.character), (b.end.line, b.end.character)
    return a_start <= b_end and b_start <= a_end
