"""The shipped op table matches the installed torch, and the loader answers from it.

Every expectation below was checked by running torch 2.13 (see the probe's
method: bump a tensor's version after the op, then backward).
"""

from __future__ import annotations

import json
import os

import pytest

from gradwatch.analysis import op_table
from gradwatch.analysis.op_table import SHIPPED_TABLE, OpInfo, lookup


@pytest.fixture(autouse=True)
def shipped_table_only(monkeypatch):
    monkeypatch.delenv(op_table.TABLE_ENV_VAR, raising=False)


def info(name: str) -> OpInfo:
    found = lookup(name)
    assert found is not None, f"{name} missing from the op table"
    return found


# ----------------------------------------------------------- regeneration

def _differences(shipped: dict, fresh: dict) -> list[str]:
    lines = []
    for key in sorted(set(shipped) | set(fresh)):
        if key == "ops":
            continue
        if shipped.get(key) != fresh.get(key):
            lines.append(f"{key}: shipped {shipped.get(key)!r}, measured {fresh.get(key)!r}")
    old, new = shipped.get("ops", {}), fresh.get("ops", {})
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            lines.append(f"{name}:\n  shipped  {json.dumps(old.get(name), sort_keys=True)}"
                         f"\n  measured {json.dumps(new.get(name), sort_keys=True)}")
    return lines


def test_shipped_table_is_what_the_installed_torch_does():
    torch = pytest.importorskip("torch")
    shipped_text = SHIPPED_TABLE.read_text(encoding="utf-8")
    shipped = json.loads(shipped_text)
    if shipped["torch_version"] != torch.__version__:
        pytest.skip(f"table measured with torch {shipped['torch_version']}, installed {torch.__version__}: "
                    "regenerate with `gradwatch probe --output server/gradwatch/analysis/op_table.json`")
    from gradwatch import probe

    fresh = probe.probe_table()
    differences = _differences(shipped, fresh)
    assert not differences, "op table differs from torch (regenerate it):\n" + "\n".join(differences[:40])
    assert probe.render(fresh) == shipped_text, "same facts, different bytes: the table must be rendered by probe.render"
    assert len(fresh["ops"]) > 800


def test_probe_cli_refuses_an_unwritable_output_before_measuring(tmp_path, capsys):
    pytest.importorskip("torch")
    from gradwatch import probe

    # A bad output location is a clear error, not a traceback.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert probe.main(["--output", str(blocker / "table.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


# ------------------------------------------------------- loader on entries

def test_table_is_stamped_with_a_torch_version():
    assert op_table.torch_version().startswith("2.")


def test_the_installed_torch_version_is_the_one_its_metadata_gives():
    from importlib import metadata

    assert op_table.installed_torch_version() == metadata.version("torch")


def test_a_version_is_read_beside_a_package_only_from_its_one_dist_info(tmp_path, monkeypatch):
    (tmp_path / "fakepkg").mkdir()
    (tmp_path / "fakepkg" / "__init__.py").write_text("")
    info = tmp_path / "fakepkg-1.2.3+cpu.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.2.3+cpu\n\nVersion: 9\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert op_table._version_beside_package("fakepkg") == "1.2.3+cpu"
    (tmp_path / "fakepkg-0.9.dist-info").mkdir()  # an old install left behind: not ours to pick
    assert op_table._version_beside_package("fakepkg") is None
    assert op_table._version_beside_package("no_such_package_here") is None


def test_sigmoid_exp_tanh_relu_sqrt_softmax_save_their_output():
    for name in ("torch.Tensor.sigmoid", "torch.sigmoid", "torch.Tensor.exp", "torch.tanh", "torch.Tensor.relu",
                 "F.relu", "torch.Tensor.sqrt", "torch.softmax", "F.softmax", "nn.Sigmoid", "nn.ReLU"):
        assert info(name).saves_output([True]) == (True, True), name
        assert info(name).saves_output([False]) == (False, False), name
        # unknown: the only configuration in which autograd records the op is the one that saves
        assert info(name).saves_output([None]) == (True, True), name
    assert info("torch.Tensor.sigmoid").saved_operands([True]) == (frozenset(), frozenset())


