"""Module instances: each child of an nn.Sequential has an output of its own, and
in-place modules are reported where they are built, with what they really modify."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from gradwatch.checker import check_source
from gradwatch.findings import Severity
from gradwatch.fixes import apply_edits

SEQUENTIAL = """\
import torch
import torch.nn as nn


class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Linear(4, 4),
            nn.BatchNorm1d(4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(4, 4),
            nn.Sigmoid(),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.main(x)
"""


def test_only_the_child_after_a_saving_child_is_reported_at_its_own_line() -> None:
    findings = [f for f in check_source(SEQUENTIAL).findings if f.code == "GW201"]
    assert [f.span.line for f in findings] == [14]
    message = findings[0].message
    assert message.startswith("`nn.ReLU(inplace=True)` modifies the output of `nn.Sigmoid()` (line 13) in place")
    assert "`x`" not in message
    assert [r.span.line for r in findings[0].related] == [13, 18, 18]


def test_turning_inplace_off_removes_the_finding() -> None:
    finding = next(f for f in check_source(SEQUENTIAL).findings if f.code == "GW201")
    assert finding.fix.safe and finding.fix.title == "Set `inplace=False`"
    fixed = apply_edits(SEQUENTIAL, finding.fix.edits)
    assert "nn.ReLU(inplace=False)" in fixed
    assert [f for f in check_source(fixed).findings if f.code == "GW201"] == []


DROPOUT = """\
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim, attn_drop=0.0):
        super().__init__()
        self.qkv = nn.Linear(dim, dim * 3)
        self.attn_drop = nn.Dropout(attn_drop, inplace=True)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        attn = self.attn_drop(attn)
        return attn @ v
"""


def test_dropout_with_an_unknown_p_is_a_warning_that_names_its_condition() -> None:
    (finding,) = [f for f in check_source(DROPOUT).findings if f.code == "GW201"]
    assert finding.severity is Severity.WARNING
    assert "while it is in training mode with p > 0" in finding.message
    assert finding.span.line == 13


def test_dropout_with_p_zero_writes_nothing() -> None:
    code = DROPOUT.replace("nn.Dropout(attn_drop, inplace=True)", "nn.Dropout(0.0, inplace=True)")
    assert [f for f in check_source(code).findings if f.code == "GW201"] == []


# Two saved ops clobbered by one write: which is named first once depended on set order.
SEVERAL_SAVED = """\
import torch

x = torch.randn(3, requires_grad=True)
a = x.sigmoid()
b = a * x
c = a.exp() * a
a.add_(1)
(b + c).sum().backward()
"""


def test_output_is_the_same_whatever_the_hash_seed(tmp_path: Path) -> None:
    (tmp_path / "several.py").write_text(SEVERAL_SAVED)
    (tmp_path / "gate.py").write_text(SEQUENTIAL + "\n\nGate()(torch.randn(2, 4)).sum().backward()\n")
    outputs = set()
    for seed in ("0", "1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-m", "gradwatch", "check", "--no-cross-module", "."],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_an_inplace_module_saves_what_its_inplace_form_saves() -> None:
    # Measured: hardswish with inplace=True saves nothing, relu with inplace=True its output.
    code = """\
import torch.nn as nn



class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(4, 4), nn.{act}(inplace=True), nn.Dropout(0.5, inplace=True))

    def forward(self, x):
        return self.head(x)
"""
    assert [f.code for f in check_source(code.format(act="Hardswish")).findings] == []
    relu = check_source(code.format(act="ReLU")).findings
    assert [(f.code, f.span.line) for f in relu] == [("GW201", 8)]


def _worth_analysing(text: str, collect_names: bool = True) -> dict:
    """Interpreter.relevant of each top-level function and method of `text`, and of the module
    body; `collect_names`: for the editor's hover (else as the command line runs)."""
    import ast

    from gradwatch.analysis.interpreter import Interpreter
    from gradwatch.source import SourceText

    text = textwrap.dedent(text)
    tree = ast.parse(text)
    interpreter = Interpreter(SourceText(text), collect_names=collect_names)
    interpreter.collect_globals(tree)
    worth = {
        f"{cls.name}.{method.name}": interpreter.relevant(method, interpreter.source.segment(method))
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for method in cls.body
    }
    for function in tree.body:
        if isinstance(function, ast.FunctionDef):
            worth[function.name] = interpreter.relevant(function, interpreter.source.segment(function))
    worth["<module>"] = interpreter.relevant(tree, text)
    return worth


