"""A class's attributes: what `__init__`, run once with unknown arguments, assigns to `self`
(classes.InitAttributes, Interpreter.aside, CachedScopes.work_out_classes)."""

from __future__ import annotations

import gc
import textwrap
import weakref

import pytest

from gradwatch.analysis import classes
from gradwatch.analysis.scope_cache import ScopeCache
from gradwatch.checker import check_source

# A module as a library has it: nothing builds or calls it, so only `forward` analysed on
# its own can see the hazard, through the attribute `__init__` gives it. `Scale` is defined
# below `Net`, which is fine in Python: `Net.__init__` runs once the module has run.
LIBRARY = textwrap.dedent(
    """\
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.scale = Scale()

        def forward(self, x):
            h = torch.sigmoid(self.fc(x))
            return self.scale(h)


    class Scale(nn.Module):
        def forward(self, x):
            return x.mul_(2)


    def other():
        return 1
    """
)


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


def test_init_sees_a_class_defined_below_it() -> None:
    # torch: "one of the variables needed for gradient computation has been modified by an
    # inplace operation ... output 0 of Sigmoid" at a backward through Net()(x).
    findings = check_source(LIBRARY).findings
    assert [(f.code, f.span.line) for f in findings] == [("GW201", 18)]
    assert [r.span.line for r in findings[0].related][:1] == [12]  # sigmoid saved its output there


def test_an_edit_outside_the_classes_runs_no_init_again(inits_run) -> None:
    cache = ScopeCache()
    first = check_source(LIBRARY, cache=cache).findings
    assert inits_run == ["Net", "Scale"]
    inits_run.clear()
    edited = check_source(LIBRARY.replace("return 1", "return 2"), cache=cache).findings
    assert edited == first
    assert inits_run == []


@pytest.mark.parametrize(
    "edit",
    [
        ("self.scale = Scale()", "self.scale = nn.Identity()"),  # the attribute itself
        ("return x.mul_(2)", "return x * 2"),  # a method of a class another `__init__` builds
        ("def other():\n    return 1", "def other():\n    return 1\n\n\nScale = nn.Identity"),  # rebinds the name
        ("import torch\n", "import torch\n\n\n"),  # every class moves down
    ],
)
def test_an_edit_that_changes_what_init_gives_gives_what_a_fresh_check_gives(edit, inits_run) -> None:
    cache = ScopeCache()
    check_source(LIBRARY, cache=cache)
    edited = LIBRARY.replace(*edit)
    assert edited != LIBRARY
    assert check_source(edited, cache=cache).findings == check_source(edited).findings


def test_a_class_whose_init_builds_itself_still_has_its_other_attributes() -> None:
    text = textwrap.dedent(
        """\
        import torch
        from torch import nn


        class Tree(nn.Module):
            def __init__(self, depth):
                super().__init__()
                self.fc = nn.Linear(4, 4)
                self.child = Tree(depth - 1) if depth else None

            def forward(self, x):
                h = torch.sigmoid(self.fc(x))
                h.add_(1)
                return h
        """
    )
    # torch: "... output 0 of Sigmoid ..." at a backward through Tree(2)(x).
    assert [(f.code, f.span.line) for f in check_source(text).findings] == [("GW201", 13)]


def test_a_run_cut_short_while_working_out_a_class_leaves_nothing_for_the_collector(monkeypatch) -> None:
    # The language server abandons a run when a newer edit arrives, and sets the collector to
    # run rarely (gradwatch/collector.py): an interpreter left in a reference cycle would stay
    # in memory, with all it found, until the collector's next full pass.
    from gradwatch.analysis import interpreter as interpreter_module
    from gradwatch.analysis.budget import AnalysisTooLarge

    made = []
    original_init = interpreter_module.Interpreter.__init__

    def remembered(self, *args, **kwargs):
        made.append(weakref.ref(self))
        original_init(self, *args, **kwargs)

    def cut_short(interpreter, node, bases):
        raise AnalysisTooLarge("more than the budget")

    monkeypatch.setattr(interpreter_module.Interpreter, "__init__", remembered)
    monkeypatch.setattr(classes, "_init_attributes", cut_short)
    gc.disable()
    try:
        findings = check_source(LIBRARY, cache=ScopeCache()).findings
        assert [f.code for f in findings] == ["GW002"]
        assert made and all(reference() is None for reference in made)
    finally:
        gc.enable()


