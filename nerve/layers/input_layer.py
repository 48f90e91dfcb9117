"""``Input`` and ``InputLayer``: the entry points of a Functional model.

>>> import nerve
>>> x = nerve.Input(shape=(8, 8), name="pixels")
>>> x.shape, x.dtype
((None, 8, 8), 'float32')
>>> x.node.layer.get_config()
{'batch_shape': [None, 8, 8], 'dtype': 'float32', 'sparse': False, 'name': 'pixels'}
"""

from __future__ import annotations

from typing import Any

from nerve.core import config as nerve_config
from nerve.core import dtypes
from nerve.core.errors import check_int, check_shape
from nerve.layers.base import Layer
from nerve.layers.symbolic import KerasTensor, Node

__all__ = ["Input", "InputLayer"]


class InputLayer(Layer):
    """The layer behind ``nerve.Input``: it has no weights, and its one output (``output``)
    is the symbolic tensor that a Functional model's graph starts from. Most code
    calls ``nerve.Input``, which makes one and returns that tensor.

    Args:
        shape: the shape of one example, without the batch axis (an int for a single
            axis); ``None`` entries are sizes known only at call time.
        batch_size: a fixed batch size; ``None`` (the default) leaves it open.
        dtype: the inputs' dtype; ``None`` means ``nerve.config.floatx()``.
        sparse: only ``None`` or ``False``: sparse inputs are not supported.
        batch_shape: the full shape, batch axis included, instead of ``shape`` and
            ``batch_size`` (pass one or the other).
        input_tensor: only ``None``: wrapping an existing tensor is not supported.
        optional: Keras's flag for an input a model may be given ``None`` for; nerve
            stores it but does not act on it yet (false by default).
        name: the input's name; by default ``input_layer``, numbered.

    >>> layer = InputLayer(shape=(4,), name="features")
    >>> layer.output.shape, layer.batch_shape
    ((None, 4), (None, 4))
    """

    def __init__(
        self,
        shape: tuple | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        batch_shape: tuple | None = None,
        input_tensor: Any = None,
        optional: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ):
        kwargs.pop("trainable", None)  # in old configs; an InputLayer has nothing to train
        if kwargs.pop("ragged", False):  # Keras 3 configs carry ragged=False
            raise NotImplementedError("InputLayer: nerve has no ragged tensors.")
        super().__init__(name=name, **kwargs)
        if sparse:
            raise ValueError(f"InputLayer {self.name!r}: sparse inputs are not supported.")
        if input_tensor is not None:
            raise ValueError(
                f"InputLayer {self.name!r}: input_tensor is not supported; pass shape and dtype."
            )
        if shape is not None and batch_shape is not None:
            raise ValueError(
                f"InputLayer {self.name!r}: pass either shape or batch_shape, not both "
                f"(got shape={shape}, batch_shape={batch_shape})."
            )
        if batch_shape is None:
            if shape is None:
                raise ValueError(
                    f"InputLayer {self.name!r} needs a shape, e.g. nerve.Input(shape=(28, 28)) "
                    "for 28x28 examples (the batch axis is left out)."
                )
            if isinstance(shape, int) and not isinstance(shape, bool):
                shape = (shape,)
            shape = check_shape(shape, "shape", "Input")
            check_int(batch_size, "batch_size", "Input", allow_none=True)
            batch_shape = (batch_size, *shape)
        self.batch_shape = check_shape(batch_shape, "batch_shape", "Input")
        self._input_dtype = dtypes.standardize_dtype(dtype or nerve_config.floatx())
        self.optional = optional
        self._output = KerasTensor(self.batch_shape, self._input_dtype, name=self.name)
        Node(self, (), {}, self._output)
        self.built = True
        self._build_shapes = self.batch_shape

    @property
    def dtype(self) -> str:
        return self._input_dtype

    @property
    def output(self) -> KerasTensor:
        """The symbolic tensor this input layer stands for (what ``nerve.Input``
        returns)."""
        return self._output

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.batch_shape

    def get_config(self) -> dict:
        return {
            "batch_shape": list(self.batch_shape),
            "dtype": self._input_dtype,
            "sparse": False,
            "name": self.name,
        }


def Input(
    shape: tuple | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
    batch_shape: tuple | None = None,
    name: str | None = None,
    tensor: Any = None,
    optional: bool = False,
) -> KerasTensor:
    """A symbolic input tensor of shape ``(batch_size, *shape)`` (batch ``None`` unless
    given) to build a Functional model from.

    >>> import nerve
    >>> nerve.Input(shape=(3,), batch_size=2).shape
    (2, 3)
    """
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        input_tensor=tensor,
        optional=optional,
        name=name,
    )
    return layer.output