WRITES_IN_PLACE = """
    import torch
    from torch import nn


    def fill(x, i):
        x[i] = 0
        return x


    def fill_with_grad(x):
        with torch.enable_grad():
            x.add_(1)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(3))
            self.w.add_(1)

        def reset(self):
            self.w.zero_()

        def forward(self, x):
            x += 1
            return x
    """


def test_a_scope_that_only_writes_in_place_runs_where_grad_mode_may_be_known_on():
    # Without a backward in the scope, a write in place is an error only with grad mode on,
    # and any caller may run `fill` or `reset` under no_grad. A module's `__init__` and `forward`
    # run with it on (torch raises for line 20, a write to a parameter), and `fill_with_grad`
    # turns it on. The editor runs them all, for the hover's names.
    assert _worth_analysing(WRITES_IN_PLACE, collect_names=False) == {
        "Net.__init__": True,
        "Net.reset": False,
        "Net.forward": True,
        "fill": False,
        "fill_with_grad": True,
        "<module>": True,  # it names `forward`
    }
    assert all(_worth_analysing(WRITES_IN_PLACE, collect_names=True).values())
    text = textwrap.dedent(WRITES_IN_PLACE)
    assert [(f.code, f.span.line) for f in check_source(text, names=False).findings] == [("GW202", 20)]
    assert check_source(text, names=False).findings == check_source(text).findings


def test_only_a_jaxtyping_annotation_makes_a_scope_worth_analysing_for_its_shapes():
    # A shape written as a string (`Float[Tensor, "b 3"]`, in a string annotation too) is a
    # source of shapes (shape_sources.py); `Union[torch.Tensor, ...]` or `Tuple[Tensor, Tensor]`
    # names the type alone: with nothing else in the scope, running it finds nothing.
    worth = _worth_analysing(
        """
        import torch
        from torch import Tensor
        from jaxtyping import Float

        def typed(x: Union[torch.Tensor, Dict[str, torch.Tensor]]) -> Tuple[Tensor, Tensor]:
            return x, x

        def shaped(x: Float[Tensor, "b 3"]):
            return x

        def shaped_in_a_string(x: "Float[torch.Tensor, 'b 3']"):
            return x
        """
    )
    # The module body is read whole (its text holds the annotations).
    assert worth == {"typed": False, "shaped": True, "shaped_in_a_string": True, "<module>": True}


INITS_THAT_WRITE_IN_PLACE = """
    import torch
    from torch import nn


    class Counted(nn.Module):
        def __init__(self, depths):
            super().__init__()
            layers, total = [], 0
            for depth in depths:
                total += depth
                layers.append(nn.Conv2d(total, total, 3, bias=False))
            self.layers = nn.Sequential(*layers)


    class Scaled(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(dim))
            self.scale.mul_(2)


    class Tuned(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.fc.weight.mul_(0.1)
    """


def test_an_init_writes_in_place_to_a_trained_tensor_only_where_its_text_names_one():
    # An `__init__` follows no call: a leaf that requires grad is there only where its text
    # makes or names one. `total += depth` adds numbers (`bias=False` names no tensor); the
    # other two raise on torch ("a leaf Variable that requires grad is being used in an
    # in-place operation"), for the editor and the command line alike.
    for collect_names in (True, False):
        worth = _worth_analysing(INITS_THAT_WRITE_IN_PLACE, collect_names)
        assert (worth["Counted.__init__"], worth["Scaled.__init__"], worth["Tuned.__init__"]) == (False, True, True)
    found = check_source(textwrap.dedent(INITS_THAT_WRITE_IN_PLACE)).findings
    assert [(f.code, f.span.line) for f in found] == [("GW202", 20), ("GW202", 27)]


def test_numpy_makes_a_scope_worth_analysing_where_it_is_used_not_where_a_name_holds_it():
    worth = _worth_analysing(
        """
        import torch

        def converts(t):
            return t.numpy()

        def imports(t):
            import numpy as np
            return np.asarray(t)

        def loads(array):
            return torch.from_numpy(array).float()
        """,
        collect_names=False,
    )
    assert (worth["converts"], worth["imports"], worth["loads"]) == (True, True, False)


