"""`isinstance(x, torch.Tensor)`, `isinstance(m, nn.Module)`: tests of what a value is.

A helper that takes "a module or a tensor" branches on its type; knowing the
abstract value, the analysis knows which branch Python takes. Only what the
value provably is counts: a tensor value is a `torch.Tensor` and no
`nn.Module`; a module instance (`Module`, a torch module or an instance of an
`nn.Module` subclass of the file) is an `nn.Module` and no tensor; a number,
string or numpy array (`Constant`) is neither. A list may be an `nn.ModuleList`,
a class not named here may be anything: unknown (None).
"""

from __future__ import annotations

import ast

from gradwatch.analysis.state import State
from gradwatch.analysis.syntax import dotted, legacy_tensor_type
from gradwatch.analysis.values import Constant, Imported, Module, Tensor, TorchRef

_TENSOR = "torch.Tensor"
_MODULE = frozenset({"torch.nn.Module", "torch.nn.modules.module.Module"})


def is_instance(node: ast.Call, state: State) -> bool | None:
    """The outcome of `isinstance(name, classes)` when it is known here, else None."""
    func = node.func
    if not isinstance(func, ast.Name) or func.id != "isinstance" or func.id in state.bindings or func.id in state.outer:
        return None
    if len(node.args) != 2 or node.keywords:
        return None
    path = dotted(node.args[0])
    value = state.bindings.get(path) if path is not None else None
    classes = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
    outcomes = [_instance_of(value, _class_name(cls, state)) for cls in classes]
    if any(outcome is True for outcome in outcomes):
        return True
    return False if all(outcome is False for outcome in outcomes) else None


def _class_name(node: ast.AST, state: State) -> str | None:
    """The qualified name a class expression (`torch.Tensor`, `nn.Module`, `Tensor`) binds."""
    path = dotted(node)
    if path is None:
        return None
    root, _, rest = path.partition(".")
    value = state.lookup(root)
    if isinstance(value, (TorchRef, Imported)):
        return f"{value.qualname}.{rest}" if rest else value.qualname
    return None


def _instance_of(value, name: str | None) -> bool | None:
    if name is None:
        return None
    legacy = legacy_tensor_type(name)
    if legacy is not None:
        return _of_legacy_type(value, *legacy)
    is_tensor_class, is_module_class = name == _TENSOR, name in _MODULE
    # numpy's classes (`np.ndarray`, `np.generic`) hold no tensor and no module.
    is_numpy_class = name.split(".", 1)[0] == "numpy"
    if not (is_tensor_class or is_module_class or is_numpy_class):
        return None
    if isinstance(value, Tensor) and value.known:  # (unknown: maybe what joined with it is no tensor)
        return is_tensor_class
    if isinstance(value, Module):
        if value.user_class is not None and not value.user_class.is_module:
            return None  # a plain class of the file may still derive from one defined elsewhere
        return is_module_class
    if isinstance(value, Constant) and not is_numpy_class:
        return False
    return None


def _of_legacy_type(value, dtype: str, on_gpu: bool) -> bool | None:
    """`isinstance(t, torch.LongTensor)`: true for a tensor of that dtype on the CPU (a
    `torch.cuda.` type: on a GPU). Known for a tensor whose dtype its factory decided and
    that was made on the CPU; no module or number is one."""
    if isinstance(value, (Module, Constant)):
        return False
    if not isinstance(value, Tensor) or not value.known or value.dtype is None or not value.on_cpu:
        return None
    return not on_gpu and value.dtype == dtype
