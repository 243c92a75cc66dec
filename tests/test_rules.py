"""Each rule fires on its examples, at the stated line, and stays quiet on its near misses."""

from __future__ import annotations

import ast

import pytest

from gradwatch.checker import check_source
from gradwatch.rules import all_rules, rule_by_code
from gradwatch.rules.base import Rule
from rule_examples import EXAMPLES, NEAR_MISSES


@pytest.mark.parametrize("rule,example", EXAMPLES)
def test_example_fires(rule: type[Rule], example) -> None:
    findings = [f for f in check_source(example.code).findings if f.code == rule.code]
    assert findings, f"{rule.code} did not fire on its example"
    if example.line is not None:
        assert example.line in {f.span.line for f in findings}
    for finding in findings:
        assert finding.severity is rule.severity
        assert finding.message


@pytest.mark.parametrize("rule,code", NEAR_MISSES)
def test_near_miss_is_quiet(rule: type[Rule], code: str) -> None:
    assert [f for f in check_source(code).findings if f.code == rule.code] == []


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_is_documented(rule: type[Rule]) -> None:
    assert rule.code.startswith("GW") and rule.code[2:].isdigit()
    assert rule.name and rule.summary and rule.explanation.strip()
    assert rule.examples, "every rule needs an example that fires"
    assert rule.near_misses, "every rule needs a near miss that stays quiet"
    for example in rule.examples:
        ast.parse(example.code)
    doc = rule.documentation()
    for heading in ("## What it detects", "## Why", "## Example"):
        assert heading in doc
    assert rule_by_code(rule.code.lower()) is rule


def test_codes_are_unique_and_sorted() -> None:
    codes = [rule.code for rule in all_rules()]
    assert codes == sorted(set(codes))
