"""The language server's per-document cache must never change what is reported."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from gradwatch.analysis.scope_cache import ScopeCache
from gradwatch.checker import check_source

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "examples" / "train.py", *sorted((ROOT / "tests" / "corpus").glob("*.py"))]


def edits(text: str):
    """Versions of `text` as a user might type them: a line changed, a line inserted, a hazard removed."""
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    yield "".join(lines[:middle] + ["    pass\n" if lines[middle].startswith(" ") else "pass\n"] + lines[middle:])
    yield text.replace("add_(", "add(", 1)
    yield text.replace(".detach()", "", 1)
    # What the module's imports and classes are: each scope depends on those it can see.
    yield text.replace("import torch.nn as nn", "import torch.nn as nnx", 1)
    yield text.replace("(nn.Module)", "(object)", 1)
    yield text.replace("import torch\n", "import torchvision\n", 1)
    yield text


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_cached_results_equal_fresh_results(path: Path) -> None:
    cache = ScopeCache()
    text = path.read_text()
    check_source(text, cache=cache)
    for version in edits(text):
        cached = check_source(version, cache=cache)
        fresh = check_source(version)
        assert cached.findings == fresh.findings
        assert sorted(cached.names, key=repr) == sorted(fresh.names, key=repr)


def test_an_edit_elsewhere_keeps_a_function_finding() -> None:
    text = (
        "import torch\n\n"
        "def broken():\n"
        "    x = torch.randn(3, requires_grad=True)\n"
        "    y = x.sigmoid()\n"
        "    y.add_(1)\n"
        "    y.sum().backward()\n\n"
        "def other():\n"
        "    return 1\n"
    )
    cache = ScopeCache()
    assert [f.code for f in check_source(text, cache=cache).findings] == ["GW201"]
    edited = text.replace("return 1", "return 2")
    assert [f.code for f in check_source(edited, cache=cache).findings] == ["GW201"]
    fixed = edited.replace("y.add_(1)", "y = y + 1")
    assert check_source(fixed, cache=cache).findings == []


CALLER_AND_CALLEE = """\
import torch


def gate(x):
    return torch.sigmoid(x)


def unrelated():
    return 1


def step():
    x = torch.randn(3, requires_grad=True)
    g = gate(x)
    g.mul_(2)
    g.sum().backward()
"""


def test_a_function_that_follows_calls_is_reused_until_a_callee_changes() -> None:
    cache = ScopeCache()
    check_source(CALLER_AND_CALLEE, cache=cache)
    # An edit in a function `step` does not call: `step`'s analysis is replayed.
    edited = CALLER_AND_CALLEE.replace("return 1", "return 2")
    replayed = check_source(edited, cache=cache).findings
    assert [(f.code, f.span.line) for f in replayed] == [("GW201", 15)]
    assert replayed == check_source(edited).findings
    # An edit in the callee changes what `step` does: it is analysed again.
    repaired = edited.replace("torch.sigmoid(x)", "x * 2")
    after = check_source(repaired, cache=cache).findings
    assert after == check_source(repaired).findings
    assert "GW201" not in [f.code for f in after]


def test_nested_functions_are_cached_each_on_their_own() -> None:
    # Each function's record of the calls it followed is its own: two records that are
    # both still empty once got mixed up, and a later followed call crashed the run.
    text = """\
import torch


def helper(x):
    return x.sigmoid()


def outer():
    def first():
        return 1

    def second():
        y = helper(torch.randn(2, requires_grad=True))
        y.add_(1)
        y.sum().backward()

    return first, second
"""
    cache = ScopeCache()
    first = check_source(text, cache=cache).findings
    assert [(f.code, f.span.line) for f in first] == [("GW201", 14)]
    assert check_source(text + "\n", cache=cache).findings == first == check_source(text).findings


NESTED_HELPER = """\
import torch


def build(x):
    def squash(v):
        return torch.sigmoid(v)

    return squash(x)


def step():
    y = build(torch.randn(3, requires_grad=True))
    y.add_(1)
    y.sum().backward()


def unrelated():
    return 1