def test_mul_saves_each_operand_only_when_the_other_requires_grad():
    mul = info("torch.Tensor.mul")
    assert mul.saved_operands([True, True]) == ({0, 1}, {0, 1})
    # w is saved for x's gradient; x only for w's
    assert mul.saved_operands([True, False]) == ({1}, {1})
    assert mul.saved_operands([True, None]) == ({1}, {0, 1})
    assert mul.saved_operands([False, True]) == ({0}, {0})
    assert mul.saved_operands([False, False]) == (frozenset(), frozenset())
    # unknown arity beyond what was measured: never saved
    assert 5 not in mul.saved_operands([True, True, True, True, True, True])[1]


def test_syntax_operators_with_a_python_number():
    # `x * 2` saves nothing; `x ** 2` saves x; `2 ** x` saves x and its output.
    assert info("torch.Tensor.__mul__").saved_operands([True, "scalar"]) == (frozenset(), frozenset())
    assert info("torch.Tensor.__mul__").scalar_other.args == "(a, 2)"
    assert info("torch.Tensor.__pow__").saved_operands([True, "scalar"]) == ({0}, {0})
    assert info("torch.Tensor.__rpow__").saves_output([True, "scalar"]) == (True, True)
    # the tensor-tensor form of the same operator does save, per configuration
    assert info("torch.Tensor.__mul__").saved_operands([True, True]) == ({0, 1}, {0, 1})
    # no scalar variant measured (matmul takes no number): nothing claimed
    assert info("torch.Tensor.__matmul__").scalar_other is None
    assert info("torch.Tensor.__matmul__").saved_operands([True, "scalar"]) == (frozenset(), frozenset())


def test_a_second_backward_raises_through_ops_that_keep_state_for_backward():
    # `x * 3` and `x / 3` save no operand a write could reach, but keep the number as a
    # tensor that backward frees; `x + 3` and `sum` keep nothing.
    for name in ("torch.Tensor.__mul__", "torch.Tensor.__rmul__", "torch.Tensor.__truediv__", "torch.mul"):
        assert info(name).frees_on_backward([True, "scalar"]) == (True, True), name
    for name in ("torch.Tensor.__add__", "torch.Tensor.__sub__", "torch.Tensor.__radd__"):
        assert info(name).frees_on_backward([True, "scalar"]) == (False, False), name
        assert info(name).frees_on_backward([True, True]) == (False, False), name
    assert info("torch.Tensor.sum").frees_on_backward([True]) == (False, False)
    # ops that save a tensor free it too
    assert info("torch.Tensor.__mul__").frees_on_backward([True, False]) == (True, True)
    assert info("torch.sigmoid").frees_on_backward([True]) == (True, True)
    # not in the graph: nothing to free
    assert info("torch.sigmoid").frees_on_backward([False]) == (False, False)


def test_linalg_functions_are_measured():
    inv = info("torch.linalg.inv")
    assert inv.args == "(m)" and inv.saves_output([True]) == (True, True)
    assert inv.frees_on_backward([True]) == (True, True)
    assert info("torch.linalg.vector_norm").grad == "differentiable"


def test_in_place_mul_keeps_its_own_copy_of_self():
    # y.mul_(w) with w requiring grad needs y's old value; torch saves a copy,
    # so only w is saved (for self's gradient).
    mul_ = info("torch.Tensor.mul_")
    assert mul_.saved_operands([True, True]) == ({1}, {1})
    assert mul_.saved_operands([False, True]) == (frozenset(), frozenset())


def test_functional_linear_saves_input_when_weight_requires_grad():
    linear = info("torch.nn.functional.linear")
    assert linear.args == "(a, m, v)"
    assert 0 in linear.saved_operands([False, True, True])[0]
    assert 0 not in linear.saved_operands([True, False, False])[1]
    assert 1 in linear.saved_operands([True, False, False])[0]


