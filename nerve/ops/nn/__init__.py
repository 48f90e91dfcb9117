"""Neural-network ops (Keras's ``keras.ops`` nn functions).

Everything here is a composite of primitives, so gradients of any order come
for free. Convolution and pooling run over two linear primitives,
``extract_patches`` (sliding windows as a strided view) and its adjoint
``patches_transpose``: a convolution is a matmul of patches with the kernel, a
transposed convolution is the input-gradient of a convolution, and average
pooling is a sum over the window axes. Max pooling is one primitive,
``max_pool``, that keeps each window's argmax, so its gradient is one scatter.

Spatial ops take ``data_format="channels_last"`` (``(batch, *spatial,
channels)``, the default) or ``"channels_first"``; ``padding`` is ``"valid"`` or
``"same"`` (TensorFlow's rule: the odd extra padding goes at the end).

>>> from nerve import ops
>>> ops.relu(ops.convert_to_tensor([-1.0, 2.0])).numpy()
array([0., 2.], dtype=float32)
>>> x = ops.ones((1, 5, 5, 2))
>>> ops.conv(x, ops.ones((3, 3, 2, 4)), padding="same").shape
(1, 5, 5, 4)
>>> ops.max_pool(x, 2).shape
(1, 2, 2, 2)
"""

from nerve.ops.complex_numbers import polar
from nerve.ops.nn import (
    activation,
    attention,
    blocks,
    convolution,
    crossentropy,
    ctc,
    encoding,
    normalization,
    pixels,
    pooling,
)
from nerve.ops.nn.activation import *  # noqa: F403
from nerve.ops.nn.attention import *  # noqa: F403
from nerve.ops.nn.blocks import *  # noqa: F403
from nerve.ops.nn.convolution import *  # noqa: F403
from nerve.ops.nn.crossentropy import *  # noqa: F403
from nerve.ops.nn.ctc import *  # noqa: F403
from nerve.ops.nn.encoding import *  # noqa: F403
from nerve.ops.nn.normalization import *  # noqa: F403
from nerve.ops.nn.pixels import *  # noqa: F403
from nerve.ops.nn.pooling import *  # noqa: F403

# The union of the families' exports, added with `+=` (a form type checkers
# understand).
__all__: list[str] = []
__all__ += activation.__all__
__all__ += attention.__all__
__all__ += blocks.__all__
__all__ += convolution.__all__
__all__ += ctc.__all__
__all__ += crossentropy.__all__
__all__ += encoding.__all__
__all__ += normalization.__all__
__all__ += pixels.__all__
__all__ += pooling.__all__
# Keras lists polar among its nn functions; it lives with the complex numbers.
__all__ += ["polar"]
