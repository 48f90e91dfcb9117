"""Utilities (Keras's ``keras.utils``): seeding, the progress bar, ``get_file``, class
labels to one-hot rows and norm scaling (``numerical_utils``), sequence padding
(``sequence_utils``), image files to arrays and back (``image_utils``, needs Pillow),
``split_dataset``, sliding windows over a series, and folders of images, texts or
WAV files, each as a ``nerve.data.Dataset``; ``plot_model``/``model_to_dot`` draw a
model's layer graph (DOT text, rendered by Graphviz where installed).

>>> import nerve
>>> from nerve.utils import set_random_seed
>>> set_random_seed(5)
>>> a = nerve.random.normal((3,))
>>> set_random_seed(5)
>>> bool((nerve.random.normal((3,)).numpy() == a.numpy()).all())
True
"""

from __future__ import annotations

import random as _python_random
from typing import Any

from nerve import random as _nerve_random
from nerve.core.dtypes import standardize_dtype
from nerve.core.global_state import clear_session
from nerve.core.object_registry import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from nerve.layers.symbolic import KerasTensor as _KerasTensor
from nerve.training.data_adapters import (
    PyDataset,
    pack_x_y_sample_weight,
    unpack_x_y_sample_weight,
)
from nerve.utils.audio_dataset_utils import audio_dataset_from_directory
from nerve.utils.dataset_utils import split_dataset
from nerve.utils.file_utils import get_file
from nerve.utils.image_dataset_utils import image_dataset_from_directory
from nerve.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from nerve.utils.model_visualization import model_to_dot, plot_model
from nerve.utils.numerical_utils import normalize, to_categorical
from nerve.utils.progbar import Progbar
from nerve.utils.sequence_utils import pad_sequences
from nerve.utils.text_dataset_utils import text_dataset_from_directory
from nerve.utils.timeseries_dataset_utils import timeseries_dataset_from_array

__all__ = [
    "CustomObjectScope",
    "Progbar",
    "PyDataset",
    "Sequence",
    "array_to_img",
    "audio_dataset_from_directory",
    "clear_session",
    "custom_object_scope",
    "get_custom_objects",
    "get_file",
    "get_registered_name",
    "get_registered_object",
    "image_dataset_from_directory",
    "img_to_array",
    "is_keras_tensor",
    "load_img",
    "model_to_dot",
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "plot_model",
    "register_keras_serializable",
    "save_img",
    "set_random_seed",
    "split_dataset",
    "standardize_dtype",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unpack_x_y_sample_weight",
]

#: Keras 3 keeps ``keras.utils.Sequence`` as another name of ``PyDataset``.
Sequence = PyDataset


def is_keras_tensor(x: Any) -> bool:
    """Whether ``x`` is a symbolic tensor of a Functional model (an ``Input`` or a layer
    called on one), as ``keras.utils.is_keras_tensor``.

    >>> import nerve
    >>> is_keras_tensor(nerve.Input((3,))), is_keras_tensor(nerve.ops.ones((3,)))
    (True, False)
    """
    return isinstance(x, _KerasTensor)


def set_random_seed(seed: int) -> None:
    """Seed every random source a nerve program uses, as ``keras.utils.set_random_seed``:
    nerve's global ``SeedGenerator`` (what ``seed=None`` draws from), Python's
    ``random`` module and NumPy's legacy global random state.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"set_random_seed: seed must be an int, got {type(seed).__name__}.")
    _nerve_random._reset_global_seed(seed)
    _python_random.seed(seed)
    # Keras seeds NumPy's global state too, for user code (data shuffling, augmentation)
    # that calls numpy.random directly; nerve itself never uses that state.
    import numpy

    numpy.random.seed(seed % 2**32)
