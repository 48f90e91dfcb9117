"""Reverse-mode automatic differentiation: tapes, the engine, functional forms."""

from nerve.autodiff.custom_gradient import custom_gradient
from nerve.autodiff.functional import grad, value_and_grad
from nerve.autodiff.tape import GradientTape, stop_recording

__all__ = ["GradientTape", "custom_gradient", "grad", "stop_recording", "value_and_grad"]