def test_linear_module_has_parameters_and_saves_its_input():
    linear = info("torch.nn.Linear")
    assert linear.kind == "module"
    assert linear.has_parameters is True
    # its weight always requires grad, so the input is saved either way
    assert linear.saved_operands([False]) == ({0}, {0})
    assert linear.saved_operands([None]) == ({0}, {0})
    for name in ("nn.Conv2d", "nn.BatchNorm2d", "nn.LayerNorm", "nn.Embedding", "nn.LSTM"):
        assert info(name).has_parameters is True, name


def test_relu_module_has_no_parameters_and_an_inplace_parameter():
    relu = info("nn.ReLU")
    assert relu.has_parameters is False
    assert relu.inplace_param
    assert relu.inplace_true is not None and relu.inplace_true.returns_self
    assert relu.inplace_true.saves_output([True]) == (True, True)
    for name in ("nn.Dropout", "nn.MaxPool2d", "nn.Flatten", "nn.MSELoss"):
        assert info(name).has_parameters is False, name
    for name in ("F.relu", "F.dropout", "nn.LeakyReLU", "nn.Hardtanh", "nn.ELU", "nn.SiLU", "nn.Dropout"):
        assert info(name).inplace_param, name
    assert not info("nn.Linear").inplace_param


def test_inplace_hardtanh_and_silu_save_nothing_a_later_write_can_break():
    # Unlike ReLU(inplace=True): torch keeps what it needs itself.
    for name in ("nn.Hardtanh", "nn.SiLU"):
        variant = info(name).inplace_true
        assert variant.saves_output([True]) == (False, False), name
        assert variant.saved_operands([True]) == (frozenset(), frozenset()), name


def test_rounding_ops_have_zero_gradient():
    for name in ("torch.round", "torch.Tensor.round", "torch.sign", "torch.Tensor.floor", "torch.ceil",
                 "torch.trunc"):
        assert info(name).grad == "zero", name


def test_cut_ops():
    for name in ("torch.Tensor.argmax", "torch.argmax", "torch.Tensor.eq", "torch.Tensor.gt", "torch.Tensor.__gt__",
                 "torch.Tensor.long", "torch.Tensor.detach", "torch.tensor", "torch.zeros_like"):
        assert info(name).grad == "cut", name
    item = info("torch.Tensor.item")
    assert (item.grad, item.returns) == ("cut", "non_tensor")
    for name in ("torch.Tensor.tolist", "torch.Tensor.size", "torch.Tensor.dim", "torch.Tensor.numel"):
        assert info(name).returns == "non_tensor", name


def test_views():
    for name in ("torch.Tensor.view", "torch.Tensor.transpose", "torch.Tensor.__getitem__", "torch.Tensor.t",
                 "torch.Tensor.T", "torch.Tensor.narrow", "torch.Tensor.squeeze", "torch.Tensor.unsqueeze",
                 "torch.Tensor.expand", "torch.Tensor.permute", "torch.Tensor.reshape", "torch.Tensor.detach",
                 "torch.Tensor.data"):
        assert info(name).view, name
    for name in ("torch.Tensor.split", "torch.Tensor.chunk"):
        assert (info(name).view, info(name).returns) == (True, "tuple"), name
    assert not info("torch.Tensor.clone").view
    assert not info("torch.Tensor.exp").view
    assert info("torch.Tensor.contiguous").returns_self  # already contiguous: the same tensor


def test_inplace_links():
    add_ = info("torch.Tensor.add_")
    assert add_.inplace and add_.out_of_place == "add" and add_.returns_self
    assert info("torch.Tensor.add").inplace_twin == "add_"
    assert not info("torch.Tensor.add").inplace
    assert info("torch.Tensor.__iadd__").out_of_place == "__add__"
    assert info("torch.Tensor.__mul__").inplace_twin == "__imul__"
    assert info("torch.Tensor.__setitem__").inplace
    assert info("torch.Tensor.sigmoid_").saves_output([True]) == (True, True)
    assert info("torch.Tensor.relu_").saves_output([True]) == (True, True)
    assert info("torch.Tensor.add_").saves_output([True, True]) == (False, False)


def test_inputs_saved_by_common_ops():
    for name, flags in (("torch.Tensor.__truediv__", [True, True]), ("F.mse_loss", [True, False]),
                        ("torch.sin", [True]), ("torch.abs", [True]), ("torch.layer_norm", [True, True, True])):
        assert 0 in info(name).saved_operands(flags)[0], name


