"""The evidence in benchmarks/sweep-reviewed.md: each script does on torch what its
`# expect:` line says, so every finding recorded there as true is shown to be true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from realworld_corpus import confirms, parse_expect, run_case

REVIEWED = Path(__file__).parent.parent / "benchmarks" / "sweep-reviewed.md"
SCRIPTS = re.findall(r"```python\n(# expect: [^\n]*)\n(.*?)```", REVIEWED.read_text(), re.DOTALL)


def test_every_true_finding_has_evidence() -> None:
    table_rows = re.findall(r"^\| .* \| (true[^|]*)\|$", REVIEWED.read_text(), re.MULTILINE)
    assert SCRIPTS and len(table_rows) >= len(SCRIPTS)


@pytest.mark.parametrize("expect_line,script", SCRIPTS, ids=lambda value: value[:40])
def test_torch_confirms_the_evidence(expect_line: str, script: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "evidence.py"
    path.write_text(script)
    expect = parse_expect(path, expect_line.removeprefix("# expect: ").strip())
    outcome = run_case(path)
    assert confirms(expect, outcome), f"expected {expect_line!r}; torch: {outcome.describe()}"
