import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "server", Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


import pytest


@pytest.fixture(autouse=True)
def _private_result_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own empty `gradwatch check` cache: a result cached by one test (or
    left in the repository by an earlier run) must not stand in for another test's analysis."""
    monkeypatch.setenv("GRADWATCH_CACHE_DIR", str(tmp_path_factory.mktemp("gradwatch_cache")))
