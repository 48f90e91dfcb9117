"""``nerve.models``: ``Model`` (subclassed or Functional), ``Functional`` and ``Sequential``."""

from nerve.models.functional import Functional
from nerve.models.model import Model
from nerve.models.sequential import Sequential

__all__ = ["Functional", "Model", "Sequential"]
