"""Reverse-mode automatic differentiation: the eager interpreter, tapes, the engine,
functional forms. Importing it installs the eager interpreter (``eager``)."""

from nerve.autodiff import eager  # noqa: F401  (installs the eager interpreter)
from nerve.autodiff.custom_gradient import custom_gradient
from nerve.autodiff.functional import grad, value_and_grad
from nerve.autodiff.tape import GradientTape, stop_recording

__all__ = ["GradientTape", "custom_gradient", "grad", "stop_recording", "value_and_grad"]
