"""``nerve.models``: ``Model`` (subclassed or Functional), ``Functional`` and ``Sequential``,
with Keras's ``clone_model``, ``load_model``, ``save_model`` and ``model_from_json``."""

from nerve.models.cloning import clone_model
from nerve.models.functional import Functional
from nerve.models.model import Model
from nerve.models.saving_api import load_model, model_from_json, save_model
from nerve.models.sequential import Sequential

__all__ = [
    "Functional",
    "Model",
    "Sequential",
    "clone_model",
    "load_model",
    "model_from_json",
    "save_model",
]