def test_the_word_forward_makes_only_a_modules_forward_worth_analysing():
    # A module's forward is taken as backpropagated, so it is analysed on its own; a method
    # that merely names `forward` (timm's forward_features, a call of self.forward) makes
    # no event a rule uses unless something else in it does.
    worth = _worth_analysing(
        """
        import torch
        from torch import nn

        class Net(nn.Module):
            def forward(self, x):
                return self.forward_features(x)

            def forward_features(self, x):
                return self.blocks(x)

            def predict(self, x):
                return self.forward(x).sum().backward()

        class Plain:
            def forward(self, x):
                return x
        """
    )
    assert worth == {
        "Net.forward": False,  # nothing it runs writes in place (`predict` runs on its own)
        "Net.forward_features": False,
        "Net.predict": True,  # for its backward
        "Plain.forward": False,  # not a module: nothing takes its result as backpropagated
        "<module>": True,  # the module body may build and call the module
    }


def test_a_forward_is_analysed_when_code_it_may_run_of_the_file_can_make_an_event():
    worth = _worth_analysing(
        """
        from functools import partial

        import torch
        from torch import nn

        ACT = partial(nn.ReLU, inplace=True)

        def shift(x):
            x += 1
            return x

        class Clean(nn.Module):
            def forward(self, x):
                return torch.sigmoid(x)

        class InPlaceBlock(nn.Module):
            def forward(self, x):
                x += 1
                return x

        class Outer(nn.Module):  # its forward makes no event, a submodule it builds does
            def __init__(self):
                super().__init__()
                self.inner = InPlaceBlock()

            def forward(self, x):
                return self.inner(torch.sigmoid(x))

        class WithHelper(nn.Module):
            def forward(self, x):
                return shift(torch.sigmoid(x))

        class WithDefault(nn.Module):
            def __init__(self, act=ACT):
                super().__init__()
                self.act = act()

            def forward(self, x):
                return self.act(torch.sigmoid(x))

        class Derived(InPlaceBlock):
            def forward(self, x):
                return super().forward(torch.sigmoid(x))

        class Wrapper(nn.Module):  # builds only a clean module
            def __init__(self):
                super().__init__()
                self.inner = Clean()

            def forward(self, x):
                return self.inner(x) * 2

        def zero_bias(module):
            module.fc.bias.data.zero_()

        class Initialised(nn.Module):  # writes in place while it is built, not in forward
            def __init__(self, depth):
                super().__init__()
                self.fc = nn.Linear(4, 4)
                nn.init.zeros_(self.fc.weight)
                zero_bias(self)
                depth += 1

            def init_weights(self):
                self.fc.weight.data.normal_()

            def forward(self, x):
                return torch.sigmoid(self.fc(x))

        class CallsAMethod(nn.Module):
            def forward(self, x):
                return self.shifted(torch.sigmoid(x))

            def shifted(self, x):
                x += 1
                return x

        class BuildsInAMethod(nn.Module):  # a method __init__ calls builds an in-place layer
            def __init__(self):
                super().__init__()
                self.act = self.make_act()

            def make_act(self):
                return nn.ReLU(inplace=True)

            def forward(self, x):
                return self.act(torch.sigmoid(x))

        class StoresAHelper(nn.Module):  # a function __init__ keeps rather than calls may run later
            def __init__(self):
                super().__init__()
                self.fn = shift

            def forward(self, x):
                return self.fn(torch.sigmoid(x))

        class Quiet(nn.Module):
            def forward(self, x):
                return x

            def shifted(self, x):
                x.add_(1)
                return x

        class CallsASubmodulesMethod(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = Quiet()

            def forward(self, x):
                return self.inner.shifted(torch.sigmoid(x))

        class CallsAHelperWhileBuilt(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = Quiet()
                shift(torch.zeros(3))

            def forward(self, x):
                return self.inner(torch.sigmoid(x))
        """
    )
    forwards = {name: flag for name, flag in worth.items() if name.endswith(".forward")}
    assert forwards == {
        "Clean.forward": False,
        "InPlaceBlock.forward": True,
        "Outer.forward": True,
        "WithHelper.forward": True,
        "WithDefault.forward": True,
        "Derived.forward": True,
        "Wrapper.forward": False,
        "Initialised.forward": False,
        "CallsAMethod.forward": True,
        "BuildsInAMethod.forward": True,
        "StoresAHelper.forward": True,
        "Quiet.forward": False,
        "CallsASubmodulesMethod.forward": True,
        "CallsAHelperWhileBuilt.forward": False,
    }
