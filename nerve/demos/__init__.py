"""The main job: ``nerve demo`` trains a model on the embedded UCI digits.

* ``keras_mlp`` (the default): the Keras-style model — Sequential, compile, fit with a
  progress bar and early stopping, evaluate, save and reload, a training-curve PNG;
* ``engine`` (``nerve demo --engine``): the same task with the raw engine only —
  Variables, GradientTape and a hand-written SGD step.
"""

__all__ = ["engine", "keras_mlp"]
