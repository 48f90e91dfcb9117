"""Data sets (``keras.datasets``): ``digits`` ships with nerve and loads without
network access; ``mnist`` and ``fashion_mnist`` download Keras's files on first use."""

from nerve.datasets import digits, fashion_mnist, mnist

__all__ = ["digits", "fashion_mnist", "mnist"]
