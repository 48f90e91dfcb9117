"""nerve: a deep-learning system — tensors, autodiff, a graph compiler and a
Keras-style API, on NumPy (and CuPy on NVIDIA GPUs).

>>> import nerve
>>> from nerve import ops
>>> x = nerve.Variable(ops.ones((3, 4)), name="w")
>>> with nerve.GradientTape() as tape:
...     y = ops.sum(ops.tanh(x @ ops.reshape(ops.arange(4.0), (4, 1))) ** 2)
>>> tape.gradient(y, x).shape
(3, 4)
"""

from nerve import (
    activations,
    callbacks,
    constraints,
    datasets,
    distribution,
    initializers,
    layers,
    losses,
    metrics,
    ops,
    optimizers,
    random,
    regularizers,
    saving,
    utils,
)
from nerve import autodiff as _autodiff  # installs the eager interpreter
from nerve.autodiff import GradientTape, custom_gradient, grad, stop_recording, value_and_grad
from nerve.backend import device
from nerve.core import config
from nerve.core.dtypes import result_type, standardize_dtype
from nerve.graph import Function, TensorSpec, function, init_scope
from nerve.layers.base import Layer
from nerve.layers.input_layer import Input
from nerve.layers.symbolic import KerasTensor
from nerve.models import Model, Sequential
from nerve.tensor import Tensor, Variable

__version__ = "0.1.0"

__all__ = [
    "Function",
    "GradientTape",
    "Input",
    "KerasTensor",
    "Layer",
    "Model",
    "Sequential",
    "Tensor",
    "TensorSpec",
    "Variable",
    "activations",
    "callbacks",
    "config",
    "constraints",
    "custom_gradient",
    "datasets",
    "device",
    "distribution",
    "function",
    "grad",
    "init_scope",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "result_type",
    "saving",
    "standardize_dtype",
    "stop_recording",
    "utils",
    "value_and_grad",
]

del _autodiff
