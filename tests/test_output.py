"""Text, JSON and SARIF formatting of findings (no files involved)."""

from __future__ import annotations

import io
import json

import pytest

from gradwatch.findings import Finding, Fix, Related, Severity, Span, TextEdit
from gradwatch.output import (
    SYNTAX_ERROR_INFO,
    FileReport,
    RuleInfo,
    finding_to_json,
    format_json,
    format_sarif,
    format_statistics_text,
    format_text,
    rule_catalogue,
    statistics,
    summary_line,
    use_color,
)

JSON_KEYS = {"path", "line", "column", "end_line", "end_column", "code", "severity", "message", "fix"}

CUT = Finding(
    code="GW101",
    severity=Severity.ERROR,
    message="backward() on a value with no graph",
    span=Span(4, 0, 4, 18),
    related=(Related(Span(3, 4, 3, 14), "y is cut from the graph by .detach() here"),),
    rule_name="backward-without-graph",
)
INPLACE = Finding(
    code="GW203",
    severity=Severity.HINT,
    message="in-place op on a tensor in the graph",
    span=Span(7, 4, 7, 13),
    fixes=(Fix("Replace with y = y + x", (TextEdit(Span(7, 4, 7, 13), "y = y + x"),)),),
    rule_name="inplace-on-graph",
)
RISKY = Finding(
    code="GW202",
    severity=Severity.WARNING,
    message="a risky thing",
    span=Span(9, 0, 9, 5),
    fixes=(Fix("Change behaviour", (TextEdit(Span(9, 0, 9, 0), "x = "),), safe=False),),
    rule_name="risky",
)
RULES = [
    SYNTAX_ERROR_INFO,
    RuleInfo("GW101", "backward-without-graph", Severity.ERROR, "Backward on a value with no graph.", "# GW101\n"),
    RuleInfo("GW202", "risky", Severity.WARNING, "Risky.", "# GW202\n"),
    RuleInfo("GW203", "inplace-on-graph", Severity.HINT, "Legal in-place op.", "# GW203\n"),
]


def reports() -> list[FileReport]:
    return [FileReport("pkg/a.py", (CUT, INPLACE)), FileReport("pkg/b.py", (RISKY,))]


# ---------------------------------------------------------------- text


def test_text_lines_are_path_line_column_code_message_with_one_based_columns():
    text = format_text(reports())
    lines = text.splitlines()
    assert lines[0] == "pkg/a.py:4:1: GW101 backward() on a value with no graph"
    assert lines[1] == "  pkg/a.py:3:5: note: y is cut from the graph by .detach() here"
    assert lines[2] == "pkg/a.py:7:5: GW203 in-place op on a tensor in the graph"
    assert lines[3] == "pkg/b.py:9:1: GW202 a risky thing"
    assert lines[4] == "Found 3 findings (1 fixable with --fix, 1 more with --unsafe-fixes)."
    assert "\x1b[" not in text


def test_fix_markers_only_when_asked():
    assert "fix available" not in format_text(reports())
    marked = format_text(reports(), fix_markers=True).splitlines()
    assert marked[marked.index("pkg/a.py:7:5: GW203 in-place op on a tensor in the graph") + 1] == (
        "  fix available: Replace with y = y + x"
    )
    assert "  unsafe fix available with --unsafe-fixes: Change behaviour" in marked
    unsafe = format_text(reports(), fix_markers=True, unsafe_fixes=True)
    assert "  fix available: Change behaviour" in unsafe.splitlines()


def test_colour_codes_only_when_colour_is_on():
    coloured = format_text(reports(), color=True)
    assert "\x1b[" in coloured
    # Stripped of escapes, the coloured text reads the same as the plain one.
    import re

    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == format_text(reports())


