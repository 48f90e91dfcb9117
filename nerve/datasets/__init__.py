"""Small built-in data sets that ship with nerve and load without network access."""

from nerve.datasets import digits

__all__ = ["digits"]
