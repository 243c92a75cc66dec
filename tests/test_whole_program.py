"""The engine follows a program the way torch runs it: calls in their context, instances
built from their own constructor call, containers, loop iterations. Each program is
checked twice: gradwatch finds exactly the stated findings, and torch does what they say."""

from __future__ import annotations

import pytest

from gradwatch.checker import check_source
from gradwatch.findings import Severity
from test_oracle import run

from whole_program_containers import PROGRAMS as CONTAINERS
from whole_program_flow import PROGRAMS as FLOW
from whole_program_modes import PROGRAMS as MODES

PROGRAMS = {**CONTAINERS, **FLOW, **MODES}
assert len(PROGRAMS) == len(CONTAINERS) + len(FLOW) + len(MODES), "a program name is used twice"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradwatch_finds_what_the_program_does(name: str) -> None:
    code, expected, _ = PROGRAMS[name]
    loud = [f for f in check_source(code).findings if f.severity in (Severity.ERROR, Severity.WARNING)]
    assert [(f.code, f.span.line) for f in loud] == expected, [f.message for f in loud]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_torch_agrees(name: str) -> None:
    pytest.importorskip("torch")
    code, _, error = PROGRAMS[name]
    _, raised, _ = run(code)
    if error is None:
        assert raised is None, f"torch raised {raised!r}"
    else:
        assert raised is not None and error in str(raised), f"torch: {raised!r}"


def _training_loops(count: int) -> str:
    head = """
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(8, 8), nn.ReLU(inplace=True), nn.Linear(8, 2))

    def forward(self, x):
        return self.features(x)

model = Net()
opt = torch.optim.SGD(model.parameters(), 0.1)
"""
    loop = """
for step in range(2):
    x = torch.randn(4, 8)
    loss = model(x).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
"""
    return head + loop * count


def test_facts_about_shared_parameters_grow_linearly_with_the_loops(monkeypatch) -> None:
    # Every loop over the same model used to relabel the saved ops of all loops
    # before it, doubling them per loop: a module of twenty training loops took minutes.
    from gradwatch.analysis import iterations

    sizes: list[int] = []
    carried_over = iterations.Iterations.carried_over

    def measured(self, state, loop, start, *dead):
        carried, known_at_start = carried_over(self, state, loop, start, *dead)
        sizes.append(sum(len(saved) for saved in carried.saved_by.values()))
        return carried, known_at_start

    monkeypatch.setattr(iterations.Iterations, "carried_over", measured)
    largest = {}
    for count in (4, 8, 16):
        sizes.clear()
        check_source(_training_loops(count))
        largest[count] = max(sizes)
    assert largest[16] <= 2.5 * largest[8] and largest[8] <= 2.5 * largest[4], largest


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_arguments_that_spend_the_call_budget_do_not_stop_the_analysis(monkeypatch, budget: int) -> None:
    # The arguments of a followed call are evaluated after the budget was checked; when
    # they spend the rest of it, the call still runs (it used to crash the analysis).
    from gradwatch.analysis import calls

    monkeypatch.setattr(calls, "CALL_BUDGET", budget)
    source = """
import torch
import torch.nn as nn

def helper(x):
    return x * 2

class Net(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return helper(self.fc(x))

net = Net(helper(helper(torch.ones(1))))
x = torch.ones(2, 4, requires_grad=True)
y = net(helper(helper(x))).sigmoid()
y.add_(1)
y.sum().backward()
"""
    result = check_source(source)
    assert not any(f.code == "GW002" for f in result.findings)


def test_of_two_backwards_that_freed_a_graph_the_first_in_the_source_is_named() -> None:
    # The graph's parts are a set whose order changes from run to run (storage
    # numbers grow); the message must not.
    source = """
import torch

w = torch.randn(3, requires_grad=True)
h = torch.zeros(3)
for step in range(3):
    a = torch.randn(3)
    y = a * w
    y.sum().backward()
    h = h + y
    loss = h.sum()
    loss.backward()
"""
    messages = {
        tuple(f.message for f in check_source(source).findings if f.code == "GW106") for _ in range(30)
    }
    assert len(messages) == 1, messages
    (found,) = messages
    assert any("`y.sum().backward()` (line 9)" in message for message in found), found


_OUTER_LOOP = """
import torch
import torch.nn as nn

layer = nn.Linear(2, 2)
opt = torch.optim.SGD(layer.parameters(), lr=0.1)
data = torch.randn(3, 5, 2)
out = layer(data[:, 0, :])
for itr in range(3):
    opt.zero_grad()
{inner}
    out.sum().backward()
    opt.step()
"""


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        # `out` is made afresh on every path: nothing of the last iteration's graph is left.
        ("    out = layer(data[:, 1, :])", []),
        # When the inner loop runs, `out` is this iteration's (only a loop over no steps would
        # leave the last iteration's `out`, whose graph backward freed): taken to run, no finding.
        ("    for t in range(data.size(1)):\n        out = layer(data[:, t, :])", []),
        # When the branch is not taken, `out` is the last iteration's: it may raise, but what the
        # first backward freed is then not known on every path either. No finding (it used to
        # be an error).
        ("    if data.sum() > 0:\n        out = layer(data[:, 1, :])", []),
        # Not rebound at all: the second backward goes through the freed graph.
        ("    pass", [("GW106", "ERROR")]),
    ],
    ids=["rebound", "rebound by a loop that may not run", "rebound in a branch", "carried over"],
)
def test_backward_raises_only_where_every_path_reaches_the_freed_graph(inner, expected) -> None:
    findings = check_source(_OUTER_LOOP.format(inner=inner)).findings
    found = sorted({(f.code, f.severity.name) for f in findings if f.severity in (Severity.ERROR, Severity.WARNING)})
    assert found == expected


