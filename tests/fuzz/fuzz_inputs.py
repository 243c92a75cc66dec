"""Fuzz inputs: real files to start from, the mutations made to them, and hazard injection.

Every function takes a `random.Random`, so an input is reproducible from the
run's seed and its number. A mutation never needs the text to parse: it works
on a rough token split, lines and characters.
"""

from __future__ import annotations

import ast
import random
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
# The repository's own Python: real PyTorch programs, the engine's source, the examples.
SEED_FOLDERS = ("tests/corpus", "tests/realworld", "tests/project_fixture", "examples", "server/gradwatch")
MAX_SEED_BYTES = 512 * 1024


@dataclass(frozen=True)
class Seed:
    name: str
    text: str


def repository_seeds(extra_corpus: Path | None = None) -> list[Seed]:
    """The seed files, sorted so that a seed number means the same file on every machine."""
    seeds = []
    for folder in SEED_FOLDERS:
        seeds += _python_files(REPO / folder, REPO)
    if extra_corpus is not None:
        seeds += _python_files(extra_corpus, extra_corpus)
    from gradwatch.rules import all_rules

    for rule in all_rules():
        for index, example in enumerate(rule.examples):
            seeds.append(Seed(f"rule:{rule.code}:example{index}", example.code))
        for index, code in enumerate(rule.near_misses):
            seeds.append(Seed(f"rule:{rule.code}:near{index}", code))
    return seeds


