"""A package that re-exports its model, as libraries often do."""

from .impl import Net as Net

__all__ = ["Net"]
