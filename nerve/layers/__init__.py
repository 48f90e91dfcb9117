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
from nerve.layers.merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)

__all__ = [
    "Activation",
    "Add",
    "Average",
    "Concatenate",
    "DTypePolicy",
    "Dense",
    "Dropout",
    "Flatten",
    "Identity",
    "InputLayer",
    "Lambda",
    "Layer",
    "Maximum",
    "Minimum",
    "Multiply",
    "Rescaling",
    "Reshape",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]