def _python_files(folder: Path, relative_to: Path) -> list[Seed]:
    seeds = []
    for path in sorted(folder.rglob("*.py")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if len(data) > MAX_SEED_BYTES or b"\x00" in data:
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
        seeds.append(Seed(str(path.relative_to(relative_to)), text))
    return seeds


def hazard_snippets() -> list[tuple[str, str]]:
    """(rule code, program) for every rule example: code that a rule flags and most often fixes."""
    from gradwatch.rules import all_rules

    return [
        (rule.code, textwrap.dedent(example.code).strip("\n") + "\n")
        for rule in all_rules()
        for example in rule.examples
    ]


# ---------------------------------------------------------------- token-level mutations

_TOKEN = re.compile(
    r'"""|\'\'\'|\d[\w.]*|\w+|\*\*=?|//=?|->|:=|[-+*/%@&|^<>=!]=|<<=?|>>=?|\.\.\.|\\\r?\n|[^\s\w]'
)
_INSERTABLE = [
    "(", ")", "[", "]", "{", "}", ":", ",", ".", ";", "=", "==", "+", "-", "*", "**", "/", "@", "->", ":=",
    "lambda", "def", "class", "if", "else", "elif", "for", "while", "with", "as", "try", "except", "return",
    "yield", "await", "async", "not", "and", "or", "is", "in", "pass", "del", "global", "nonlocal", "import",
    "from", "raise", "assert", "match", "case", "\\\n", '"""', "'", '"', "#", "\t", "\n", "\r", "\r\n",
    "\x0c", "\\", "0", "1.5", "1j", "x", "self", "torch", "None", ".backward()", ".add_(1)", ".detach()",
    ".numpy()", ".grad", "requires_grad=True", "with torch.no_grad():", "*args", "**kw", "f'{", "b'",
]


def _tokens(text: str) -> list[re.Match]:
    return list(_TOKEN.finditer(text))


def delete_token(rng: random.Random, text: str) -> str:
    tokens = _tokens(text)
    if not tokens:
        return text
    token = rng.choice(tokens)
    return text[: token.start()] + text[token.end() :]


def insert_token(rng: random.Random, text: str) -> str:
    tokens = _tokens(text)
    at = rng.choice(tokens).start() if tokens else 0
    piece = rng.choice(_INSERTABLE)
    if piece.isidentifier() and rng.random() < 0.7:
        piece = f" {piece} "
    return text[:at] + piece + text[at:]


def duplicate_token(rng: random.Random, text: str) -> str:
    tokens = _tokens(text)
    if len(tokens) < 2:
        return text
    source, target = rng.choice(tokens), rng.choice(tokens)
    return text[: target.start()] + source.group() + " " + text[target.start() :]


def swap_tokens(rng: random.Random, text: str) -> str:
    tokens = _tokens(text)
    if len(tokens) < 2:
        return text
    index = rng.randrange(len(tokens) - 1)
    first, second = tokens[index], tokens[index + 1]
    between = text[first.end() : second.start()]
    return text[: first.start()] + second.group() + between + first.group() + text[second.end() :]


# ---------------------------------------------------------------- truncation, indentation, splicing


def truncate(rng: random.Random, text: str) -> str:
    if not text:
        return text
    if rng.random() < 0.5:
        lines = text.splitlines(keepends=True)
        return "".join(lines[: rng.randrange(len(lines) + 1)])
    return text[: rng.randrange(len(text) + 1)]


def reindent(rng: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    start = rng.randrange(len(lines))
    end = min(len(lines), start + rng.choice([1, 1, 2, 5, 20]))
    how = rng.choice(["indent", "indent", "dedent", "tabs", "strip"])
    for i in range(start, end):
        line = lines[i]
        if how == "indent":
            lines[i] = rng.choice([" ", "    ", "\t", "  \t"]) + line
        elif how == "dedent":
            lines[i] = line[min(len(line) - len(line.lstrip(" \t")), rng.choice([1, 2, 4])) :]
        elif how == "tabs":
            stripped = line.lstrip(" ")
            lines[i] = "\t" * ((len(line) - len(stripped)) // 4) + stripped
        else:
            lines[i] = line.lstrip(" \t")
    return "".join(lines)


def splice(rng: random.Random, text: str, others: list[Seed]) -> str:
    donor = rng.choice(others).text.splitlines(keepends=True)
    if not donor:
        return text
    start = rng.randrange(len(donor))
    piece = "".join(donor[start : start + rng.choice([1, 3, 10, 40])])
    lines = text.splitlines(keepends=True)
    at = rng.randrange(len(lines) + 1)
    return "".join(lines[:at]) + piece + ("" if piece.endswith("\n") else "\n") + "".join(lines[at:])


# ---------------------------------------------------------------- nesting depth

_DEPTHS = [2, 5, 20, 50, 100, 150, 200, 300, 500, 800, 1000, 2000, 3100, 5000]


def _nested_expression(rng: random.Random, name: str, depth: int) -> str:
    form = rng.choice(
        ["parens", "unary", "sum", "calls", "attributes", "methods", "subscripts", "lists", "lambdas", "not", "power"]
    )
    if form == "parens":
        return "(" * depth + name + ")" * depth
    if form == "unary":
        return "-" * depth + name
    if form == "sum":
        return " + ".join([name] * depth)
    if form == "calls":
        return "f(" * depth + name + ")" * depth
    if form == "attributes":
        return name + ".a" * depth
    if form == "methods":
        return name + rng.choice([".sigmoid()", ".add_(1)", ".detach()", ".clone()"]) * depth
    if form == "subscripts":
        return name + "[0]" * depth
    if form == "lists":
        return "[" * depth + name + "]" * depth
    if form == "lambdas":
        return "lambda: " * depth + name
    if form == "not":
        return "not " * depth + name
    return " ** ".join([name] * depth)


def _nested_blocks(depth: int, rng: random.Random) -> str:
    depth = min(depth, 120)  # Python's own limit is 100 levels of indentation: go past it too
    header = rng.choice(["if x:", "for i in y:", "def f(x):", "with a:", "while x:", "try:", "class C:"])
    lines = [" " * level + header for level in range(depth)]
    lines.append(" " * depth + "y.add_(1)")
    return "\n".join(lines) + "\n"


def deepen(rng: random.Random, text: str) -> str:
    """A deeply nested or very long construct, in place of a name or as a new statement."""
    depth = rng.choice(_DEPTHS)
    kind = rng.random()
    if kind < 0.1:
        construct = _nested_blocks(depth, rng)
        return _insert_statement(rng, text, construct)
    if kind < 0.2:
        statements = rng.choice(["x = x + 1", "y.add_(1)", "y = y * w", "loss.backward()", "if a: b = c"])
        return _insert_statement(rng, text, "\n".join([statements] * depth * 4) + "\n")
    if kind < 0.25:
        return _insert_statement(rng, text, "y" + "(" * depth + ")3\n")  # unbalanced: a parser stress case
    names = [m for m in _tokens(text) if m.group().isidentifier()]
    if not names or rng.random() < 0.3:
        return _insert_statement(rng, text, f"y = {_nested_expression(rng, 'x', depth)}\n")
    name = rng.choice(names)
    return text[: name.start()] + _nested_expression(rng, name.group(), depth) + text[name.end() :]


def _insert_statement(rng: random.Random, text: str, statement: str) -> str:
    lines = text.splitlines(keepends=True)
    at = rng.randrange(len(lines) + 1)
    if at and not lines[at - 1].endswith(("\n", "\r")):
        lines[at - 1] += "\n"
    return "".join(lines[:at]) + statement + "".join(lines[at:])


# ---------------------------------------------------------------- line endings and characters

_SEPARATORS = ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
_MULTIBYTE = ["é", "ß", "中文", "🔥", "𝔵", "e\u0301", "\u200d", "\u00a0", "ｘ", "\U0001f600", "Ω", "ǅ"]


def line_endings(rng: random.Random, text: str) -> str:
    lf = text.replace("\r\n", "\n").replace("\r", "\n")
    how = rng.choice(["crlf", "cr", "mixed", "one_cr", "no_final", "continuation"])
    if how == "crlf":
        return lf.replace("\n", "\r\n")
    if how == "cr":
        return lf.replace("\n", "\r")
    if how == "mixed":
        return re.sub("\n", lambda _: rng.choice(["\n", "\r\n", "\r"]), lf)
    if how == "one_cr":
        positions = [m.start() for m in re.finditer("\n", lf)]
        if not positions:
            return lf + "\r"
        at = rng.choice(positions)
        return lf[:at] + "\r" + lf[at + 1 :]
    if how == "no_final":
        return text.rstrip("\r\n")
    tokens = _tokens(text)
    at = rng.choice(tokens).end() if tokens else 0
    return text[:at] + "\\\n" + rng.choice(["", "    ", "\t"]) + text[at:]


def odd_characters(rng: random.Random, text: str) -> str:
    """Line separators Python does not split on, multi-byte text, BOMs, NULs, a coding cookie."""
    how = rng.choice(["separator"] * 2 + ["multibyte"] * 3 + ["bom", "cookie", "nul", "surrogate"])
    if how == "bom":
        return "\ufeff" + text
    if how == "cookie":
        cookies = ["# -*- coding: latin-1 -*-\n", "# coding: utf-16\n", "# vim: set fileencoding=ascii :\n"]
        return rng.choice(cookies) + text
    piece = {
        "separator": lambda: rng.choice(_SEPARATORS),
        "multibyte": lambda: rng.choice(_MULTIBYTE),
        "nul": lambda: "\x00",
        "surrogate": lambda: "\udc80",  # a JSON-RPC client can send a lone surrogate ("\\udc80")
    }[how]
    for _ in range(rng.choice([1, 1, 3, 10])):
        at = rng.randrange(len(text) + 1)
        text = text[:at] + piece() + text[at:]
    return text


# ---------------------------------------------------------------- huge inputs


def huge(rng: random.Random, text: str, largest: int = 4 * 1024 * 1024) -> str:
    """`text` grown to between 256 KiB and `largest` (past 512 KiB the checker declines it)."""
    size = min(rng.choice([256, 512, 1024, 2048, 4096]) * 1024, largest)
    how = rng.choice(["repeat", "long_line", "many_lines", "long_function"])
    if how == "repeat":
        return (text + "\n") * max(1, size // max(len(text) + 1, 1))
    if how == "long_line":
        return text + "x = [" + "1, " * (size // 3) + "]\n"
    if how == "many_lines":
        return text + rng.choice(["\n", "# c\n", "    \n", "pass\n"]) * (size // 5)
    body = "".join(f"    y{i} = y{i - 1}.sigmoid() * w\n" for i in range(1, size // 30))
    return text + "def f(y0, w):\n" + body + "    return y1\n"


# ---------------------------------------------------------------- hazard injection and contexts


def inject(rng: random.Random, host: str, snippet: str) -> str:
    """`snippet` inserted before a random statement of `host`, at that statement's indentation."""
    lines = host.splitlines(keepends=True)
    positions = [(len(lines), "")]
    try:
        tree = ast.parse(host)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.stmt) and node.lineno <= len(lines):
                line = lines[node.lineno - 1]
                indent = line[: len(line) - len(line.lstrip(" \t"))]
                if len(indent) == node.col_offset:  # not after `;` or a `:` on the same line
                    positions.append((node.lineno - 1, indent))
    at, indent = rng.choice(positions)
    body = "".join(indent + line if line.strip() else line for line in snippet.splitlines(keepends=True))
    if at and not lines[at - 1].endswith(("\n", "\r")):
        lines[at - 1] += "\n"
    return "".join(lines[:at]) + body + "".join(lines[at:])


def in_hostile_context(rng: random.Random, program: str) -> str:
    """One one-line statement of `program` rewritten to mean the same in a context fixes trip on:
    inside brackets, after a backslash, behind `;`, with comments before a closing paren..."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return program
    lines = program.splitlines(keepends=True)
    candidates = [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.Expr, ast.Assign, ast.AugAssign))
        and node.lineno == node.end_lineno
        and node.lineno <= len(lines)
        and lines[node.lineno - 1].isascii()  # ast columns are bytes: keep them equal to characters
        and not lines[node.lineno - 1][: node.col_offset].strip()
        and not lines[node.lineno - 1][node.end_col_offset :].strip()
    ]
    if not candidates:
        return program
    node = rng.choice(candidates)
    line = lines[node.lineno - 1]
    ending = line[len(line.rstrip("\r\n")) :]
    indent = line[: node.col_offset]
    statement = line[node.col_offset : node.end_col_offset]
    rewritten = _rewrite_statement(rng, node, statement, indent)
    lines[node.lineno - 1] = indent + rewritten + (ending or "")
    return "".join(lines)


def _rewrite_statement(rng: random.Random, node: ast.stmt, text: str, indent: str) -> str:
    more = indent + "    "
    choices: list[Callable[[], str]] = [
        lambda: f"pass; {text}",
        lambda: f"{text}; pass",
        lambda: f"if True: {text}",
        lambda: f"{text}  # (note) [x] ) (",
        lambda: f"{text};",
    ]
    if isinstance(node, ast.Expr):
        choices += [
            lambda: f"print(\n{more}{text}\n{indent})",
            lambda: f"_ = [\n{more}{text},\n{indent}]",
            lambda: f"({text})",
            lambda: f"(\n{more}{text}\n{indent})",
            lambda: f"_ = {text}, 0",
            lambda: f"assert {text} is not None or True",
        ]
        choices += _call_variants(node.value, text, node.col_offset, indent)
    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
        # The value as written after `=` (its node's columns leave out enclosing parentheses).
        target = text[: node.targets[0].end_col_offset - node.col_offset]
        value = text[len(target) :].strip().removeprefix("=").strip()
        value_column = node.col_offset + len(text) - len(value)
        if node.value.lineno == node.lineno:
            simple_target = isinstance(node.targets[0], (ast.Name, ast.Attribute, ast.Subscript))
            choices += [
                lambda: f"{target} = (\n{more}{value}\n{indent})",
                lambda: f"{target} = \\\n{more}{value}",
                lambda: f"({target}), _ = {value}, None",
            ]
            if simple_target:
                choices += [
                    lambda: f"{target}: object = {value}",
                    lambda: f"({target}) = {value}",
                ]
            if isinstance(node.targets[0], ast.Name):
                choices.append(lambda: f"({target} := {value})")
            choices += [
                (lambda variant=variant: f"{target} = {variant()}")
                for variant in _call_variants(node.value, value, value_column, indent)
            ]
    elif isinstance(node, ast.AugAssign):
        left = text[: node.target.end_col_offset - node.col_offset]
        rest = text[len(left) :].lstrip()
        operator = rest[: rest.index("=") + 1]
        right = rest[len(operator) :].strip()
        choices += [
            lambda: f"{left} {operator} (\n{more}{right}\n{indent})",
            lambda: f"{left} \\\n{more}{operator} {right}",
            lambda: f"({left}) {operator} {right}",
        ]
    return rng.choice(choices)()


def _call_variants(value: ast.expr, text: str, text_column: int, indent: str) -> list[Callable[[], str]]:
    """Ways to write `recv.meth(args)` (`text`, which starts at `text_column`) that call the same
    method with the same arguments."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)):
        return []
    if value.lineno != value.end_lineno or value.col_offset != text_column:  # e.g. `(recv.meth(args))`
        return []
    start = value.col_offset
    call_text = text
    if value.end_col_offset - start != len(call_text):
        return []
    method = value.func.attr
    function = call_text[: value.func.end_col_offset - start]
    # Up to the `.`: the receiver's own node would leave out its parentheses, as in `(w * 2).sum()`.
    receiver = function[: len(function) - len(method)].rstrip().removesuffix(".").rstrip()
    open_paren = call_text.find("(", len(function))
    if open_paren < 0:
        return []
    arguments = call_text[open_paren + 1 : -1]
    more = indent + "    "
    variants: list[Callable[[], str]] = [
        lambda: f"({receiver}.{method})({arguments})",
        lambda: f"{receiver}.\\\n{more}{method}({arguments})",
        lambda: f"{receiver}\\\n{more}.{method}({arguments})",
        lambda: f"{receiver} . {method} ( {arguments} )",
        lambda: f"{receiver}.{method}(\n{more}{arguments}\n{indent})",
        lambda: f"{receiver}.{method}({arguments}  # c\n{indent})",
        lambda: f"{receiver}.{method}(  # c\n{more}{arguments}\n{indent})",
    ]
    if arguments.strip():
        variants.append(lambda: f"{receiver}.{method}({arguments},)")
    return variants