def test_summary_lines():
    assert summary_line([]) == "All checks passed!"
    assert summary_line([FileReport("a.py", ())]) == "All checks passed!"
    assert summary_line([FileReport("a.py", (CUT,))]) == "Found 1 finding (0 fixable with --fix)."
    assert summary_line(reports(), unsafe_fixes=True) == "Found 3 findings (2 fixable with --fix)."
    assert format_text(reports(), summary=False).count("\n") == 4
    assert format_text([], summary=False) == ""


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_use_color_needs_a_terminal_and_no_NO_COLOR(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(FakeTerminal())
    assert not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(FakeTerminal())


def test_statistics_count_per_code():
    rows = statistics(reports() + [FileReport("c.py", (CUT,))])
    assert rows[0] == {"code": "GW101", "name": "backward-without-graph", "count": 2, "fixable": 0}
    assert {row["code"] for row in rows} == {"GW101", "GW202", "GW203"}
    text = format_statistics_text(rows)
    assert text.splitlines()[0].split() == ["2", "GW101", "backward-without-graph"]
    assert "[*] inplace-on-graph" in text


# ---------------------------------------------------------------- JSON


def test_json_has_exactly_the_documented_keys_and_exclusive_end_columns():
    items = json.loads(format_json(reports()))
    assert [set(item) for item in items] == [JSON_KEYS] * 3
    first, second, third = items
    assert first == {
        "path": "pkg/a.py",
        "line": 4,
        "column": 1,
        "end_line": 4,
        "end_column": 19,
        "code": "GW101",
        "severity": "error",
        "message": "backward() on a value with no graph",
        "fix": None,
    }
    assert second["severity"] == "hint"
    assert second["fix"] == {
        "title": "Replace with y = y + x",
        "edits": [{"line": 7, "column": 5, "end_line": 7, "end_column": 14, "new_text": "y = y + x"}],
    }
    assert third["path"] == "pkg/b.py"


def test_json_of_nothing_is_an_empty_array():
    assert json.loads(format_json([])) == []


def test_json_keeps_non_ascii_messages_readable():
    finding = Finding("GW101", Severity.ERROR, "ŷ has no graph", Span(1, 0, 1, 1))
    assert finding_to_json("é.py", finding)["message"] == "ŷ has no graph"
    assert "ŷ" in format_json([FileReport("é.py", (finding,))])


# ---------------------------------------------------------------- SARIF


def require(obj: dict, key: str, kind: type | tuple[type, ...]):
    assert key in obj, f"missing {key!r} in {sorted(obj)}"
    assert isinstance(obj[key], kind), f"{key!r} is {type(obj[key]).__name__}"
    return obj[key]


def check_region(region: dict) -> None:
    for key in ("startLine", "startColumn", "endLine", "endColumn"):
        assert require(region, key, int) >= 1
    assert (region["startLine"], region["startColumn"]) <= (region["endLine"], region["endColumn"])


def check_artifact_location(location: dict) -> None:
    uri = require(location, "uri", str)
    assert "\\" not in uri
    if "uriBaseId" in location:
        assert location["uriBaseId"] == "%SRCROOT%"
        assert not uri.startswith("/")


def check_sarif_shape(log: dict) -> None:
    """The parts of SARIF 2.1.0 GitHub code scanning reads, with their types."""
    assert require(log, "$schema", str).endswith("sarif-schema-2.1.0.json")
    assert require(log, "version", str) == "2.1.0"
    runs = require(log, "runs", list)
    assert len(runs) == 1
    run = runs[0]
    driver = require(require(run, "tool", dict), "driver", dict)
    assert require(driver, "name", str) == "gradwatch"
    require(driver, "version", str)
    rules = require(driver, "rules", list)
    for rule in rules:
        require(rule, "id", str)
        require(rule, "name", str)
        require(require(rule, "shortDescription", dict), "text", str)
        require(require(rule, "fullDescription", dict), "text", str)
        require(require(rule, "help", dict), "markdown", str)
        level = require(require(rule, "defaultConfiguration", dict), "level", str)
        assert level in {"error", "warning", "note"}
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids))
    for result in require(run, "results", list):
        rule_id = require(result, "ruleId", str)
        assert rules[require(result, "ruleIndex", int)]["id"] == rule_id
        assert require(result, "level", str) in {"error", "warning", "note"}
        require(require(result, "message", dict), "text", str)
        locations = require(result, "locations", list)
        assert locations
        for location in locations + result.get("relatedLocations", []):
            physical = require(location, "physicalLocation", dict)
            check_artifact_location(require(physical, "artifactLocation", dict))
            check_region(require(physical, "region", dict))
        for related in result.get("relatedLocations", []):
            require(related, "id", int)
            require(require(related, "message", dict), "text", str)
        for fix in result.get("fixes", []):
            require(require(fix, "description", dict), "text", str)
            for change in require(fix, "artifactChanges", list):
                check_artifact_location(require(change, "artifactLocation", dict))
                for replacement in require(change, "replacements", list):
                    check_region(require(replacement, "deletedRegion", dict))
                    require(require(replacement, "insertedContent", dict), "text", str)


