"""Correct, realistic training code: torch runs it, and gradwatch reports no error or warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gradwatch.checker import check_source
from gradwatch.findings import Severity

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.py"))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_no_false_alarm(path: Path) -> None:
    findings = check_source(path.read_text(), str(path)).findings
    loud = [f for f in findings if f.severity in (Severity.ERROR, Severity.WARNING)]
    assert loud == [], "\n".join(f"{f.span.line}: {f.code} {f.message}" for f in loud)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_really_runs(path: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    result = subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