"""


def test_a_caller_of_a_nested_helper_is_replayed_until_the_helper_changes(monkeypatch) -> None:
    from gradwatch.analysis.interpreter import Interpreter

    cache = ScopeCache()
    assert [(f.code, f.span.line) for f in check_source(NESTED_HELPER, cache=cache).findings] == [("GW201", 13)]
    ran = []
    original = Interpreter.run_function
    monkeypatch.setattr(Interpreter, "run_function", lambda self, node, cls: ran.append(node.name) or original(self, node, cls))
    edited = NESTED_HELPER.replace("return 1", "return 2")
    assert check_source(edited, cache=cache).findings == check_source(edited).findings
    assert "step" not in ran[: ran.index("unrelated") + 1]  # only `unrelated` ran again
    ran.clear()
    repaired = edited.replace("torch.sigmoid(v)", "v * 2")
    after = check_source(repaired, cache=cache).findings
    assert "step" in ran and after == check_source(repaired).findings
    assert "GW201" not in [f.code for f in after]


def test_a_real_file_with_nested_scopes_that_follow_calls_is_checked() -> None:
    # torch's own dynamo module once crashed the bookkeeping of followed calls.
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torch is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "_dynamo" / "variables" / "torch.py"
    if not path.exists():
        pytest.skip("this torch has no _dynamo/variables/torch.py")
    text = path.read_text()
    cache = ScopeCache()
    assert check_source(text, cache=cache).findings == check_source(text).findings


MODEL_AND_STEP = """\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = torch.sigmoid(self.fc(x))
        return y

    def unused(self, x):
        return x


def step():
    model = Net()
    out = model(torch.randn(2, 4))
    out.add_(1)
    out.sum().backward()
"""


@pytest.mark.parametrize(
    "edit",
    [
        ("return x\n", "return x * 2\n"),  # a method step() never runs
        ("return y\n", "return y.clone()\n"),  # forward, which step() runs
        ("nn.Linear(4, 4)", "nn.Linear(4, 4, bias=False)"),  # __init__
        ("return x\n", "self.register_buffer('b', x)\n        return x\n"),  # registers an attribute
        ("    def unused(self, x):\n        return x\n", ""),  # a method goes away
    ],
    ids=["other-method", "forward", "init", "register", "removed-method"],
)
def test_an_edit_inside_a_class_gives_what_a_fresh_check_gives(edit) -> None:
    cache = ScopeCache()
    assert [f.code for f in check_source(MODEL_AND_STEP, cache=cache).findings] == ["GW201"]
    edited = MODEL_AND_STEP.replace(*edit)
    assert check_source(edited, cache=cache).findings == check_source(edited).findings


MODULE_LEVEL_LOSS = """\
import torch
import torch.nn as nn

criterion = nn.L1Loss(reduction="none")
print("epochs", 10)


def loss_of(prediction, target):
    return criterion(prediction, target)


def step():
    prediction = torch.randn(8, 3, requires_grad=True)
    loss_of(prediction, torch.randn(8, 3)).backward()
