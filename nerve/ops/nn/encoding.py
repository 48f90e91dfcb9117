"""``multi_hot`` encoding of integer labels (and ``one_hot``, which Keras lists among its
nn functions too; it lives with the indexing family)."""

from __future__ import annotations

from typing import Any

from nerve.core import config
from nerve.core.errors import normalize_axis, with_location
from nerve.ops._convert import cast, tensor
from nerve.ops.indexing import one_hot
from nerve.primitives import reduction as rp
from nerve.tensor import Tensor

__all__ = ["multi_hot", "one_hot"]


def multi_hot(
    inputs: Any,
    num_classes: int | None = None,
    axis: int = -1,
    dtype: str | None = None,
    sparse: bool = False,
) -> Tensor:
    """Multi-hot encode integer labels: 1 for each class present. A 1-D ``inputs`` is one
    set of labels; for higher ranks each row along axis 1 is one set (as in Keras). The
    class axis is placed at ``axis`` of the result (Keras instead reduces axis 1 of the
    one-hot tensor, which agrees for the default ``axis=-1``). Not differentiable.

    >>> from nerve import ops
    >>> ops.multi_hot(ops.convert_to_tensor([0, 4]), num_classes=5).numpy()
    array([1., 0., 0., 0., 1.], dtype=float32)
    >>> ops.multi_hot([[1, 1], [0, 2]], 3).numpy()
    array([[0., 1., 0.],
           [1., 0., 1.]], dtype=float32)
    """
    from nerve.ops.indexing import one_hot
    from nerve.ops.shape import moveaxis

    if sparse:
        raise NotImplementedError("multi_hot: sparse tensors are not supported.")
    if num_classes is None:
        raise ValueError(with_location("multi_hot: num_classes is required."))
    inputs = tensor(inputs)
    labels_axis = 1 if inputs.ndim > 1 else 0
    encoded = one_hot(inputs, num_classes, axis=-1, dtype="bool")
    hot = rp.reduce_any_p.bind(encoded, axes=(labels_axis,), keepdims=False)
    hot = moveaxis(hot, -1, normalize_axis(axis, hot.ndim, "multi_hot"))
    return cast(hot, dtype or config.floatx())
