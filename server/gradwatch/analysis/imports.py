"""Naming torch APIs from a module's own imports, without jedi."""

from __future__ import annotations

import ast

from gradwatch.analysis.values import Imported, TorchRef


def canonical(qualname: str) -> str:
    if qualname.startswith("torch.nn.modules.") and qualname.count(".") >= 4:
        # torch.nn.modules.linear.Linear -> torch.nn.Linear
        return "torch.nn." + qualname.rsplit(".", 1)[1]
    if qualname == "torch.nn.parameter.Parameter":
        return "torch.nn.Parameter"
    return qualname


def import_bindings(node: ast.Import | ast.ImportFrom) -> list[tuple[str, object]]:
    """The names an import statement binds, each a TorchRef for torch, else unknown."""
    bound: list[tuple[str, object]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            is_torch = alias.name == "torch" or alias.name.startswith("torch.")
            if alias.asname:
                bound.append((alias.asname, TorchRef(canonical(alias.name)) if is_torch else Imported(alias.name)))
            else:
                top = alias.name.split(".", 1)[0]
                bound.append((top, TorchRef("torch") if top == "torch" else Imported(top)))
        return bound
    module = node.module or ""
    is_torch = node.level == 0 and (module == "torch" or module.startswith("torch."))
    module = "." * node.level + module
    for alias in node.names:
        if alias.name == "*":
            continue
        name = alias.asname or alias.name
        bound.append(
            (name, TorchRef(canonical(f"{module}.{alias.name}")) if is_torch else Imported(f"{module}.{alias.name}"))
        )
    return bound


def star_module(node: ast.ImportFrom) -> str:
    """`M` of `from M import *`, relative ones with their leading dots."""
    return "." * node.level + (node.module or "")


def from_star_import(module: str, name: str):
    """What an unbound name may be after `from module import *`."""
    if module == "torch" or module.startswith("torch."):
        return TorchRef(canonical(f"{module}.{name}"))
    return Imported(f"{module}.{name}")
