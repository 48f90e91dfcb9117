"""The primitive registry and every primitive, one block each, by family.

Importing this package registers all primitives.
"""

from nerve.primitives import (  # noqa: F401
    attention,
    collective,
    control_flow,
    creation,
    elementwise,
    fft,
    indexing,
    linalg,
    nn,
    random,
    reduction,
    shape,
    state,
)
from nerve.primitives.registry import PRIMITIVES, Aval, Primitive

__all__ = ["PRIMITIVES", "Aval", "Primitive"]
