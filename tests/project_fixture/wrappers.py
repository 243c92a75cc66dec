"""Project-level names for torch functions (a wrapper module many codebases have)."""

from torch.nn.functional import relu as activation

__all__ = ["activation"]