def test_a_check_without_the_editors_cache_works_out_only_the_classes_asked_for(inits_run) -> None:
    # Nothing runs `Unused` or builds it, and its forward cannot make an event: its `__init__`
    # need not run. The editor works out every class up front (its cache replays them together).
    text = LIBRARY + textwrap.dedent(
        """

        class Unused(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return self.fc(x) * 2
        """
    )
    findings = check_source(text).findings
    assert sorted(inits_run) == ["Net", "Scale"]
    inits_run.clear()
    assert check_source(text, cache=ScopeCache()).findings == findings
    assert inits_run == ["Net", "Scale", "Unused"]


HELPER_BUILT = textwrap.dedent(
    """\
    import torch
    from torch import nn


    def make():
        return nn.Linear(3, 3)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = make()

        def forward(self, x):
            return self.fc(x)


    def train():
        net = Net()
        net(torch.randn(2, 3)).sum().backward()
    """
)


def _attributes_of_net(cache: ScopeCache | None) -> dict[str, str]:
    import ast

    from gradwatch.analysis.interpreter import Interpreter
    from gradwatch.source import SourceText

    interpreter = Interpreter(SourceText(HELPER_BUILT), collect_names=False, cache=cache)
    interpreter.run_module(ast.parse(HELPER_BUILT))
    return {name: type(value).__name__ for name, value in interpreter.globals["Net"].attributes}


def test_a_class_first_asked_for_inside_a_scope_is_worked_out_as_up_front() -> None:
    # `train` backpropagates, so calls in it are followed; `Net.__init__`, worked out when `train`
    # first builds a Net, must not follow `make()` for that: up front it does not.
    assert _attributes_of_net(cache=None) == _attributes_of_net(cache=ScopeCache())


def test_a_named_tuple_or_a_plain_dataclass_is_a_record_of_its_fields():
    # records.py: the fields a call binds, in order; a class whose construction something
    # else decides is not a record (its fields stay unknown, so nothing is claimed of them).
    import ast

    from gradwatch.analysis.interpreter import Interpreter
    from gradwatch.source import SourceText

    text = textwrap.dedent(
        """
        import dataclasses
        from dataclasses import KW_ONLY, dataclass, field
        from typing import ClassVar, NamedTuple

        import torch


        class State(NamedTuple):
            h: torch.Tensor
            steps: int = 0

        @dataclass(frozen=True)
        class Outputs:
            logits: torch.Tensor
            count: ClassVar[int]

        @dataclasses.dataclass
        class Plain:
            loss: torch.Tensor

        @dataclass
        class Rewritten:
            loss: torch.Tensor
            def __post_init__(self):
                self.loss = self.loss.detach()

        @dataclass
        class KeywordsOnly:
            a: torch.Tensor
            _: KW_ONLY
            b: torch.Tensor

        @dataclass
        class Hidden:
            a: torch.Tensor
            b: torch.Tensor = field(init=False)

        @dataclass(init=False)
        class NoInit:
            a: torch.Tensor

        @dataclass
        class Derived(Plain):
            extra: torch.Tensor

        class Annotated:
            a: torch.Tensor
        """
    )
    interpreter = Interpreter(SourceText(text))
    interpreter.collect_globals(ast.parse(text))
    fields = {name: getattr(interpreter.globals[name], "fields", "not a class value") for name in interpreter.class_nodes}
    assert fields == {
        "State": ("h", "steps"),
        "Outputs": ("logits",),  # a ClassVar is no field
        "Plain": ("loss",),
        "Rewritten": None,
        "KeywordsOnly": None,
        "Hidden": None,
        "NoInit": None,
        "Derived": None,  # fields of a base come first: not followed
        "Annotated": None,  # annotations alone make no constructor
    }