"""


def _functions_run(monkeypatch) -> list:
    from gradwatch.analysis.interpreter import Interpreter

    ran = []
    original = Interpreter.run_function
    monkeypatch.setattr(Interpreter, "run_function", lambda self, node, cls: ran.append(node.name) or original(self, node, cls))
    return ran


def test_a_decorator_is_part_of_the_function_it_decorates() -> None:
    # The fuzz oracle's find: a `def` node's text starts at `def`, below its decorators.
    text = (
        "import torch\n\n\n"
        "@torch.no_grad()\n"
        "def step():\n"
        "    x = torch.randn(5, 3, requires_grad=True)\n"
        "    y = (x * x).sum(dim=1)\n"
        "    return torch.autograd.grad(y, x)\n"
    )
    cache = ScopeCache()
    undecorated = text.replace("@torch.no_grad()", "@torch.no_gradx()")
    assert [f.code for f in check_source(undecorated, cache=cache).findings] == ["GW112"]
    assert [f.code for f in check_source(text, cache=cache).findings] == ["GW101"]


def test_a_function_whose_callee_reads_a_module_level_name_is_reused_until_that_binding_changes(monkeypatch) -> None:
    cache = ScopeCache()
    assert [(f.code, f.span.line) for f in check_source(MODULE_LEVEL_LOSS, cache=cache).findings] == [("GW112", 14)]
    ran = _functions_run(monkeypatch)
    # Module-level code that does not bind `criterion`: `step` (which followed `loss_of`) is replayed.
    edited = MODULE_LEVEL_LOSS.replace("10)", "20)")
    replayed = check_source(edited, cache=cache).findings
    assert "step" not in ran
    assert replayed == check_source(edited).findings
    # A new binding of the name `loss_of` reads: `step` runs again, and the error goes.
    ran.clear()
    repaired = edited.replace('reduction="none"', 'reduction="mean"')
    assert check_source(repaired, cache=cache).findings == []
    assert "step" in ran
    assert check_source(repaired).findings == []


def test_a_module_level_tensor_a_callee_reads_ties_its_callers_to_the_statement_that_made_it(monkeypatch) -> None:
    # A tensor made at module level has identities numbered anew in each run: its callers are
    # replayed while the statement that made it is (its state kept from the last run).
    text = MODULE_LEVEL_LOSS.replace('print("epochs", 10)', 'print("epochs", 10)\nweight = torch.ones(3)').replace(
        "criterion(prediction, target)", "criterion(prediction * weight, target)"
    )
    cache = ScopeCache()
    assert [(f.code, f.span.line) for f in check_source(text, cache=cache).findings] == [("GW112", 15)]
    ran = _functions_run(monkeypatch)
    edited = text.replace("10)", "20)")
    assert [(f.code, f.span.line) for f in check_source(edited, cache=cache).findings] == [("GW112", 15)]
    assert ran == []
    changed = edited.replace("torch.ones(3)", "torch.ones(3) * 2")
    assert [(f.code, f.span.line) for f in check_source(changed, cache=cache).findings] == [("GW112", 15)]
    assert "step" in ran


def test_an_import_edit_runs_again_only_the_scopes_that_name_it(monkeypatch) -> None:
    text = "import random\n" + MODULE_LEVEL_LOSS.replace('print("epochs", 10)', "nn.init.calculate_gain('relu')")
    cache = ScopeCache()
    assert [(f.code, f.span.line) for f in check_source(text, cache=cache).findings] == [("GW112", 15)]
    ran = _functions_run(monkeypatch)
    edited = text.replace("import random", "import randomx")  # named nowhere
    assert [(f.code, f.span.line) for f in check_source(edited, cache=cache).findings] == [("GW112", 15)]
    assert ran == []
    # `nn`, named by the module body and by `step`'s callee (through `criterion`), is gone:
    renamed = edited.replace("import torch.nn as nn", "import torch.nn as nnx")
    rechecked = check_source(renamed, cache=cache).findings
    assert "step" in ran
    assert rechecked == check_source(renamed).findings


MODULE_SCRIPT = """\
import torch

print("start")
x = torch.randn(3, requires_grad=True)
y = x.sigmoid()
y.add_(1)
print("training")
for step in range(3):
    loss = (y * step).sum()
    loss.backward(retain_graph=True)