def test_a_graph_freed_on_some_paths_only_is_a_warning_that_says_may() -> None:
    # The cached loss is reused when the branch is taken: then backward raises (torch:
    # "Trying to backward through the graph a second time"); otherwise it runs.
    text = (
        "import random\nimport torch\n\nw = torch.randn(3, requires_grad=True)\n"
        "cached = (w * w).sum()\ncached.backward()\n"
        "if random.random() > 0.5:\n    loss = cached\nelse:\n    loss = (w * w).sum()\nloss.backward()\n"
    )
    [finding] = [f for f in check_source(text).findings if f.code == "GW106"]
    assert (finding.span.line, finding.severity) == (11, Severity.WARNING)
    assert "may raise: on some paths" in finding.message
    for branch in ("loss = cached", "loss = (w * w).sum()"):
        namespace, error, _ = run(text.replace("if random.random() > 0.5", "if True").replace("    loss = cached\n", f"    {branch}\n"))
        assert (error is not None) == (branch == "loss = cached")


def test_a_second_backward_through_a_distribution_names_what_it_computes_once() -> None:
    code, expected, _ = PROGRAMS["two_losses_from_one_categorical_of_probs_share_its_logits"]
    (finding,) = check_source(code).findings
    assert (finding.code, finding.span.line) == expected[0]
    assert "(through what `Categorical(probs)` computes once, line 6)" in finding.message
    assert [related.span.line for related in finding.related] == [9, 6]


def test_a_draw_under_no_grad_blames_the_no_grad_and_offers_no_rsample() -> None:
    code, _, _ = PROGRAMS["a_draw_under_no_grad_is_cut_by_the_no_grad"]
    (finding,) = check_source(code).findings
    assert "ran under `with torch.no_grad()` (line 6)" in finding.message and finding.fixes == ()


TRAINING_SCRIPT = """
import argparse

import torch


def parse_args():
    return argparse.ArgumentParser().parse_args()


def scale(t, factor):
    return t * factor


def unused():
    return 1


def main(args):
    w = torch.randn(3, requires_grad=True)
    y = w.sigmoid()
    y.add_(1)
    y.sum().backward()


if __name__ == "__main__":
    scale(torch.randn(3), 2.0)
    main(parse_args())
"""


def _functions_run_on_their_own(monkeypatch) -> list:
    from gradwatch.analysis.interpreter import Interpreter

    runs = []
    run_function = Interpreter.run_function

    def noted(self, node, in_class):
        runs.append((node.name, self.names_only))
        return run_function(self, node, in_class)

    monkeypatch.setattr(Interpreter, "run_function", noted)
    return runs


def test_a_function_the_module_body_runs_knowing_nothing_of_its_arguments_is_analysed_there(monkeypatch) -> None:
    # `main(args)` of parsed options: its run from the module body is its own analysis with
    # more known around it, so the command line does not run it again; the editor runs it
    # again for the hover's names only, and both report the same.
    runs = _functions_run_on_their_own(monkeypatch)
    command_line = check_source(TRAINING_SCRIPT, names=False)
    assert runs == [("scale", False), ("unused", False)]  # scale was called with known arguments
    runs.clear()
    editor = check_source(TRAINING_SCRIPT)
    assert runs == [("parse_args", True), ("scale", False), ("unused", False), ("main", True)]
    assert [f.code for f in command_line.findings] == ["GW201"]
    assert command_line.findings == editor.findings
    assert {n.name for n in editor.names} >= {"w", "y"}


def test_a_function_the_module_body_runs_without_gradients_is_also_analysed_on_its_own(monkeypatch) -> None:
    runs = _functions_run_on_their_own(monkeypatch)
    script = TRAINING_SCRIPT.replace("    main(parse_args())", "    with torch.no_grad():\n        main(parse_args())")
    check_source(script, names=False)
    assert ("main", False) in runs


def test_a_function_the_module_body_runs_is_followed_as_deep_as_on_its_own() -> None:
    # main(args) is analysed only in the module body's call: the helpers it calls must be
    # followed there as deep as in main's own analysis (the module body's call is free).
    script = """
import argparse

import torch


def d(t):
    t.add_(1)


def c(t):
    d(t)


def b(t):
    c(t)


def a(t):
    b(t)


def main(args):
    w = torch.randn(3, requires_grad=True)
    y = w.sigmoid()
    a(y)
    y.sum().backward()


if __name__ == "__main__":
    main(argparse.ArgumentParser().parse_args([]))
"""
    _assert_one_in_place_error_in_both_modes(script, line=8)


def test_a_def_inside_a_function_the_module_body_runs_is_still_analysed_on_its_own() -> None:
    # A closure handed to `optimizer.step` is not followed where main makes it: only its own
    # analysis finds what it does, whether main runs on its own or not.
    script = """
import argparse

import torch


def main(args):
    w = torch.randn(3, requires_grad=True)
    optimizer = torch.optim.LBFGS([w])

    def closure():
        optimizer.zero_grad()
        v = torch.randn(3, requires_grad=True)
        y = v.sigmoid()
        y.add_(1)
        loss = y.sum() + w.sum()
        loss.backward()
        return loss

    optimizer.step(closure)


if __name__ == "__main__":
    main(argparse.ArgumentParser().parse_args([]))
"""
    _assert_one_in_place_error_in_both_modes(script, line=15)


def _assert_one_in_place_error_in_both_modes(script: str, line: int) -> None:
    """The command line finds the GW201 at `line` alone, the editor the same, and torch raises it."""
    command_line = check_source(script, names=False)
    assert [(f.code, f.span.line) for f in command_line.findings] == [("GW201", line)]
    assert check_source(script).findings == command_line.findings
    _, error, _ = run(script)
    assert "one of the variables needed for gradient computation" in str(error)
