"""Other files are parsed once while unchanged, and again as soon as they change."""

from __future__ import annotations

import os

from gradwatch.analysis import module_files
from gradwatch.analysis.module_files import module_file


def test_an_unchanged_file_is_parsed_once_and_a_changed_one_again(tmp_path):
    path = tmp_path / "layers.py"
    path.write_text("def block(x):\n    return x\n")
    first = module_file(str(path))
    assert first is not None and first.parses and first.tree.body[0].name == "block"
    assert module_file(str(path)) is first
    path.write_text("def other(x):\n    return x * 2\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = module_file(str(path))
    assert second is not first and second.tree.body[0].name == "other"


def test_unreadable_and_broken_files(tmp_path):
    assert module_file(str(tmp_path / "missing.py")) is None
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"x = 1\x00\x00")
    assert module_file(str(binary)) is None
    broken = tmp_path / "broken.py"
    broken.write_text("def ok():\n    pass\n\ndef broken(:\n    pass\n")
    read = module_file(str(broken))
    assert read is not None and not read.parses
    assert [node.name for node in read.tree.body] == ["ok"]  # the rest recovered around the error


def test_only_the_last_files_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(module_files, "MAX_FILES", 2)
    paths = []
    for index in range(3):
        path = tmp_path / f"m{index}.py"
        path.write_text(f"x = {index}\n")
        paths.append(str(path))
    reads = [module_file(path) for path in paths]
    assert module_file(paths[2]) is reads[2]
    assert module_file(paths[0]) is not reads[0]  # evicted, read again