def test_element_count_relations():
    # Checked with torch 2.13: x.sigmoid(), x * y, x * 2 keep the broadcast size;
    # sum()/mean()/mse_loss(a, b) give one element for any input size.
    assert info("torch.Tensor.sigmoid").numel == "same"
    mul = info("torch.Tensor.__mul__")
    assert mul.numel == "same"
    assert mul.scalar_other.numel == "same"
    for name in ("torch.Tensor.sum", "torch.Tensor.mean", "torch.nn.functional.mse_loss", "nn.CrossEntropyLoss",
                 "torch.Tensor.max", "torch.Tensor.norm"):
        assert info(name).numel == "scalar", name
    # (2,3) @ (3,3) happens to keep 6 elements; at the second size it does not run
    assert info("torch.matmul").numel is None
    # nn.Linear(3, 3) keeps 6 elements on a 2x3 input, but refuses other feature sizes
    assert info("torch.nn.Linear").numel is None
    relu = info("torch.nn.ReLU")
    assert relu.numel == "same"
    assert relu.inplace_true.numel == "same"
    for name in ("torch.Tensor.clone", "torch.Tensor.to", "F.relu", "torch.softmax", "torch.Tensor.add_"):
        assert info(name).numel == "same", name
    # reductions over a dim and reshapes to fixed sizes claim nothing
    for name in ("torch.Tensor.view", "torch.Tensor.reshape", "torch.Tensor.argwhere", "torch.Tensor.item"):
        assert info(name).numel is None, name
    # the torch.* loss entry points do not reduce by default, unlike torch.nn.functional's
    assert info("torch.hinge_embedding_loss").numel == "same"
    assert info("F.hinge_embedding_loss").numel == "scalar"


def test_numel_measurement_is_not_fooled_by_square_or_zero_dim_operands():
    torch = pytest.importorskip("torch")
    from gradwatch import probe

    # mm of two 3x3 matrices keeps 9 elements; the grown operands are not square
    assert probe.numel_relation(probe.function_plan(torch.mm, "fn(m, n)", False)) is None
    # 0-d operands never change size: "same" and "scalar" cannot be told apart
    assert probe.numel_relation(probe.function_plan(torch.exp, "fn(s)", False)) is None
    assert probe.numel_relation(probe.function_plan(torch.exp, "fn(a)", False)) == "same"
    assert probe.numel_relation(probe.function_plan(torch.sum, "fn(a)", False)) == "scalar"
    assert probe.numel_relation(probe.function_plan(torch.sum, "fn(a, 1)", False)) is None


def test_an_op_whose_result_follows_one_operand_does_not_keep_the_broadcast():
    torch = pytest.importorskip("torch")
    from gradwatch import probe

    # a.type_as(b) has a's shape: with b larger than a it is not their broadcast
    assert probe.size_relations(probe.function_plan(torch.Tensor.type_as, "fn(a, b)", False)) == (None, False)
    assert info("torch.Tensor.type_as").numel is None
    # exp, add and softmax keep the broadcast shape; a transpose keeps only the count
    assert probe.size_relations(probe.function_plan(torch.add, "fn(a, b)", False)) == ("same", True)
    assert info("torch.softmax").keeps_shape and info("torch.Tensor.sigmoid").keeps_shape
    assert info("torch.Tensor.t").numel == "same" and not info("torch.Tensor.t").keeps_shape
    assert not info("torch.Tensor.sum").keeps_shape
    # squeeze() and nn.Flatten() keep a matrix's shape, not that of a (5, 1, 4) tensor
    assert not info("torch.Tensor.squeeze").keeps_shape and not info("torch.nn.Flatten").keeps_shape


def test_numel_counts_in_the_shipped_table():
    records = json.loads(SHIPPED_TABLE.read_text(encoding="utf-8"))["ops"]
    counts = {"same": 0, "scalar": 0}
    for record in records.values():
        for variant in (record, record.get("scalar_other"), record.get("inplace_true")):
            if variant and "numel" in variant:
                assert variant["numel"] in counts
                # only tensor results are sized
                assert variant["returns"] == "tensor"
                counts[variant["numel"]] += 1
    assert counts["same"] > 500 and counts["scalar"] > 50