def test_sarif_has_the_shape_code_scanning_reads():
    log = json.loads(format_sarif(reports(), RULES, "1.2.3"))
    check_sarif_shape(log)
    run = log["runs"][0]
    assert run["tool"]["driver"]["version"] == "1.2.3"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["GW001", "GW101", "GW202", "GW203"]
    assert [r["defaultConfiguration"]["level"] for r in run["tool"]["driver"]["rules"]] == [
        "error",
        "error",
        "warning",
        "note",
    ]


def test_sarif_results_map_levels_locations_chain_and_fixes():
    run = json.loads(format_sarif(reports(), RULES, "1.0"))["runs"][0]
    cut, inplace, risky = run["results"]
    assert (cut["ruleId"], cut["ruleIndex"], cut["level"]) == ("GW101", 1, "error")
    assert (inplace["level"], risky["level"]) == ("note", "warning")
    location = cut["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "pkg/a.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 4, "startColumn": 1, "endLine": 4, "endColumn": 19}
    assert cut["relatedLocations"] == [
        {
            "id": 1,
            "message": {"text": "y is cut from the graph by .detach() here"},
            "physicalLocation": {
                "artifactLocation": {"uri": "pkg/a.py", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 15},
            },
        }
    ]
    assert "fixes" not in cut
    replacement = inplace["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement["insertedContent"] == {"text": "y = y + x"}
    assert replacement["deletedRegion"]["startColumn"] == 5


@pytest.mark.parametrize(
    "severity, level",
    [(Severity.ERROR, "error"), (Severity.WARNING, "warning"), (Severity.INFORMATION, "note"), (Severity.HINT, "note")],
)
def test_sarif_level_of_each_severity(severity, level):
    finding = Finding("GW101", severity, "m", Span(1, 0, 1, 1))
    result = json.loads(format_sarif([FileReport("a.py", (finding,))], RULES, "1"))["runs"][0]["results"][0]
    assert result["level"] == level


def test_sarif_uses_posix_relative_uris_and_file_uris_for_outside_paths():
    finding = Finding("GW101", Severity.ERROR, "m", Span(1, 0, 1, 1))
    run = json.loads(format_sarif([FileReport("/elsewhere/x.py", (finding,))], RULES, "1"))["runs"][0]
    location = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "file:///elsewhere/x.py"}


def test_sarif_with_no_findings_is_still_a_valid_log():
    log = json.loads(format_sarif([], RULES, "1"))
    check_sarif_shape(log)
    assert log["runs"][0]["results"] == []


def test_rule_catalogue_includes_the_syntax_error_code_and_every_registered_rule():
    from gradwatch.rules import all_rules

    codes = [info.code for info in rule_catalogue()]
    assert codes == sorted(codes)
    assert "GW001" in codes
    assert {rule.code for rule in all_rules()} <= set(codes)
    check_sarif_shape(json.loads(format_sarif([], rule_catalogue(), "1")))
