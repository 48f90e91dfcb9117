"""One-hot labels and norm scaling on NumPy arrays (``keras.utils.to_categorical``,
``keras.utils.normalize``).

Both take array-likes (lists, NumPy arrays, nerve tensors) and return NumPy arrays.
Keras hands a backend tensor to its ``ops`` instead; in nerve, ``nerve.ops.one_hot``
and ``nerve.ops.normalize`` are the tensor versions.

Where nerve differs from Keras 3.15.1, and why:

- ``to_categorical`` checks its labels. Keras maps a negative label ``-k`` silently to
  class ``num_classes - k`` (NumPy's negative indexing), truncates fractional labels
  (``1.7`` becomes class 1) and raises NumPy's bare ``IndexError`` for a label at or
  above ``num_classes``. nerve raises ``LabelError`` (a ``ValueError`` and an
  ``IndexError``, so code catching Keras's error still catches it) naming the label,
  where it is, and the range expected.
- ``normalize`` divides along the axis it was given. Keras's NumPy path puts the norm
  back on the last axis when ``axis=0`` (``axis or -1``), which divides by the wrong
  norms or fails to broadcast.

>>> from nerve.utils import normalize, to_categorical
>>> to_categorical([0, 2, 1])
array([[1., 0., 0.],
       [0., 0., 1.],
       [0., 1., 0.]])
>>> normalize([[3.0, 4.0], [0.0, 0.0]])
array([[0.6, 0.8],
       [0. , 0. ]])
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from nerve.core.errors import NerveError, normalize_axis, with_location

__all__ = ["LabelError", "normalize", "to_categorical"]


class LabelError(NerveError, ValueError, IndexError):
    """A class label is negative, fractional, or not below ``num_classes``.

    It is an ``IndexError`` too because Keras's ``to_categorical`` raises one for a
    label at or above ``num_classes``.

    >>> from nerve.utils import to_categorical
    >>> try:
    ...     to_categorical([0, 3], num_classes=3)
    ... except IndexError as error:
    ...     print(type(error).__name__)
    LabelError
    """


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """Convert integer class labels to one-hot rows (``keras.utils.to_categorical``).

    Args:
        x: array-like of integer labels in ``[0, num_classes)``, any shape. A trailing
            axis of size 1 (a column of labels, shape ``(n, 1)``) is dropped first.
        num_classes: the number of classes. ``None`` (or ``0``, as in Keras) means
            ``max(x) + 1``.

    Returns:
        A float64 NumPy array of shape ``x.shape + (num_classes,)`` (after dropping a
        trailing axis of size 1) with a 1 at each label's index and 0 elsewhere.

    Raises:
        LabelError: a label is negative, not a whole number, or not below
            ``num_classes``; ``num_classes`` is ``None`` and ``x`` is empty.
        ValueError: ``num_classes`` is negative or not an integer.

    >>> from nerve.utils import to_categorical
    >>> to_categorical([[1], [0]], num_classes=3)
    array([[0., 1., 0.],
           [1., 0., 0.]])
    >>> try:
    ...     to_categorical([1, 5], num_classes=3)
    ... except ValueError as error:
    ...     print(str(error).splitlines()[0])  # doctest: +ELLIPSIS
    to_categorical: label 5 (at index (1,)) is out of range: labels must be in [0, 3) ...
    """
    labels = _integer_labels(x)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)

    if not num_classes:  # Keras infers for None and for 0 alike.
        if flat.size == 0:
            raise LabelError(
                with_location(
                    "to_categorical: cannot infer num_classes from an empty x; pass num_classes."
                )
            )
        num_classes = int(flat.max()) + 1
    num_classes = _count(num_classes, "to_categorical", "num_classes")

    if flat.size:
        _check_label_range(labels, num_classes)
    one_hot = np.zeros((flat.size, num_classes))  # float64, as Keras's NumPy path
    one_hot[np.arange(flat.size), flat] = 1
    return one_hot.reshape((*shape, num_classes))


def _integer_labels(x: Any) -> np.ndarray:
    """``x`` as an int64 array; whole-number floats are accepted, others rejected."""
    array = np.asarray(x)
    if array.dtype.kind in "fc":
        # Keras casts to int64 and so truncates 1.7 to 1; a fractional label is almost
        # always a mistake (probabilities, or one-hot rows passed twice), so it is
        # refused here, and so are NaN and infinities.
        bad = ~np.isfinite(array) | (array != np.round(array.real))
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise LabelError(
                with_location(
                    f"to_categorical: labels must be whole numbers; got {array[where].item()!r} at "
                    f"index {where}."
                )
            )
        return array.real.astype("int64")
    try:
        return np.asarray(array, dtype="int64")
    except (TypeError, ValueError) as error:
        raise LabelError(
            with_location(
                f"to_categorical: x must hold integer class labels; "
                f"converting its {array.dtype} values to int64 failed: {error}"
            )
        ) from error


def _check_label_range(labels: np.ndarray, num_classes: int) -> None:
    bad = (labels < 0) | (labels >= num_classes)
    if not bad.any():
        return
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    raise LabelError(
        with_location(
            f"to_categorical: label {int(labels[where])} (at index {where}) is out of range: "
            f"labels must be in [0, {num_classes}) for num_classes={num_classes}. "
            "Pass num_classes=None to infer it as max(x) + 1."
        )
    )


def _count(value: Any, function: str, name: str) -> int:
    """``value`` as a non-negative int, or a ``ValueError`` naming ``function(name=...)``."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(with_location(f"{function}: {name} must be an int, got {value!r}."))
    count = operator.index(value)
    if count < 0:
        raise ValueError(with_location(f"{function}: {name} must be >= 0, got {count}."))
    return count


def normalize(x: Any, axis: int = -1, order: Any = 2) -> np.ndarray:
    """Scale ``x`` to unit norm along ``axis`` (``keras.utils.normalize``).

    Args:
        x: array-like with at least one axis.
        axis: the axis along which each norm is taken.
        order: the norm's order, as ``numpy.linalg.norm``'s ``ord`` for vectors
            (``2`` Euclidean, ``1`` sum of magnitudes, ``numpy.inf`` largest magnitude).

    Returns:
        A new NumPy array: ``x`` divided by its norms along ``axis``. Slices whose norm
        is 0 are returned unchanged (divided by 1). Integer inputs give float64.

    >>> import numpy as np
    >>> from nerve.utils import normalize
    >>> normalize(np.array([[1.0, 3.0], [1.0, 1.0]]), axis=0, order=1)
    array([[0.5 , 0.75],
           [0.5 , 0.25]])
    """
    array = np.asarray(x)
    axis = normalize_axis(axis, array.ndim, "normalize")  # AxisError for a scalar x too
    # keepdims keeps the reduced axis, so the norms broadcast back along it whatever it is.
    norm = np.linalg.norm(array, ord=order, axis=axis, keepdims=True)
    norm[norm == 0] = 1
    return array / norm
