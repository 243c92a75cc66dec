"""Recovery from syntax errors: a syntax error costs only the code around it.

Recovery puts in place of the line with the error what of it can stand (an
import up to its last whole name, a block's header without what follows its
colon or with its condition not known, a line that continues a statement up to
the bracket it leaves open, else `pass`) or, when none of that parses, blanks
the def or class around it, and parses again; line numbers stay put, so
findings elsewhere keep their positions. Its cost is bounded: a few guesses from
the error's line, then, when that fails or the error has no useful line, a
bisection for the first top-level statement that stops the text from parsing.
An unterminated triple-quoted string is such an error: Python reports where the
last string of the file opens, which is not where the user typed the stray
quotes.
"""

from __future__ import annotations

import ast
import re
import tokenize
import warnings

from gradwatch.deep_nesting import ELIDED_NAME
from gradwatch.findings import Span
from gradwatch.source import split_lines

_BLOCK_START = re.compile(r"\s*(async\s+def|def|class)\b")
# A line that can begin a top-level statement: a cut point for the bisection. Lines
# that continue a statement (`else:`, `)`, ...) or text inside a string usually fail
# this test; where they pass, the bisection still ends on a cut that parses.
_STATEMENT_START = re.compile(r"(?!(?:else|elif|except|finally)\b)[^\s#'\")\]}]")
_UNTERMINATED_TRIPLE_QUOTE = "unterminated triple-quoted string"
_IMPORT_START = re.compile(r"[ \t]*(?:import|from)\b")
# A block's header, and the ones whose condition recovery can leave unknown.
_HEADER_START = re.compile(r"[ \t]*(?:async\s+)?(if|elif|else|while|for|with|try|except|finally|def|class)\b")
_CONDITIONS = ("if", "elif", "while")
# What a header needs around it to parse (`elif x:` after an `if`, `try:` before an `except`).
_IF, _TRY = "if x:\n pass\n", "try:\n pass\n"
_HEADER_CONTEXT = {
    "elif": (_IF, ""),
    "else": (_IF, ""),
    "except": (_TRY, ""),
    "finally": (_TRY, ""),
    "try": ("", "finally:\n pass\n"),
}
MAX_IMPORT_PREFIXES = 20  # prefixes of a broken import line tried, longest first (each a tiny parse)

MAX_BLOCK_GUESSES = 3
# Parsing done while recovering, in multiples of the text's size, and at most
# MAX_PARSED_CHARACTERS in all (ast.parse reads about 1.6 MB a second): past it, only
# the longest prefix known to parse is kept.
PARSE_BUDGET = 12
MAX_PARSED_CHARACTERS = 1_000_000

# ast.parse raises MemoryError when its parser runs out of stack (deep brackets) and
# RecursionError when building a very deep tree (a 3,000-term sum); CPython cannot
# compile such a file either, so they are syntax errors here.
PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


def recovery_budget(size: int) -> int:
    """How many characters recovery may parse for a text of `size` characters."""
    return min(PARSE_BUDGET * max(size, 1), max(MAX_PARSED_CHARACTERS, size))


