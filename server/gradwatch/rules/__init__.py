"""The rule registry. Each module in this package holds one hazard family."""

from __future__ import annotations

from gradwatch.rules.base import Rule

_RULES: dict[str, type[Rule]] = {}


def register(rule: type[Rule]) -> type[Rule]:
    if rule.code in _RULES:
        raise ValueError(f"duplicate rule code {rule.code}")
    _RULES[rule.code] = rule
    return rule


def all_rules() -> list[type[Rule]]:
    _load()
    return [_RULES[code] for code in sorted(_RULES)]


def rule_by_code(code: str) -> type[Rule] | None:
    _load()
    return _RULES.get(code.upper())


def _load() -> None:
    # Importing the family modules registers their rules.
    from gradwatch.rules import (  # noqa: F401
        backward,
        grad_access,
        graph_cut,
        inplace,
        shapes,
        tensor_api,
        training_loop,
    )
