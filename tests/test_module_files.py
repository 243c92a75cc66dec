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


def test_a_held_tree_is_given_only_for_the_text_it_was_parsed_from(tmp_path):
    path = tmp_path / "layers.py"
    text = "def block(x):\n    return x\n"
    path.write_text(text)
    read = module_file(str(path))
    assert module_files.held_tree(str(path), text) is read.tree
    assert module_files.held_tree(str(path), text + "y = 1\n") is None  # edited since: parse it
    assert module_files.held_tree(str(tmp_path / "other.py"), text) is None  # never read
    broken = tmp_path / "broken.py"
    broken.write_text("def broken(:\n    pass\n")
    module_file(str(broken))
    assert module_files.held_tree(str(broken), broken.read_text()) is None  # its syntax error is to be reported


def test_the_check_order_takes_a_held_file_first_then_goes_on_in_turn(tmp_path):
    module_files.forget_all()
    paths = []
    for name in ("a", "b", "c", "d"):
        path = tmp_path / f"{name}.py"
        path.write_text(f"{name} = 1\n")
        paths.append(str(path))
    module_file(paths[2])  # read as a dependency before the run's first check
    order = []
    for index in module_files.in_check_order(paths):
        order.append(index)
        if index == 0:
            module_file(paths[3])  # the check of a.py reads d.py
    assert order == [2, 0, 3, 1]
    module_files.forget_all()
    assert list(module_files.in_check_order([paths[1], paths[0], paths[1]])) == [0, 2, 1]


def test_a_file_read_as_a_dependency_is_not_parsed_again_for_its_own_check(tmp_path, monkeypatch):
    from gradwatch import parsing
    from gradwatch.analysis.cross_module import CrossModule
    from gradwatch.analysis.project import ProjectIndex
    from gradwatch.checker import check_source

    (tmp_path / "pyproject.toml").write_text("")
    layers = tmp_path / "layers.py"
    layers.write_text(
        "import torch\nfrom torch import nn\n\n\nclass Scale(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(3, 3)\n\n"
        "    def forward(self, x):\n        y = torch.sigmoid(self.fc(x))\n        y.mul_(2)\n        return y\n"
    )
    train = tmp_path / "train.py"
    train.write_text(
        "import torch\nfrom layers import Scale\n\nw = torch.randn(3, requires_grad=True)\nScale()(w).sum().backward()\n"
    )
    project = CrossModule(ProjectIndex(str(tmp_path)), files_stay_unchanged=True)
    module_files.forget_all()
    expected = check_source(layers.read_text(), str(layers)).findings
    check_source(train.read_text(), str(train), project=project)  # reads layers.py
    parses = []
    real = parsing.Recovery
    monkeypatch.setattr(parsing, "Recovery", lambda text: parses.append(text) or real(text))
    findings = check_source(layers.read_text(), str(layers), project=project).findings
    assert parses == []
    assert findings == expected and [f.code for f in findings] == ["GW201"]
