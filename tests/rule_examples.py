"""Every rule's examples and near misses, as pytest parameters."""

from __future__ import annotations

import pytest

from gradwatch.rules import all_rules

RULES = all_rules()

EXAMPLES = [
    pytest.param(rule, example, id=f"{rule.code}-example{index}")
    for rule in RULES
    for index, example in enumerate(rule.examples)
]
NEAR_MISSES = [
    pytest.param(rule, code, id=f"{rule.code}-near{index}")
    for rule in RULES
    for index, code in enumerate(rule.near_misses)
]