"""


def _module_statements_run(monkeypatch) -> list:
    from gradwatch.analysis.interpreter import Interpreter

    ran = []
    original = Interpreter.exec_block
    monkeypatch.setattr(
        Interpreter,
        "exec_block",
        lambda self, body, state: (ran.append(body[0].lineno) if self.current_function is None and len(body) == 1 else None)
        or original(self, body, state),
    )
    return ran


def test_a_module_level_edit_that_leaves_the_state_as_it_was_runs_that_statement_alone(monkeypatch) -> None:
    cache = ScopeCache()
    assert [(f.code, f.span.line) for f in check_source(MODULE_SCRIPT, cache=cache).findings] == [("GW201", 6)]
    ran = _module_statements_run(monkeypatch)
    edited = MODULE_SCRIPT.replace('"training"', '"training now"')
    assert [(f.code, f.span.line) for f in check_source(edited, cache=cache).findings] == [("GW201", 6)]
    assert ran == [7]  # the loop after it is replayed
    ran.clear()
    again = check_source(edited, cache=cache).findings
    assert ran == []  # the same text again: every statement replayed
    assert again == check_source(edited).findings


def test_a_module_level_edit_that_changes_the_state_runs_the_statements_after_it(monkeypatch) -> None:
    cache = ScopeCache()
    check_source(MODULE_SCRIPT, cache=cache)
    ran = _module_statements_run(monkeypatch)
    fixed = MODULE_SCRIPT.replace("y.add_(1)", "y = y + 1")
    assert check_source(fixed, cache=cache).findings == []
    assert ran == [6, 7, 8]  # `y` is another tensor: what follows runs again
    assert check_source(fixed).findings == []
    # Back to the version before: every statement is replayed from the cache.
    ran.clear()
    assert [(f.code, f.span.line) for f in check_source(MODULE_SCRIPT, cache=cache).findings] == [("GW201", 6)]
    assert ran == []


def test_a_module_body_that_ends_early_ends_early_when_replayed() -> None:
    text = MODULE_SCRIPT + "raise SystemExit(0)\nz = x.exp()\nz.add_(1)\nz.sum().backward()\n"
    cache = ScopeCache()
    first = check_source(text, cache=cache).findings
    assert [(f.code, f.span.line) for f in first] == [("GW201", 6)]
    edited = text.replace('print("start")', 'print("started")')
    assert check_source(edited, cache=cache).findings == check_source(edited).findings == first
    assert check_source(text, cache=cache).findings == first


def test_a_function_that_follows_a_call_into_another_file_is_reused_until_that_file_changes(tmp_path, monkeypatch):
    from gradwatch.analysis.cross_module import CrossModule
    from gradwatch.analysis.project import ProjectIndex

    helpers = tmp_path / "helpers.py"
    helpers.write_text("def cut(x):\n    return x.detach()\n")
    step = tmp_path / "step.py"
    text = (
        "import torch\nfrom helpers import cut\n\n\ndef step():\n"
        "    w = torch.randn(3, requires_grad=True)\n    cut(w * 2).sum().backward()\n\n\ndef other():\n    return 1\n"
    )
    project = CrossModule(ProjectIndex(tmp_path))
    followed = []
    original = CrossModule.value_for_call
    monkeypatch.setattr(CrossModule, "value_for_call", lambda self, *a: followed.append(a[-1]) or original(self, *a))
    cache = ScopeCache()
    assert [f.code for f in check_source(text, str(step), cache=cache, project=project).findings] == ["GW101"]
    followed.clear()
    edited = text.replace("return 1", "return 2")
    assert [f.code for f in check_source(edited, str(step), cache=cache, project=project).findings] == ["GW101"]
    assert followed == []  # replayed: nothing was asked of the other file
    helpers.write_text("def cut(x):\n    return x * 1\n")
    os.utime(helpers, ns=(helpers.stat().st_atime_ns, helpers.stat().st_mtime_ns + 10**9))
    assert check_source(edited, str(step), cache=cache, project=project).findings == []
    assert followed == ["helpers.cut"]


def test_a_replayed_function_still_says_it_calls_other_files() -> None:
    # The editor analyses with other files in a second pass only when the first says so.
    text = "import torch\nfrom helpers import cut\n\n\ndef step():\n    w = torch.randn(3, requires_grad=True)\n    cut(w).sum().backward()\n"
    cache = ScopeCache()
    assert check_source(text, cache=cache).calls_other_files
    assert check_source(text + "\n", cache=cache).calls_other_files


def test_after_a_transient_syntax_error_the_scopes_from_before_it_are_replayed(monkeypatch) -> None:
    """A `(` typed into `gate` takes the function away for one run; deleting it again finds
    every scope the run before the error recorded (`step` and the module body call `gate`)."""
    from gradwatch.analysis.interpreter import Interpreter

    text = CALLER_AND_CALLEE + "\nfor _ in range(3):\n    step()\n"
    broken = text.replace("return torch.sigmoid(x)", "return torch.sigmoid(x)(")
    cache = ScopeCache()
    check_source(text, cache=cache)
    check_source(broken, cache=cache)
    ran = []
    original = Interpreter.exec_block
    monkeypatch.setattr(Interpreter, "exec_block", lambda self, body, state: ran.append(body) or original(self, body, state))
    fixed = check_source(text, cache=cache)
    assert ran == []  # nothing analysed again
    assert fixed.findings == check_source(text).findings
    assert [(f.code, f.span.line) for f in fixed.findings] == [("GW201", 15)]


# `x = ...` is a statement of `f` or not depending on an error in `g`: with `g` whole, recovery
# puts `pass` in place of the broken line; with `g` broken too, the class around both does not
# parse with that `pass`, and recovery blanks from `def helper` to the broken line instead.
ONE_TEXT_TWO_TREES = """import torch


