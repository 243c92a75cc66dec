"""Hover: why a flagged span is a hazard, or what the engine knows about a tensor name."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from lsprotocol import types

from gradwatch.findings import Finding, Span
from gradwatch.lsp import convert
from gradwatch.lsp.documents import Analysis
from gradwatch.rules import rule_by_code


RUNTIME_NOTE = "*Seen when the program ran under `gradwatch run`; shown until this file is edited.*"


def hover(
    analysis: Analysis, uri: str, position: types.Position, encoding: str, runtime: Sequence[Finding] = ()
) -> types.Hover | None:
    """`runtime`: findings of `gradwatch run` that apply to the document's current text."""
    coder = analysis.coder(uri, encoding)
    if coder is None:
        return None
    where = coder.from_client(position)
    if where is None:
        return None
    line, column = where
    flagged = [item for item in analysis.findings_in(uri) if item.span.contains(line, column)]
    seen = [finding for finding in runtime if finding.span.contains(line, column)]
    if flagged or seen:
        parts = [finding_markdown(item.finding, analysis) for item in flagged]
        parts += [f"{RUNTIME_NOTE}\n\n{finding_markdown(finding, analysis)}" for finding in seen]
        span = flagged[0].span if flagged else seen[0].span
        return _markdown("\n\n---\n\n".join(parts), coder.range(span))
    for item in analysis.names:
        if item.uri == uri and item.span.contains(line, column):
            description = item.name.description
            if not description.startswith(f"`{item.name.name}`"):
                description = f"`{item.name.name}`: {description}"
            return _markdown(description, coder.range(item.span))
    return None


def finding_markdown(finding: Finding, analysis: Analysis) -> str:
    rule = rule_by_code(finding.code)
    title = f"**{finding.code}**" + (f" `{finding.rule_name}`" if finding.rule_name else "")
    parts = [f"{title}: {finding.message}"]
    if rule is not None and rule.explanation.strip():
        parts.append(rule.explanation.strip())
    if finding.related:
        chain = [f"{number}. {_line_link(item.span, analysis, item.path)}: {item.message}" for number, item in enumerate(finding.related, 1)]
        parts.append("**Why:**\n\n" + "\n".join(chain))
    if finding.fix is not None:
        safety = "" if finding.fix.safe else " (changes behaviour: review it)"
        parts.append(f"**Fix:** {finding.fix.title}{safety}")
    elif rule is not None and rule.fix_summary.strip():
        parts.append(f"**Fix:** {rule.fix_summary.strip()}")
    parts.append(f"[{finding.code} documentation]({convert.rule_docs_url(finding.code)})")
    return "\n\n".join(parts)


def _line_link(span: Span, analysis: Analysis, path: str | None = None) -> str:
    if path is not None:
        return f"[{Path(path).name} line {span.line}]({Path(path).as_uri()}#L{span.line})"
    located = analysis.program.locate(span)
    if located is None:
        return f"line {span.line}"
    segment, local = located
    if "#" in segment.uri:  # e.g. a notebook cell URI: its fragment already names the cell
        return f"line {local.line}"
    return f"[line {local.line}]({segment.uri}#L{local.line})"


def _markdown(text: str, range: types.Range) -> types.Hover:
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=range)
