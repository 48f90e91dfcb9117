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

A result may also be several refs side by side along the last axis (a concatenation
the loop writes block by block, in place):

>>> q = ElementwiseProgram(
...     shape=(2, 3),
...     inputs=(((2, 3), "float32"),),
...     steps=(Step("exp", (0,), (), "float32"), Step("neg", (0,), (), "float32")),
...     results=((1, 2),),
... )
>>> q.result_shape(0)
(2, 6)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Call",
    "ElementwiseProgram",
    "Schedule",
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
    broadcast to it. ``results`` are the refs the loop writes out; an entry that is a
    tuple of refs is one result holding their values side by side along the last axis
    (``concatenate(..., axis=-1)``, written by the loop in place)."""

    shape: tuple[int, ...]
    inputs: tuple[tuple[tuple[int, ...], str], ...]
    steps: tuple[Step, ...]
    results: tuple[int | tuple[int, ...], ...]
    #: Per input (or empty: none): ``None``, or the column where the input starts in a
    #: wider matrix the loop is given (a block of a split, read in place); the input's
    #: shape above is the block's.
    offsets: tuple[int | None, ...] = ()
    #: Per input (or empty: none): ``None``, or an earlier input that is the same array
    #: (one matrix read as several column blocks, such as an RNN's four gates), so a
    #: backend may take that array once.
    same_as: tuple[int | None, ...] = ()
    #: Whether the program runs again and again (a loop body's step: a scan's at every
    #: time step), so a backend should compile it however small it is.
    hot: bool = False

    def offset(self, k: int) -> int | None:
        return self.offsets[k] if self.offsets else None

    def source(self, k: int) -> int:
        """The first input that is the same array as input ``k`` (``k`` itself if none)."""
        j = self.same_as[k] if self.same_as else None
        return k if j is None else j

    def dtype_of(self, ref: int) -> str:
        if ref < len(self.inputs):
            return self.inputs[ref][1]
        return self.steps[ref - len(self.inputs)].dtype

    def result_refs(self, k: int) -> tuple[int, ...]:
        """The refs result ``k`` holds: one, or the blocks of a concatenation."""
        result = self.results[k]
        return result if isinstance(result, tuple) else (result,)

    def result_shape(self, k: int) -> tuple[int, ...]:
        blocks = len(self.result_refs(k))
        return (*self.shape[:-1], self.shape[-1] * blocks) if blocks > 1 else self.shape

    @property
    def written_refs(self) -> tuple[int, ...]:
        """Every ref some result holds, in the order of ``results``."""
        return tuple(r for k in range(len(self.results)) for r in self.result_refs(k))

    @property
    def has_blocks(self) -> bool:
        """Whether some result is a concatenation of blocks, or some input a block."""
        return any(isinstance(r, tuple) for r in self.results) or any(
            o is not None for o in self.offsets
        )

    @property
    def result_dtypes(self) -> tuple[str, ...]:
        return tuple(self.dtype_of(self.result_refs(k)[0]) for k in range(len(self.results)))


@dataclass(frozen=True)
class Call:
    """One kernel call of a ``Schedule``: the backend kernel ``kernel`` with ``params``,
    or, when ``kernel`` is ``"loop"``, the compiled fused loop ``loop`` (what the
    backend's ``compile_elementwise`` returned: ``loop(inputs, outs) -> results``).
    ``inputs`` and ``outputs`` are refs (see ``Schedule``); ``avals`` gives each
    output's ``(shape, dtype)``."""

    kernel: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    avals: tuple[tuple[tuple[int, ...], str], ...]
    params: tuple[tuple[str, Any], ...] = ()
    loop: Any = None


@dataclass(frozen=True, eq=False)
class Schedule:
    """A compiled graph as the kernel calls it makes, in order, for a backend that can
    run them without coming back to Python (a loop kernel running a scan's body at
    every step: ``nerve.backend.numpy_backend.native.scan_loop``).

    Refs number the values: ``0 .. inputs - 1`` the graph's inputs, then the
    ``constants`` (``(ref, array)`` pairs), then every call's outputs in order;
    ``outputs`` are the refs the graph returns. ``cache`` is for the backend's plans.

    >>> s = Schedule(2, (), (Call("matmul", (0, 1), (2,), (((2, 2), "float32"),)),), (2,))
    >>> s.calls[0].kernel, s.outputs
    ('matmul', (2,))
    """

    inputs: int
    constants: tuple[tuple[int, Any], ...]
    calls: tuple[Call, ...]
    outputs: tuple[int, ...]
    cache: dict = field(default_factory=dict, repr=False)
