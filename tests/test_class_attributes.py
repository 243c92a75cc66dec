"""A class's attributes (what `__init__` run once with unknown arguments assigns to `self`)
are worked out when a scope first needs them, not for every class of every file read."""

from __future__ import annotations

import ast

import pytest

from gradwatch.analysis import classes, dependency_log
from gradwatch.analysis.cross_module import CrossModule
from gradwatch.analysis.interpreter import Interpreter
from gradwatch.analysis.project import ProjectIndex
from gradwatch.analysis.scope_cache import ScopeCache
from gradwatch.checker import check_source
from gradwatch.source import SourceText

TRAINING = """\
import torch
from torch import nn


class Logger:
    def __init__(self):
        self.lines = []


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


class Scaler:
    def __init__(self):
        self.factor = 2.0


def train():
    model = Net()
    out = model(torch.randn(2, 4))
    out.mul_(2)
    out.sum().backward()


def other():
    return 1
"""


@pytest.fixture
def inits_run(monkeypatch) -> list[str]:
    """The names of the classes whose `__init__` runs for their attributes, in order."""
    ran: list[str] = []
    original = classes._init_attributes

    def counting(interpreter, node, bases):
        ran.append(node.name)
        return original(interpreter, node, bases)

    monkeypatch.setattr(classes, "_init_attributes", counting)
    return ran


def test_only_the_classes_a_scope_uses_run_their_init(inits_run) -> None:
    findings = check_source(TRAINING).findings
    assert [(f.code, f.span.line) for f in findings] == [("GW201", 27)]  # sigmoid's output, changed in place
    assert inits_run == ["Net"]  # Logger and Scaler: nothing asks what they hold


def test_an_edit_in_one_function_runs_no_init_for_the_scopes_replayed(inits_run) -> None:
    cache = ScopeCache()
    first = check_source(TRAINING, cache=cache).findings
    inits_run.clear()
    edited = check_source(TRAINING.replace("return 1", "return 2"), cache=cache).findings
    assert edited == first
    assert inits_run == []  # `other` ran again; `train` and `Net.forward` were replayed


LAYERS = """\
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(x)
"""

STEP = """\
import torch
from layers import Block


def step():
    model = Block()
    out = torch.sigmoid(model(torch.randn(2, 4)))
    out.mul_(2)
    out.sum().backward()
"""


def test_a_file_followed_into_runs_init_only_for_the_class_that_is_used(tmp_path, inits_run) -> None:
    (tmp_path / "layers.py").write_text(LAYERS)
    step = tmp_path / "step.py"
    step.write_text(STEP)
    findings = check_source(STEP, str(step), project=CrossModule(ProjectIndex(tmp_path))).findings
    assert [(f.code, f.span.line) for f in findings] == [("GW201", 8)]
    assert inits_run == ["Block"]


def test_the_files_a_class_read_are_noted_by_every_scope_that_asks(tmp_path) -> None:
    # The scope cache and the persistent cache invalidate what a scope saw when a file it
    # depends on changes: a second scope that asks for an already known class depends on
    # what its `__init__` read as much as the first one.
    (tmp_path / "layers.py").write_text(LAYERS)
    main = tmp_path / "main.py"
    text = (
        "from torch import nn\nfrom layers import Block\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.body = Block()\n"
    )
    main.write_text(text)
    interpreter = Interpreter(SourceText(text), path=str(main), resolver=CrossModule(ProjectIndex(tmp_path)))
    interpreter.collect_globals(ast.parse(text))
    net = interpreter.globals["Net"]
    for _ in range(2):
        with dependency_log.recording() as files_read:
            assert dict(net.attributes)["body"].kind == "Block"
        assert str(tmp_path / "layers.py") in files_read