class Holder:
    def f(self):
        def helper():
            return 1

        x = torch.randn(2, requires_grad=True)
        for i in range(2):
            y = x * 2 $
        return x

    def g(self, z=1):
        return z
"""


def test_a_function_whose_text_recovery_parsed_otherwise_is_not_replayed() -> None:
    """The cache keys a function on its text, but an error elsewhere changes what recovery
    keeps of that text: `f` run while `g` was broken too had no `x`; the check after `g` is
    mended must describe `x` again, as a fresh check does."""
    both_broken = ONE_TEXT_TWO_TREES.replace("def g(self, z=1):", "def g(self, z=1:")
    cache = ScopeCache()
    check_source(both_broken, cache=cache)
    mended = check_source(ONE_TEXT_TWO_TREES, cache=cache)
    fresh = check_source(ONE_TEXT_TWO_TREES)
    assert [(n.name, n.span.line) for n in fresh.names] == [("x", 9), ("x", 12)]
    assert mended.names == fresh.names
    assert mended.findings == fresh.findings


def test_a_scopes_key_holds_the_lines_recovery_changed_inside_it() -> None:
    """One text, two trees: where recovery changed a line of `f` (`pass` for a broken line,
    or the lines it blanked), `f`'s key differs from the run where it changed none, and
    from a run where it changed a line elsewhere only as much as that line is inside `f`."""
    from gradwatch.analysis.interpreter import Interpreter
    from gradwatch.source import SourceText

    tree = ast.parse(CALLER_AND_CALLEE)
    step = next(node for node in tree.body if getattr(node, "name", "") == "step")

    def key(recovered_lines: tuple):
        interpreter = Interpreter(SourceText(CALLER_AND_CALLEE), cache=ScopeCache(), recovered_lines=recovered_lines)
        interpreter.collect_globals(tree)
        return interpreter.cache_key(step, None)

    untouched = key(())
    assert key(((6, "    pass\n"),)) == untouched  # a line of `gate`, not of `step`
    assert key(((16, "    pass\n"),)) != untouched
    assert key(((16, "\n"),)) != key(((16, "    pass\n"),))


def test_a_transient_error_inside_a_method_leaves_the_scopes_that_use_its_class_replayed(monkeypatch) -> None:
    """What recovery changed inside a method belongs to that method's key, not to its class's
    (which stands for the header, class-level statements and `__init__`): `train` uses the
    class, not `describe`, and is replayed while `describe` is broken."""
    from gradwatch.analysis.interpreter import Interpreter

    text = (
        "import torch\nfrom torch import nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(3, 3)\n\n"
        "    def forward(self, x):\n        return torch.sigmoid(self.fc(x))\n\n"
        "    def describe(self):\n        return 1\n\n\n"
        "def train():\n    y = Net()(torch.randn(2, 3))\n    y.mul_(2)\n    y.sum().backward()\n"
    )
    cache = ScopeCache()
    check_source(text, cache=cache)
    ran = []
    original = Interpreter.exec_block
    monkeypatch.setattr(Interpreter, "exec_block", lambda self, body, state: ran.append(body) or original(self, body, state))
    broken = check_source(text.replace("return 1", "return 1)"), cache=cache)
    train = next(node for node in ast.parse(text).body if getattr(node, "name", "") == "train")
    assert not any(body and body[0].lineno == train.body[0].lineno for body in ran)
    assert [(f.code, f.span.line) for f in broken.findings if f.code != "GW001"] == [("GW201", 19)]


def test_replayed_scopes_spend_the_call_budget_their_runs_spent(monkeypatch) -> None:
    # Calls are followed within a budget per file: the module body's call of `gate` spends
    # it (here, all of it), so `step` does not follow its own. Replayed, the module body
    # must spend it all the same, or `step`, edited, would follow the call (a GW201).
    from gradwatch.analysis import calls

    monkeypatch.setattr(calls, "CALL_BUDGET", 1)
    text = CALLER_AND_CALLEE + "\n\ny = gate(torch.ones(2))\n"
    cache = ScopeCache()
    assert check_source(text, cache=cache).findings == []
    edited = text.replace("randn(3", "randn(4")
    assert check_source(edited, cache=cache).findings == check_source(edited).findings == []


def test_an_edit_that_moves_a_called_function_gives_its_findings_their_new_lines() -> None:
    # `step` is unchanged and stays in place, but `helper`, whose events its call carries, moves down.
    text = CALLER_AND_CALLEE.replace("def unrelated():\n    return 1\n\n\n", "").replace(
        "def gate(x):\n    return torch.sigmoid(x)\n\n\n", ""
    ) + "\n\ndef unrelated():\n    return 1\n\n\ndef gate(x):\n    y = torch.sigmoid(x)\n    y.mul_(2)\n    return y\n"
    text = text.replace("    g.mul_(2)\n", "")
    cache = ScopeCache()
    first = check_source(text, cache=cache).findings
    edited = text.replace("    return 1\n", "    a = 1\n    return a\n")
    assert check_source(edited, cache=cache).findings == check_source(edited).findings != first




STAR_IMPORT = """\
from torch import *

