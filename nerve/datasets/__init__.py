"""Data sets (``keras.datasets``): ``digits`` ships with nerve and loads without
network access; ``mnist``, ``fashion_mnist``, ``cifar10`` and ``cifar100`` download Keras's
files on first use."""

from nerve.datasets import cifar10, cifar100, digits, fashion_mnist, mnist

__all__ = ["cifar10", "cifar100", "digits", "fashion_mnist", "mnist"]
