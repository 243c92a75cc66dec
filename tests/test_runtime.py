"""`gradwatch run`: the autograd sentinel names the lines the static rules cite.

Every rule example is run under the sentinel (in this process, installed and
removed around each run): torch must still do what the example claims, and
for the in-place and backward-twice rules the sentinel must report the line
the static finding points at and the line it cites as the cause (the op that
saved the tensor, the backward that freed the graph); for `.numpy()` (GW108)
and a backward without graph (GW101), the line. Near misses must run with no
report. The command itself (script arguments, exit code, traceback,
JSON file) is tested in a subprocess.
"""

from __future__ import annotations

import io
import json
import linecache
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the runtime tests need torch (pip install -e .[test])")

from gradwatch.checker import check_source  # noqa: E402
from gradwatch.runtime.report import Report  # noqa: E402
from gradwatch.runtime.sentinel import Sentinel  # noqa: E402
from rule_examples import EXAMPLES, NEAR_MISSES  # noqa: E402

# The rules whose hazard the sentinel sees, and the cause each static finding cites
# (None: only the line of the finding is compared).
WATCHED = {"GW201": "saved", "GW204": "saved", "GW106": "freed", "GW101": None, "GW108": None}
SERVER = Path(__file__).resolve().parent.parent / "server"


def run_under_sentinel(code: str, name: str) -> tuple[list[dict], Exception | None]:
    """Run `code` as a file named `name` under a fresh sentinel: (findings as JSON, the exception)."""
    path = f"/gradwatch-test/{name}.py"
    # linecache serves the source for the messages; it need not exist on disk.
    linecache.cache[path] = (len(code), None, code.splitlines(True), path)
    report = Report(stream=io.StringIO())
    error = None
    try:
        with Sentinel(report):
            exec(compile(code, path, "exec"), {"__name__": "__main__"})
    except Exception as raised:  # the outcome under test
        error = raised
    finally:
        linecache.cache.pop(path, None)
    return report.to_json(), error


def _cause_line(finding, cause: str | None) -> int | None:
    if cause is None:
        return None
    for related in finding.related:
        if cause in related.message:
            return related.span.line
    return None


@pytest.mark.parametrize("rule,example", EXAMPLES)
def test_sentinel_names_the_lines_of_the_static_finding(rule, example) -> None:
    findings, error = run_under_sentinel(example.code, f"{rule.code}_example")
    # The sentinel must not change what torch does.
    if example.outcome.kind == "raises":
        assert isinstance(error, RuntimeError), f"expected RuntimeError, got {error!r}"
        assert example.outcome.detail in str(error)
    else:
        assert error is None, f"raised under the sentinel: {error!r}"
    if rule.code not in WATCHED:
        assert [f for f in findings if f["code"] in WATCHED and f["code"] == rule.code] == []
        return
    static = [f for f in check_source(example.code).findings if f.code == rule.code]
    assert static, "the static rule must fire on its own example"
    ours = [f for f in findings if f["code"] == rule.code]
    assert ours, f"the sentinel reported nothing for {rule.code}: {findings}"
    cause = WATCHED[rule.code]
    expected = {(f.span.line, _cause_line(f, cause)) for f in static}
    got = {(f["line"], f["related"][0]["line"] if f["related"] and cause else None) for f in ours}
    assert expected <= got, f"static {expected}, runtime {got}: {ours}"


@pytest.mark.parametrize("rule,code", NEAR_MISSES)
def test_near_miss_runs_with_no_report(rule, code) -> None:
    findings, error = run_under_sentinel(code, f"{rule.code}_near")
    assert error is None, f"near miss of {rule.code} raised {error!r} under the sentinel"
    assert findings == []


def test_hooks_and_patches_are_removed_afterwards() -> None:
    add_ = torch.Tensor.add_
    backward = torch.autograd.backward
    with Sentinel(Report(stream=io.StringIO())):
        assert torch.Tensor.add_ is not add_
    assert torch.Tensor.add_ is add_ and torch.autograd.backward is backward
    assert "__setitem__" not in vars(torch.Tensor)
    # torch's own version check is back once the hooks are gone.
    x = torch.randn(3, requires_grad=True)
    y = x.sigmoid()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_saved_tensors_are_not_kept_alive() -> None:
    import gc
    import weakref

    with Sentinel(Report(stream=io.StringIO())) as sentinel:
        x = torch.randn(64, requires_grad=True)
        outputs = [weakref.ref(x.exp()) for _ in range(20)]
        gc.collect()
        assert all(ref() is None for ref in outputs)
        sentinel.saved.prune()
        assert sentinel.saved.by_storage == {}