class Recovery:
    """One text's recovery: `run()` gives its tree, `first_error` then holds its first
    syntax error, `lines` the lines that were parsed (positions as in the text), and
    `changed_lines()` those that differ from the text's."""

    def __init__(self, text: str, lines: list[str] | None = None) -> None:
        """`lines`: the text split (source.split_lines) by a caller that keeps them; never changed here."""
        self.text = text
        self.lines = lines if lines is not None and "\r" not in text else parse_lines(text)
        self.budget = recovery_budget(len(text))
        self.first_error: tuple[Span, str] | None = None
        # The first `good` lines parse as they are now; `good_tree` is their tree.
        self.good = 0
        self.good_tree = ast.Module(body=[], type_ignores=[])

    def run(self) -> ast.Module:
        guesses = MAX_BLOCK_GUESSES
        result = self._parse_text()
        if not isinstance(result, ast.Module):
            self.lines = list(self.lines)  # recovery changes them: a copy, not the caller's
        while not isinstance(result, ast.Module):
            retried = None
            if guesses > 0 and self.budget > 0:
                guesses -= 1
                retried = self._guess(result)
            if retried is None:
                if self.budget <= 0 or not self._blank_first_failing_statement(result):
                    # Out of budget: what is known to parse is all there is.
                    self._note(result, min(self.good + 1, len(self.lines)) or 1, skipped="everything from the statement that contains it on")
                    _blank(self.lines, self.good, len(self.lines))  # not in the tree
                    return self.good_tree
                retried = self._parse_rest()
            result = retried
        return result

    def changed_lines(self) -> tuple[tuple[int, str], ...]:
        """(line number, its text as parsed) of each line recovery changed: one text parses
        to different trees where recovery changed different lines of it (how much an error
        costs depends on the errors elsewhere)."""
        if self.first_error is None:
            return ()
        original = parse_lines(self.text)
        return tuple((index + 1, line) for index, (line, was) in enumerate(zip(self.lines, original)) if line != was)

    def _guess(self, error: BaseException) -> ast.Module | BaseException | None:
        """Put what of the error's line can stand in its place (`_stand_ins`), or else blank
        the block around it, and parse again; None when that cannot help."""
        line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
        if not line:
            return None
        before = list(self.lines)
        # A half-typed simple statement (`y = f(x)(`) then costs only itself, not its
        # function: the function's other statements, and what its callers see, stay.
        # Not for stray triple quotes: Python names the line of the file's last string, and
        # a `pass` there could turn all the code between into one string that parses.
        stand_ins = []
        if not _unterminated_triple_quote(error) and 0 < line <= len(self.lines):
            stand_ins = _stand_ins(self.lines[line - 1], error)
        for stand_in, skipped in stand_ins:
            self.lines[line - 1] = stand_in
            self.good, self.good_tree = 0, ast.Module(body=[], type_ignores=[])
            after = self._parse_rest()
            if isinstance(after, ast.Module) or self._mends_its_statement(line, after):
                self._note(error, line, before, skipped)
                return after
            self.lines = list(before)
        if not _blank_enclosing_block(self.lines, line):
            return None
        self.good, self.good_tree = 0, ast.Module(body=[], type_ignores=[])
        after = self._parse_rest()
        if _unterminated_triple_quote(error) and _unterminated_triple_quote(after):
            # The quotes still do not pair up: the stray ones are further up, where a
            # string opened that the rest of the file's quotes now close and reopen.
            self.lines = before
            return None
        self._note(error, line, before)
        return after

    def _mends_its_statement(self, line: int, after: ast.Module | BaseException) -> bool:
        """Whether the text, with a stand-in on `line`, fails only at an error in a later
        top-level statement, its own statement parsing on its own: that later error (another
        one the user left) is recovery's next step, and this line costs only itself."""
        later = getattr(after, "lineno", None) if isinstance(after, SyntaxError) else None
        if not later or later <= line or _unterminated_triple_quote(after):
            return False
        starts = statement_starts(self.lines)
        start = max((cut for cut in starts if cut < line), default=0)
        end = min((cut for cut in starts if cut >= line), default=len(self.lines))
        return later > end and isinstance(self._parse(end, start), ast.Module)

    def _parse_text(self) -> ast.Module | BaseException:
        """Parse the whole text as it is: its lines joined (they end as Python reads them)."""
        return self._parse(len(self.lines), text="".join(self.lines) if "\r" in self.text else self.text)

    def _parse(self, end: int, start: int = 0, text: str | None = None) -> ast.Module | BaseException:
        """Parse lines `start` to `end` (whose `text` the caller may have); the lines before
        `start` count as blank, so positions stay."""
        if text is None:
            text = "".join(self.lines[start:end])
        self.budget -= max(len(text), 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences
            try:
                return ast.parse("\n" * start + text)
            except PARSE_ERRORS as error:
                return error

    def _parse_rest(self) -> ast.Module | BaseException:
        """Parse the whole text, reusing the tree of the first `good` lines."""
        result = self._parse(len(self.lines), start=self.good)
        if isinstance(result, ast.Module) and self.good_tree.body:
            return ast.Module(body=self.good_tree.body + result.body, type_ignores=[])
        return result

    def _note(self, error: BaseException, line: int, lines: list[str] | None = None, skipped: str = "the block that contains it") -> None:
        """Remember the first error, at `line` of `lines` (the text before any blanking of it),
        and what of the code around it recovery left out."""
        if self.first_error is None:
            self.first_error = (_error_span(error, lines or self.lines, line), _error_message(error, skipped))

    def _blank_first_failing_statement(self, error: BaseException) -> bool:
        """Bisect for the top-level statement whose addition stops the text from parsing; blank it.

        The first `good` lines parse, the whole text does not; the search keeps that
        invariant, so it ends between two adjacent cut points whatever the text. Each
        probe parses only the lines after `good`: a module that parses ends where a new
        top-level statement can begin, so the probes together cost about one parse.
        """
        cuts = [self.good, *(i for i in statement_starts(self.lines) if i > self.good), len(self.lines)]
        low, high = 0, len(cuts) - 1
        while high - low > 1:
            if self.budget <= 0:
                return False
            middle = (low + high) // 2
            result = self._parse(cuts[middle], start=self.good)
            if isinstance(result, ast.Module):
                body = self.good_tree.body + result.body
                low, self.good, self.good_tree = middle, cuts[middle], ast.Module(body=body, type_ignores=[])
            else:
                high = middle
        start, end = cuts[low], cuts[high]
        while start < end - 1 and not self.lines[start].strip():
            start += 1  # point the error at the statement, not at the blank lines before it
        self._note(error, start + 1, skipped="the statement that contains it")
        changed = _blank(self.lines, start, end)
        # The prefix still parses: blank lines after a module change nothing.
        self.good = end
        return changed


def parse_lines(text: str) -> list[str]:
    """The text's lines with one line ending for all: Python reads \r, \r\n and \n alike,
    and a blanked "\n" line after a lone "\r" would otherwise merge with it into one "\r\n"
    line. Most texts have no "\r": their lines are already so."""
    lines = split_lines(text)
    return lines if "\r" not in text else [_with_newline(line) for line in lines]


def _with_newline(line: str) -> str:
    body = line.rstrip("\r\n")
    return body + "\n" if len(body) < len(line) else line


def _unterminated_triple_quote(error: ast.Module | BaseException) -> bool:
    # Python reports where the file's last string opens, which need not be where the
    # stray quotes were typed.
    return isinstance(error, SyntaxError) and _UNTERMINATED_TRIPLE_QUOTE in str(error.msg)


def _error_span(error: BaseException, lines: list[str], line: int) -> Span:
    column = max((getattr(error, "offset", None) or 1) - 1, 0) if getattr(error, "lineno", None) == line else 0
    text = lines[line - 1].rstrip("\r\n") if 0 < line <= len(lines) else ""
    column = min(column, len(text))
    return Span(line, column, line, max(len(text), column))


def _error_message(error: BaseException, skipped: str) -> str:
    if isinstance(error, (RecursionError, MemoryError)):
        message = "too deeply nested for Python's parser"
    elif isinstance(error, UnicodeError):
        # Its own message counts characters from where the parse began (the file, or one
        # statement the editor re-parsed): the span says where the character is.
        message = f"the text cannot be read as {getattr(error, 'encoding', 'utf-8')}: {getattr(error, 'reason', error)}"
    else:
        message = getattr(error, "msg", None) or str(error)
    return f"syntax error: {message}; gradwatch skipped {skipped}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blank(lines: list[str], start: int, end: int) -> bool:
    """Empty lines `start` to `end` (0-based, end excluded), keeping every line ending."""
    changed = False
    for i in range(start, end):
        if lines[i].strip():
            lines[i] = lines[i][len(lines[i].rstrip("\r\n")) :]
            changed = True
    return changed


def statement_starts(lines: list[str]) -> list[int]:
    """Indexes of the lines that may begin a top-level statement: those that start like one
    (few, found in one pass), unless the line with code before it is a decorator or ends
    with a backslash, which continue into it."""
    match = _STATEMENT_START.match
    starts: list[int] = []
    for index in [i for i, line in enumerate(lines) if match(line)]:
        before = index - 1
        while before >= 0 and (not lines[before].strip() or lines[before].lstrip().startswith("#")):
            before -= 1
        previous = lines[before].rstrip() if before >= 0 else ""
        if not previous.startswith("@") and not previous.endswith("\\"):
            starts.append(index)
    return starts


def _stand_ins(text: str, error: SyntaxError) -> list[tuple[str, str]]:
    """What of a line with a syntax error can stand in its place, best first, each with what
    it leaves out (for the message): an import up to its last whole name (`from torch import
    nn, F(` -> `from torch import nn, F`: the names it bound before the edit stay bound, so
    the rest of the file means what it meant); a block's header without what follows its
    colon (`if ready:(` -> `if ready:`), or an `if`/`elif`/`while` header with a condition
    not known (its body stays, both ways); else `pass` at the same indentation, and, where
    that cannot stand (the line continues a statement begun above it), the line up to a
    bracket it leaves open (`    help="...")(` -> `    help="...")`); that cut comes first
    when the bracket ends the line (`y = f(x)(`: the line as it was a keystroke ago, so
    what it bound stays bound and the scopes after it are replayed). Nothing for a blank
    line; a def or class header keeps its body only with its header whole."""
    code = text.rstrip("\r\n")
    ending = text[len(code) :]
    if not code.strip():
        return []
    prefix = _import_prefix(code)
    if prefix is not None:
        return [(prefix + ending, "the rest of that import")]
    header = _HEADER_START.match(code)
    if header is None:
        stand_ins = [(code[: _indent(code)] + "pass" + ending, "the line that contains it")]
        opened = _open_bracket(code, error)
        if opened is not None:
            cut = (code[:opened] + ending, "the rest of that line")
            # A bracket just typed at the end (`ngpu = int(opt.ngpu)(`): without it, the line
            # is what it was a keystroke ago, and everything after it means what it meant.
            stand_ins.insert(0 if not code[opened + 1 :].strip() else 1, cut)
        return stand_ins
    stand_ins = []
    colon = _header_colon(code)
    if colon is not None:
        stand_ins.append((code[: colon + 1] + ending, "the rest of that line"))
    if header.group(1) in _CONDITIONS:
        condition_unknown = f"{code[: _indent(code)]}{header.group(1)} {ELIDED_NAME}:{ending}"
        stand_ins.append((condition_unknown, "the condition on that line"))
    if not _BLOCK_START.match(code):  # `if x: f(` is a whole statement
        stand_ins.append((code[: _indent(code)] + "pass" + ending, "the line that contains it"))
    return stand_ins


def _open_bracket(code: str, error: SyntaxError) -> int | None:
    """Where on the line the bracket is that the error says was never closed, with code before it."""
    if not (error.msg or "").endswith("was never closed") or not error.offset:
        return None
    at = error.offset - 1
    return at if 0 < at < len(code) and code[at] in "([{" and code[:at].strip() else None


def _header_colon(code: str) -> int | None:
    """Where a header's own colon is when only brackets or punctuation follow it (`if ready:(`),
    the header up to it being whole; else None."""
    match = re.search(r":[^\w'\"#]*$", code)
    if match is None or match.end() - match.start() == 1:
        return None
    header = code[: match.start() + 1].strip()
    keyword = header.split(None, 1)[0].rstrip(":")
    before, after = _HEADER_CONTEXT.get(keyword, ("", ""))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(f"{before}{header}\n pass\n{after}")
        except PARSE_ERRORS:
            return None
    return match.start()


def _import_prefix(code: str) -> str | None:
    """The longest prefix of an import line, ending after a name, that is an import by itself."""
    if not _IMPORT_START.match(code):
        return None
    for end in sorted((match.end() for match in re.finditer(r"\w\b", code)), reverse=True)[:MAX_IMPORT_PREFIXES]:
        prefix = code[:end]
        if end < len(code.rstrip()) and _is_import(prefix.strip()):
            return prefix
    return None


def _is_import(statement: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            body = ast.parse(statement).body
        except PARSE_ERRORS:
            return False
    return len(body) == 1 and isinstance(body[0], (ast.Import, ast.ImportFrom))


def _blank_enclosing_block(lines: list[str], error_line: int) -> bool:
    """Blank out the innermost def/class around `error_line` (or its top-level statement).

    Returns False when there was nothing left to blank.
    """
    if not lines:
        return False
    index = min(max(error_line - 1, 0), len(lines) - 1)
    # Walk up to the nearest block header that encloses the error line.
    error_indent = _indent(lines[index]) if lines[index].strip() else 0
    start = None
    for i in range(index, -1, -1):
        text = lines[i]
        if not text.strip():
            continue
        header = _BLOCK_START.match(text) and (i == index or _indent(text) < error_indent or _indent(text) == 0)
        if header or (_indent(text) == 0 and i < index):
            # A broken line at the top level may belong to a statement that begins above it
            # (`y = (a *` over several lines); when the lines above end where a statement
            # ends, it does not, and the statement or block above stays.
            start = index if i < index and error_indent == 0 and _whole_statements(lines[i:index]) else i
            break
    if start is None:
        start = index
    header_indent = _indent(lines[start])
    end = start + 1
    while end < len(lines):
        text = lines[end]
        if text.strip() and _indent(text) <= header_indent and not text.lstrip().startswith(("#", ")", "]", "}")):
            break
        end += 1
    return _blank(lines, start, max(end, index + 1))


def _whole_statements(lines: list[str]) -> bool:
    """Whether `lines` end where a statement ends: no bracket or string left open."""
    try:
        tokens = list(tokenize.generate_tokens(iter(lines).__next__))
    except (tokenize.TokenError, SyntaxError):
        return False
    ends = [t.type for t in tokens if t.type not in _NOT_A_STATEMENT_END]
    return not ends or ends[-1] == tokenize.NEWLINE


_NOT_A_STATEMENT_END = (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
