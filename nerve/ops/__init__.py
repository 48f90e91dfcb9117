"""``nerve.ops``: Keras 3's ``keras.ops`` namespace, built on nerve's primitives.

Every function takes tensors, variables, NumPy arrays or Python scalars, and
returns a ``nerve.Tensor``. See the README for what is and is not there yet.
"""

# The families under private names: the star-imports below rebind some public
# ones (`ops.shape` is the function, not the module). The nn functions come from
# nn's own modules, whose literal `__all__` lists mypy follows through the import
# cycle that the nn package's computed one would hide.
import sys as _sys

from nerve.ops import _dispatch, _methods, image, math, numpy
from nerve.ops import arithmetic as _arithmetic
from nerve.ops import arrays as _arrays
from nerve.ops import complex_numbers as _complex_numbers
from nerve.ops import control_flow as _control_flow
from nerve.ops import core as _core
from nerve.ops import creation as _creation
from nerve.ops import elementwise as _elementwise
from nerve.ops import indexing as _indexing
from nerve.ops import linalg as _linalg
from nerve.ops import nn as _nn
from nerve.ops import reduction as _reduction
from nerve.ops import shape as _shape
from nerve.ops import signal as _signal
from nerve.ops import statistics as _statistics
from nerve.ops.arithmetic import *  # noqa: F403
from nerve.ops.arrays import *  # noqa: F403
from nerve.ops.complex_numbers import *  # noqa: F403
from nerve.ops.control_flow import *  # noqa: F403
from nerve.ops.core import *  # noqa: F403
from nerve.ops.creation import *  # noqa: F403
from nerve.ops.elementwise import *  # noqa: F403
from nerve.ops.indexing import *  # noqa: F403
from nerve.ops.linalg import *  # noqa: F403
from nerve.ops.math import *  # noqa: F403
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
from nerve.ops.reduction import *  # noqa: F403
from nerve.ops.shape import *  # noqa: F403
from nerve.ops.signal import *  # noqa: F403
from nerve.ops.statistics import *  # noqa: F403

# The union of the families' exports, each name once (`cast` belongs to two).
__all__: list[str] = []
for _family in (
    _arithmetic,
    _arrays,
    _complex_numbers,
    _control_flow,
    _core,
    _creation,
    _elementwise,
    _indexing,
    _linalg,
    math,
    _nn,
    _reduction,
    _shape,
    _statistics,
    _signal,
):
    __all__ += [name for name in _family.__all__ if name not in __all__]
del _family
__all__ += ["image", "numpy"]  # namespaces, as in Keras: ops.image.resize, ops.numpy.sum

_methods.install()
# Every public op, in every namespace, builds a model node on symbolic tensors once
# the layers package has registered its handler (see _dispatch).
_dispatch.install(
    {
        "": _sys.modules[__name__],
        **{f"{ns.__name__.rsplit('.', 1)[1]}.": ns for ns in (numpy, _nn, math, _core, _linalg)},
        "image.": image,
    }
)
del _sys