def test_unknown_numel_value_is_a_bad_record(tmp_path, monkeypatch):
    record = json.loads(SHIPPED_TABLE.read_text(encoding="utf-8"))["ops"]["torch.Tensor.add"]
    custom = tmp_path / "table.json"
    custom.write_text(json.dumps({"torch_version": "9.9.9", "ops": {"torch.Tensor.add": {**record, "numel": "half"}}}))
    monkeypatch.setenv(op_table.TABLE_ENV_VAR, str(custom))
    assert lookup("torch.Tensor.add") is None
    assert "numel" in op_table.load().problem


def test_aliases_and_unknown_names():
    assert info("Tensor.add") == info("torch.Tensor.add")
    assert hash(info("Tensor.mul")) == hash(info("torch.Tensor.mul"))
    assert info("F.relu").name == "torch.nn.functional.relu"
    assert info("nn.Linear").name == "torch.nn.Linear"
    assert lookup("torch.no_such_op") is None
    assert lookup("") is None


def test_environment_variable_selects_a_user_table(tmp_path, monkeypatch):
    record = json.loads(SHIPPED_TABLE.read_text(encoding="utf-8"))["ops"]["torch.Tensor.add"]
    custom = tmp_path / "table.json"
    custom.write_text(json.dumps({"torch_version": "9.9.9", "ops": {"torch.Tensor.add": record}}))
    monkeypatch.setenv(op_table.TABLE_ENV_VAR, str(custom))
    assert op_table.torch_version() == "9.9.9"
    assert lookup("Tensor.add") is not None
    assert lookup("Tensor.mul") is None


def test_unreadable_user_table_falls_back_to_the_shipped_one(tmp_path, monkeypatch):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    monkeypatch.setenv(op_table.TABLE_ENV_VAR, str(broken))
    table = op_table.load()
    assert table.source == SHIPPED_TABLE
    assert "broken.json" in table.problem
    assert table.lookup("torch.Tensor.mul") is not None


def test_cached_table_for_a_named_torch_version(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cache = tmp_path / ".cache" / "gradwatch" / "op_table-1.2.3.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"torch_version": "1.2.3", "ops": {}}))
    assert op_table.torch_version(for_torch="1.2.3") == "1.2.3"
    assert op_table.torch_version(for_torch="7.7.7") == json.loads(SHIPPED_TABLE.read_text())["torch_version"]
    assert os.environ["HOME"] == str(tmp_path)


def test_malformed_record_is_unknown_not_a_crash(tmp_path, monkeypatch):
    custom = tmp_path / "table.json"
    custom.write_text(json.dumps({"torch_version": "9.9.9", "ops": {"torch.Tensor.add": {"args": "(a, b)"}}}))
    monkeypatch.setenv(op_table.TABLE_ENV_VAR, str(custom))
    assert lookup("torch.Tensor.add") is None
    assert "torch.Tensor.add" in op_table.load().problem


def test_a_probed_table_in_the_user_cache_is_preferred(tmp_path, monkeypatch):
    """`gradwatch probe` writes ~/.cache/gradwatch/op_table-<torch version>.json; the analysis
    then reads it instead of the shipped table, for the torch installed where it runs."""
    version = op_table.installed_torch_version()
    if version is None:
        pytest.skip("no torch installed here")
    table = json.loads(SHIPPED_TABLE.read_text(encoding="utf-8"))
    table["ops"]["torch.Tensor.sigmoid"]["saves_output"] = []
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(op_table.TABLE_ENV_VAR, raising=False)
    cache = op_table.user_cache_path(version)
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps(table), encoding="utf-8")
    op_table._load.cache_clear()
    try:
        assert op_table.load().source == cache
        assert op_table.lookup("torch.Tensor.sigmoid").saves_output([True]) == (False, False)
    finally:
        monkeypatch.undo()
        op_table._load.cache_clear()
    assert op_table.lookup("torch.Tensor.sigmoid").saves_output([True]) == (True, True)