STARVED = """\
import torch
import torch.nn as nn

encoder = nn.Linear(4, 4)
head = nn.Linear(4, 1)
unused = nn.Linear(4, 4)
ignored = nn.Linear(4, 4)
opt = torch.optim.SGD([*encoder.parameters(), *head.parameters(), *unused.parameters(), *ignored.parameters()], lr=0.1)
for _ in range(3):
    opt.zero_grad()
    x = torch.randn(2, 4)
    ignored(x)
    with torch.no_grad():
        features = encoder(x)
    head(features).sum().backward()
    opt.step()
"""


def test_parameters_cut_off_from_every_backward_are_reported() -> None:
    """The encoder ran under no_grad: reported at its construction. A module never
    called, or whose output was in a graph but unused, expects no gradient."""
    findings, error = run_under_sentinel(STARVED, "starved")
    assert error is None
    [finding] = findings
    assert (finding["code"], finding["line"], finding["severity"]) == ("GW102", 4, "warning")
    assert "`bias`, `weight` of `nn.Linear(4, 4)` never received a gradient in 3 optimizer steps" in finding["message"]
    assert [r["line"] for r in finding["related"]] == [16]


GRAD_READS = """\
import torch
import torch.nn as nn

used = nn.Linear(4, 1)
forgotten = nn.Linear(4, 1)
opt = torch.optim.SGD([*used.parameters(), *forgotten.parameters()], lr=0.1)
print(used.weight.grad)
for _ in range(2):
    opt.zero_grad()
    print(forgotten.weight.grad)
    loss = used(torch.randn(2, 4)).sum()
    loss.backward()
    print(loss.item())
    norm = used.weight.grad.norm()
    norms = [p.grad.norm() for p in forgotten.parameters() if p.grad is not None]
    bias = forgotten.bias.grad
    if bias is not None:
        bias.zero_()
    print(forgotten.weight.grad)
    opt.step()
"""


def test_grad_read_that_is_none_on_a_trained_parameter() -> None:
    """Only the read after a backward that did not reach the parameter: not before any
    backward, not after zero_grad, not a read tested for None, not a used parameter."""
    findings, error = run_under_sentinel(GRAD_READS, "grad_reads")
    assert error is None
    [finding] = findings
    assert (finding["code"], finding["line"], finding["severity"]) == ("GW102", 19, "warning")
    assert "`forgotten.weight.grad` is None on `weight` of `nn.Linear(4, 1)`" in finding["message"]
    assert "`loss.backward()` (" in finding["message"]
    assert [r["line"] for r in finding["related"]] == [12, 5]


NUMPY_AND_ITEM = """\
import torch

w = torch.randn(3, requires_grad=True)
loss = (w * 2).sum()
print(loss.item())
values = (w * 3).numpy()
"""


def test_numpy_of_a_tensor_requiring_grad_is_reported_before_torch_raises() -> None:
    findings, error = run_under_sentinel(NUMPY_AND_ITEM, "numpy_item")
    assert isinstance(error, RuntimeError) and "Can't call numpy()" in str(error)
    [finding] = findings  # `loss.item()` to log the loss is fine
    assert (finding["code"], finding["line"], finding["column"]) == ("GW108", 6, 10)
    assert finding["message"].startswith("`(w * 3).numpy()` raises: it converts the output of MulBackward0")


ITEM_CUT = """\
import torch

w = torch.randn(3, requires_grad=True)
for _ in range(2):
    print((w * 4).sum().item())
    total = (w ** 2).sum().item()
    loss = torch.tensor(total)
    loss.backward()
"""


def test_item_that_cut_the_graph_is_named_when_backward_raises() -> None:
    findings, error = run_under_sentinel(ITEM_CUT, "item_cut")
    assert isinstance(error, RuntimeError) and "does not have a grad_fn" in str(error)
    [finding] = findings
    assert (finding["code"], finding["line"]) == ("GW101", 8)
    assert [r["line"] for r in finding["related"]] == [6]


def test_grad_reads_are_watched_only_once_a_parameter_went_without_gradient() -> None:
    grad, numpy, item = torch.Tensor.__dict__.get("grad"), torch.Tensor.numpy, torch.Tensor.item
    add_param_group, zero_grad = torch.optim.Optimizer.add_param_group, torch.optim.Optimizer.zero_grad
    with Sentinel(Report(stream=io.StringIO())):
        model = torch.nn.Linear(2, 1)
        extra = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([*model.parameters(), extra], lr=0.1)
        (model(torch.randn(3, 2)).sum() + extra.sum()).backward()
        optimizer.step()
        assert "grad" not in vars(torch.Tensor)  # every parameter got its gradient: reads cost nothing
        optimizer.zero_grad()
        model(torch.randn(3, 2)).sum().backward()  # `extra` had a gradient once: not looked at again
        assert "grad" not in vars(torch.Tensor)
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))]})
        model(torch.randn(3, 2)).sum().backward()
        optimizer.step()  # a step with a parameter that never had a gradient
        assert isinstance(vars(torch.Tensor)["grad"], property)
    assert torch.Tensor.__dict__.get("grad") is grad is None
    assert torch.Tensor.numpy is numpy and torch.Tensor.item is item
    assert torch.optim.Optimizer.add_param_group is add_param_group and torch.optim.Optimizer.zero_grad is zero_grad