lr = 0.1


def step():
    x = randn(3, requires_grad=True)
    y = sigmoid(x)
    y.add_(1)
    y.sum().backward()


def other():
    return randn(2)
"""


def test_which_module_a_star_import_reads_is_part_of_every_key() -> None:
    cache = ScopeCache()
    assert [f.code for f in check_source(STAR_IMPORT, cache=cache).findings] == ["GW201"]
    edited = STAR_IMPORT.replace("from torch import *", "from helpers import *")
    assert check_source(edited, cache=cache).findings == check_source(edited).findings == []



def test_with_a_star_import_a_def_taken_away_costs_only_the_scopes_that_use_its_name(monkeypatch) -> None:
    """With `from torch import *`, a name the file does not bind may come from torch: a syntax
    error that takes `other` away changes what `other` names, not what `step` uses."""
    from gradwatch.analysis.interpreter import Interpreter

    cache = ScopeCache()
    check_source(STAR_IMPORT, cache=cache)
    ran = []
    original = Interpreter.run_function
    monkeypatch.setattr(Interpreter, "run_function", lambda self, node, c: ran.append(node.name) or original(self, node, c))
    broken = STAR_IMPORT.replace("def other():", "def other(:")
    assert sorted(f.code for f in check_source(broken, cache=cache).findings) == ["GW001", "GW201"]
    assert ran == []
    uses_it = broken + "\n\ndef caller():\n    return other()\n"
    check_source(uses_it, cache=cache)
    assert ran == ["caller"]
    assert check_source(uses_it, cache=cache).findings == check_source(uses_it).findings



def test_an_edit_among_hundreds_of_backwards_gives_what_a_fresh_check_gives() -> None:
    # Each backward is freed by the one before: the states the editor compares hold that
    # chain, which compared event by event once overflowed the stack (a fuzz find).
    lines = ["import torch", "x = torch.ones(3, requires_grad=True)", "loss = (x * 2).sum()"] + ["loss.backward()"] * 800
    cache = ScopeCache()
    check_source("\n".join(lines) + "\n", cache=cache)
    lines[400] = "loss.backwardx()"
    edited = "\n".join(lines) + "\n"
    cached = check_source(edited, cache=cache).findings
    assert cached == check_source(edited).findings
    assert {f.code for f in cached} == {"GW106"} and len(cached) == 798


def test_a_method_above_a_class_that_moves_cites_the_class_where_it_now_is() -> None:
    # A class defined twice (a fuzz find): the first one's forward runs with the attributes
    # of the second, which its name is bound to. That forward is unchanged and stays where
    # it is; its finding cites the second class's `inplace=True`, which a line added above
    # that class moves down.
    first = """\
