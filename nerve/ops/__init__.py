"""``nerve.ops``: Keras 3's ``keras.ops`` namespace, built on nerve's primitives.

Every function takes tensors, variables, NumPy arrays or Python scalars, and
returns a ``nerve.Tensor``. See the README for what is and is not there yet.
"""

from nerve.ops import _methods
from nerve.ops.control_flow import *  # noqa: F403
from nerve.ops.core import *  # noqa: F403
from nerve.ops.creation import *  # noqa: F403
from nerve.ops.elementwise import *  # noqa: F403
from nerve.ops.indexing import *  # noqa: F403
from nerve.ops.linalg import *  # noqa: F403
from nerve.ops.nn import *  # noqa: F403
from nerve.ops.reduction import *  # noqa: F403
from nerve.ops.shape import *  # noqa: F403

_methods.install()
