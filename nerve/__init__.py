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
    config,
    constraints,
    datasets,
    distribution,
    dtype_policies,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    ops,
    optimizers,
    random,
    regularizers,
    saving,
    tree,
    utils,
)
from nerve import autodiff as _autodiff  # installs the eager interpreter
from nerve.autodiff import GradientTape, custom_gradient, grad, stop_recording, value_and_grad
from nerve.backend import device
from nerve.core.dtypes import result_type, standardize_dtype
from nerve.core.global_state import name_scope
from nerve.graph import Function, TensorSpec, function, init_scope
from nerve.initializers import Initializer
from nerve.layers.base import DTypePolicy, Layer
from nerve.layers.input_layer import Input
from nerve.layers.symbolic import KerasTensor
from nerve.losses import Loss
from nerve.metrics import Metric
from nerve.models import Model, Sequential
from nerve.optimizers import Optimizer
from nerve.regularizers import Regularizer
from nerve.tensor import Tensor, Variable

__version__ = "0.1.0"

#: Keras 3 keeps ``FloatDTypePolicy`` as another name of ``DTypePolicy``.
FloatDTypePolicy = DTypePolicy

__all__ = [
    "DTypePolicy",
    "FloatDTypePolicy",
    "Function",
    "GradientTape",
    "Initializer",
    "Input",
    "KerasTensor",
    "Layer",
    "Loss",
    "Metric",
    "Model",
    "Optimizer",
    "Regularizer",
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
    "dtype_policies",
    "function",
    "grad",
    "init_scope",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "mixed_precision",
    "name_scope",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "result_type",
    "saving",
    "standardize_dtype",
    "stop_recording",
    "tree",
    "utils",
    "value_and_grad",
    "version",
]


def version() -> str:
    """nerve's version (Keras's ``keras.version()``).

    >>> version() == __version__
    True
    """
    return __version__


del _autodiff