SCRIPT = """\
import sys
import torch

print("args", sys.argv[1:], __name__)
x = torch.randn(3, requires_grad=True)
y = x.sigmoid()
y.add_(1)
if "--catch" in sys.argv:
    try:
        y.sum().backward()
    except RuntimeError:
        sys.exit(3)
y.sum().backward()
"""


def _run_command(tmp_path: Path, *options: str, script_args: tuple[str, ...] = ()):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "src").mkdir(exist_ok=True)
    script = tmp_path / "src" / "train.py"
    script.write_text(SCRIPT)
    environment = {**os.environ, "PYTHONPATH": str(SERVER)}
    return subprocess.run(
        [sys.executable, "-m", "gradwatch", "run", *options, str(script), *script_args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=120,
    )


def test_command_runs_the_script_and_writes_the_findings(tmp_path: Path) -> None:
    result = _run_command(tmp_path, "--")
    assert result.returncode == 1
    assert "args [] __main__" in result.stdout
    assert "src/train.py:7:1: GW201 `y.add_(1)` modifies a tensor that `x.sigmoid()` (src/train.py:6)" in result.stderr
    # The traceback is the script's, as Python prints it, starting at the script.
    script = json.dumps(str(tmp_path / "src" / "train.py"))
    assert f"Traceback (most recent call last):\n  File {script}, line 13" in result.stderr
    assert "gradwatch/runtime" not in result.stderr and "runpy" not in result.stderr
    cache = tmp_path / ".gradwatch_cache"
    assert (cache / ".gitignore").read_text() == "*\n"
    [finding] = json.loads((cache / "runtime.json").read_text())
    assert finding["source"] == "runtime" and finding["code"] == "GW201"
    assert (finding["path"], finding["line"], finding["column"]) == (str(tmp_path / "src" / "train.py"), 7, 1)
    assert [r["line"] for r in finding["related"]] == [6, 13]


def test_command_keeps_the_scripts_exit_code_and_output_option(tmp_path: Path) -> None:
    output = tmp_path / "out" / "findings.json"
    result = _run_command(tmp_path, "--output", str(output), script_args=("--catch",))
    assert result.returncode == 3, result.stderr
    assert "args ['--catch'] __main__" in result.stdout
    assert json.loads(output.read_text())[0]["line"] == 7
    assert not (tmp_path / ".gradwatch_cache").exists()


def test_stop_ends_the_run_at_the_write(tmp_path: Path) -> None:
    result = _run_command(tmp_path, "--stop")
    assert result.returncode == 1
    assert "GW201 `y.add_(1)`" in result.stderr
    assert "SentinelStop" in result.stderr and "line 7" in result.stderr


# ---------------------------------------------------------------- the real-world corpus

RUNTIME_HAZARDS = {
    "inplace-saved": {"GW201", "GW204"},
    "backward-twice": {"GW106"},
    "numpy": {"GW108"},
    "no-graph": {"GW101"},
}


def _corpus_under_sentinel(monkeypatch) -> list[tuple]:
    """(case, torch's outcome, findings) for every case, each run in a forked child (see realworld_corpus)."""
    import realworld_corpus

    run_plain = realworld_corpus._run_here

    def run_watched(path):
        report = Report(stream=io.StringIO())
        with Sentinel(report):
            outcome = run_plain(path)
        findings = [(f["code"], f["line"]) for f in report.to_json()]
        return realworld_corpus.Outcome(outcome.error_type, json.dumps([outcome.message, findings]))

    monkeypatch.setattr(realworld_corpus, "_run_here", run_watched)
    results = []
    for case in realworld_corpus.load_cases():
        outcome = realworld_corpus.run_case(case.path)
        try:
            message, findings = json.loads(outcome.message)
        except ValueError:  # the child died or timed out: no findings came back
            message, findings = outcome.message, []
        results.append((case, realworld_corpus.Outcome(outcome.error_type, message), findings))
    return results


def test_real_world_corpus_under_the_sentinel(monkeypatch) -> None:
    """Torch still does what each case says; the in-place, backward-twice, numpy and
    no-graph positives are reported on one of their cause lines; negatives get no report."""
    from realworld_corpus import confirms

    problems = []
    for case, outcome, findings in _corpus_under_sentinel(monkeypatch):
        if not confirms(case.expect, outcome):
            problems.append(f"{case.name}: torch under the sentinel: {outcome.describe()}")
        if not case.positive and findings:
            problems.append(f"{case.name}: a negative, reported {findings}")
        codes = RUNTIME_HAZARDS.get(case.hazard)
        if codes and not any(code in codes and line in case.causes for code, line in findings):
            problems.append(f"{case.name}: expected {sorted(codes)} on one of lines {case.causes}, got {findings}")
    assert problems == []
