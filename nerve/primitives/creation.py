"""Creation primitives: no tensor inputs; they run on the current default device."""

from __future__ import annotations

import math

from nerve.core.symbolic import Dim
from nerve.primitives.registry import Aval, Primitive

__all__ = [
    "arange_p",
    "eye_p",
    "full_p",
    "linspace_p",
    "tri_p",
]

full_p = Primitive(
    "full",
    shape_rule=lambda *, shape, value, dtype: Aval(tuple(shape), dtype),
    differentiable=False,
)


def _arange_rule(*, start, stop, step, dtype):
    if any(isinstance(v, Dim) for v in (start, stop, step)):
        # A symbolic bound (arange(n)): ceil((stop - start) / step) as an exact floor
        # division, which nerve.core.symbolic refuses unless it is affine in n.
        length = -((start - stop) // step)
        return Aval((0 if length < 0 else length,), dtype)
    # NumPy's length rule, so the rule and the kernel agree for float steps too.
    return Aval((max(0, math.ceil((stop - start) / step)),), dtype)


arange_p = Primitive("arange", shape_rule=_arange_rule, differentiable=False)
linspace_p = Primitive(
    "linspace",
    shape_rule=lambda *, start, stop, num, endpoint, dtype: Aval((num,), dtype),
    differentiable=False,
)
eye_p = Primitive(
    "eye",
    shape_rule=lambda *, rows, columns, k, dtype: Aval((rows, columns), dtype),
    differentiable=False,
)
# Ones at and below the k-th diagonal (numpy.tri).
tri_p = Primitive(
    "tri",
    shape_rule=lambda *, rows, columns, k, dtype: Aval((rows, columns), dtype),
    differentiable=False,
)
