"""torch.distributions transforms defined in the user's file: `class Softmax(Transform)`.

torch's `Transform.__call__(x)` returns `self._call(x)` when the transform keeps no
cache (`cache_size=0`, the default); with `cache_size=1` a second call with the
same `x` hands back the first result without running `_call`. So calling an
instance of a direct subclass runs its `_call`, for a class that never sets a
cache size and does not define `__call__` itself. Any other subclass of a torch
class stays unknown (classes.py).
"""

from __future__ import annotations

import ast

from gradwatch.analysis.values import TorchRef

TRANSFORM = {"torch.distributions.transforms.Transform", "torch.distributions.Transform"}


def call_method(node: ast.ClassDef, bases: list, source_text: str) -> str | None:
    """"_call" when calling an instance of the class `node` runs its `_call` (see above), else None."""
    if len(bases) != 1 or not isinstance(bases[0], TorchRef) or bases[0].qualname not in TRANSFORM:
        return None
    methods = {item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if "_call" not in methods or "__call__" in methods or "cache_size" in source_text:
        return None
    return "_call"