class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.drop(torch.sigmoid(self.fc(x)))
"""
    second = first.replace("nn.Dropout(0.1)", "nn.Dropout(0.1, inplace=True)")
    text = f"import torch\nimport torch.nn as nn\n\n\n{first}\n\n{second}\n\nAttention()(torch.randn(2, 8)).sum().backward()\n"
    cache = ScopeCache()
    before = check_source(text, cache=cache).findings
    assert sorted(f.span.line for f in before if f.code == "GW201") == [12, 22]
    moved = text.replace(f"\n\n{second}", f"\n\n\n{second}")
    cached = check_source(moved, cache=cache).findings
    assert cached == check_source(moved).findings


def test_names_of_a_replayed_init_are_shown_once() -> None:
    # A class's `__init__` runs for the class's attributes and again as a method: both runs
    # name the same tensors. An edit elsewhere replays the class and runs the method again
    # (it reads a name of another file): the names must stand for the same nodes, not be
    # listed twice for hover (a fuzz find).
    text = """\
import torch
from torch.nn import Module

from .. import settings


def pad(x):
    \"\"\"Pads x.\"\"\"
    return x[None]


class Quadrature(Module):
    def __init__(self, n=None):
        super().__init__()
        if n is None:
            n = settings.locations.value()
        x = torch.randn(10, requires_grad=True)
        w = torch.randn(10)
        loss = (x * w).sum()
        self.grads = torch.autograd.grad(loss, [x, w])
        self.n = n

    def forward(self, y):
        return pad(y)
"""
    cache = ScopeCache()
    check_source(text.replace("Pads x.", "Pads xx."), cache=cache)
    cached = check_source(text, cache=cache)
    fresh = check_source(text)
    assert cached.findings == fresh.findings and [f.code for f in fresh.findings] == ["GW103"]
    assert sorted(cached.names, key=repr) == sorted(fresh.names, key=repr)


def test_a_forward_runs_again_when_a_helper_it_calls_starts_writing_in_place() -> None:
    # Whether the forward is analysed at all depends on the helper's text (forward_reach.py),
    # which its class's text does not show.
    text = (
        "import torch\n"
        "import torch.nn as nn\n\n\n"
        "def shift(x):\n"
        "    return x + 1\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n\n"
        "    def forward(self, x):\n"
        "        return shift(torch.sigmoid(self.fc(x)))\n"
    )
    cache = ScopeCache()
    assert check_source(text, cache=cache).findings == []
    edited = text.replace("return x + 1", "return x.add_(1)")  # the lines stay where they were
    assert [f.code for f in check_source(edited, cache=cache).findings] == ["GW201"]
    assert [f.code for f in check_source(text, cache=cache).findings] == []


def test_what_the_module_body_ran_is_replayed_with_it(monkeypatch) -> None:
    # A function the module body ran knowing nothing of its arguments (`main(args)`) is
    # analysed there: replaying the module body must say so again, and a call removed must
    # bring back its own analysis.
    from test_whole_program import TRAINING_SCRIPT, _functions_run_on_their_own

    runs = _functions_run_on_their_own(monkeypatch)
    versions = [
        (TRAINING_SCRIPT, False),
        (TRAINING_SCRIPT.replace("return t * factor", "return t * factor * 2"), False),
        (TRAINING_SCRIPT.replace("return 1", "return 2"), False),  # the module body is replayed
        (TRAINING_SCRIPT.replace("    main(parse_args())\n", "    pass\n"), True),
        (TRAINING_SCRIPT, False),
    ]
    for names in (True, False):
        cache = ScopeCache()
        for version, main_on_its_own in versions:
            runs.clear()
            cached = check_source(version, cache=cache, names=names)
            assert (("main", False) in runs) is main_on_its_own, runs
            fresh = check_source(version, names=names)
            assert cached.findings == fresh.findings and [f.code for f in fresh.findings] == ["GW201"]
            assert sorted(cached.names, key=repr) == sorted(fresh.names, key=repr)
