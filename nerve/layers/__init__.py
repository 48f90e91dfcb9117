"""``nerve.layers``: Keras 3's layers (the layer contract is ``base.Layer``)."""

from nerve.layers.base import DTypePolicy, Layer
from nerve.layers.core import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    Identity,
    Lambda,
    Rescaling,
    Reshape,
)
from nerve.layers.input_layer import InputLayer

__all__ = [
    "Activation",
    "DTypePolicy",
    "Dense",
    "Dropout",
    "Flatten",
    "Identity",
    "InputLayer",
    "Lambda",
    "Layer",
    "Rescaling",
    "Reshape",
]
