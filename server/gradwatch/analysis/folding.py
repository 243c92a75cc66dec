"""Python arithmetic on known numbers, as the program would do it: `-1`, `not flag`,
`max_length + 1`. Only small results of plain numbers are folded; anything else
(strings, huge or failing arithmetic) stays an unknown constant."""

from __future__ import annotations

import ast


def unary(op: ast.unaryop, value):
    """`-1`, `not flag`, `~3`: the value, or None when it is not known or not a plain number or bool."""
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        if isinstance(op, ast.Not):
            return not value
        if isinstance(op, ast.USub):
            return -value
        if isinstance(op, ast.UAdd):
            return +value
        return ~value
    except TypeError:
        return None


_FOLDED_ARITHMETIC = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b,
    "floordiv": lambda a, b: a // b,
    "mod": lambda a, b: a % b,
}
_FOLDED_LIMIT = 2**63


def binary(name: str, left, right):
    """`max_length + 1`, `dim * 2`: the number, when both are known numbers and it stays
    small; None otherwise (strings, huge or failing arithmetic)."""
    operation = _FOLDED_ARITHMETIC.get(name)
    if operation is None or not all(type(v) in (int, float, bool) for v in (left, right)):
        return None
    if any(abs(v) >= _FOLDED_LIMIT for v in (left, right)):
        return None
    try:
        value = operation(left, right)
    except (ArithmeticError, ValueError):
        return None
    return value if abs(value) < _FOLDED_LIMIT else None
