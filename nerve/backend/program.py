"""The backend-neutral description of a fused elementwise loop.

The graph compiler groups elementwise nodes of one shape into a fused node and
hands backends this description: kernel *names* and dtypes only, no primitive
objects, so ``nerve.backend`` stays below the primitives. A backend that can
turn it into one loop (``Backend.compile_elementwise``) does; the others return
``None`` and the executor runs the steps one kernel at a time.

>>> p = ElementwiseProgram(
...     shape=(2, 3),
...     inputs=(((2, 3), "float32"), ((3,), "float32")),
...     steps=(Step("add", (0, 1), (), "float32"), Step("relu", (2,), (), "float32")),
...     results=(3,),
... )
>>> p.result_dtypes
('float32',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ElementwiseProgram",
    "Step",
]


@dataclass(frozen=True)
class Step:
    """One elementwise kernel call: ``kernel(*refs, **params) -> dtype``. A ref ``k``
    names the program's input ``k`` when ``k < len(inputs)``, else step ``k - len(inputs)``.
    ``cost`` is the primitive's cost class (``"arithmetic"``, ``"division"`` or
    ``"transcendental"``), for backends that schedule loops."""

    kernel: str
    refs: tuple[int, ...]
    params: tuple[tuple[str, Any], ...]
    dtype: str
    cost: str = "arithmetic"


@dataclass(frozen=True)
class ElementwiseProgram:
    """Steps over one iteration ``shape``; every step's result has that shape, inputs
    broadcast to it. ``results`` are the refs the loop writes out."""

    shape: tuple[int, ...]
    inputs: tuple[tuple[tuple[int, ...], str], ...]
    steps: tuple[Step, ...]
    results: tuple[int, ...]

    def dtype_of(self, ref: int) -> str:
        if ref < len(self.inputs):
            return self.inputs[ref][1]
        return self.steps[ref - len(self.inputs)].dtype

    @property
    def result_dtypes(self) -> tuple[str, ...]:
        return tuple(self.dtype_of(r) for r in self.results)
