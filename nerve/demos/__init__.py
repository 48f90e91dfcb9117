"""The main job: ``nerve demo`` trains a model on the embedded UCI digits.

* ``keras_mlp`` (the default): the Keras-style model — Sequential, compile, fit with a
  progress bar and early stopping, evaluate, save and reload, a training-curve PNG;
* ``engine`` (``nerve demo --engine``): the same task with the raw engine only —
  Variables, GradientTape and a hand-written SGD step.
"""

__all__ = ["DEFAULT_OUTPUT_DIR", "engine", "keras_mlp"]

# The Keras-style demo writes into a folder of its own, never the working folder itself.
DEFAULT_OUTPUT_DIR = "nerve-demo"
