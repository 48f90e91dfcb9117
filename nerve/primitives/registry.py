"""The primitive registry.

A *primitive* is the unit every layer above understands: eager execution runs
its backend kernel, autodiff applies its vector-Jacobian product, the graph
compiler records it as a node. One primitive is one registration block:

* ``kernel``: the name of the backend kernel that computes it (see
  ``nerve.backend.base``);
* ``shape_rule``: output shape and dtype from input shapes/dtypes and params;
  used by the graph compiler, and by eager mode to explain kernel failures;
* ``effect``: the primitive reads or writes state (variables) or talks to other
  processes (collectives); it has no backend kernel, only the graph executor runs it,
  and graph passes keep its order (the scheduling pass alone moves collectives);
* ``vjp``: the gradient rule, written with other primitives so that gradients of
  gradients work. ``vjp(ct, inputs, out, needs, **params)`` returns one
  cotangent (or ``None``) per input; ``needs[i]`` says whether input ``i`` wants
  one, so rules skip work nobody asked for. Rules never handle broadcasting: the
  autodiff engine sums a cotangent back to its input's shape.

And the facts the graph compiler and the backends read, never from name lists
(``tests/primitives/test_facts.py`` checks each against the kernels):

* ``elementwise``: one result whose element ``i`` depends only on element ``i``
  of each input (inputs broadcast like NumPy). Such a node may join a fused loop
  (when the backend has a loop form for it), may write its result over an input
  it reads, and its explicit input broadcasts may be dropped. Implies ``fresh``.
* ``fresh``: the kernel always returns new arrays that alias no input and that
  it keeps no reference to, so the memory planner may reuse their buffers.
  Anything not fresh is assumed to return (a view of) any of its inputs.
* ``random``: the result is drawn from a seed input; constant folding never
  evaluates it (a fresh draw per run is its point).
* ``cost``: the cost class of one element of an elementwise primitive, for
  backends that schedule loops: ``"arithmetic"`` (one instruction),
  ``"division"`` (division and square roots) or ``"transcendental"`` (a
  polynomial approximation: exp, log, tanh, ...).

Inputs of ``bind`` are tensors (all of one dtype unless a rule says otherwise);
params are static Python values (shapes, axes, flags).

How a bind runs is decided by the current *interpreter*: eager evaluation with
tape recording (installed by ``nerve.autodiff``) or graph tracing (installed by
the graph compiler). Primitives don't know which.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

__all__ = [
    "COST_CLASSES",
    "PRIMITIVES",
    "Aval",
    "KernelSignature",
    "Primitive",
    "aval_list",
    "interpreter_stack",
    "pop_interpreter",
    "push_interpreter",
    "set_base_interpreter",
]


class Aval(NamedTuple):
    """An abstract value: what a shape rule knows about a tensor."""

    shape: tuple
    dtype: str


ShapeRule = Callable[..., "Aval | tuple[Aval, ...]"]
VJPRule = Callable[..., Sequence[Any]]


def aval_list(avals: Aval | Sequence[Aval], multiple_results: bool) -> list[Aval]:
    """A shape rule's result as a list: the one aval of a primitive with one result, or
    the avals of one with ``multiple_results``.

    >>> aval_list(Aval((2,), "float32"), multiple_results=False)
    [Aval(shape=(2,), dtype='float32')]
    >>> len(aval_list((Aval((), "int32"), Aval((), "int32")), multiple_results=True))
    2
    """
    # The flag, not the type, tells the two apart (an Aval is itself a tuple), so the
    # type checker cannot follow it.
    if multiple_results:
        return list(cast("Sequence[Aval]", avals))
    return [cast(Aval, avals)]


PRIMITIVES: dict[str, Primitive] = {}

#: The cost classes of elementwise primitives (see the module docstring).
COST_CLASSES = ("arithmetic", "division", "transcendental")


class Primitive:
    """One primitive operation; see the module docstring."""

    __slots__ = (
        "cost",
        "differentiable",
        "effect",
        "elementwise",
        "fresh",
        "kernel",
        "kernels_by_array_type",
        "multiple_results",
        "name",
        "random",
        "shape_rule",
        "vjp",
    )

    def __init__(
        self,
        name: str,
        *,
        shape_rule: ShapeRule,
        vjp: VJPRule | None = None,
        kernel: str | None = None,
        multiple_results: bool = False,
        differentiable: bool = True,
        effect: bool = False,
        elementwise: bool = False,
        fresh: bool = False,
        random: bool = False,
        cost: str = "arithmetic",
    ):
        if name in PRIMITIVES:
            raise ValueError(f"Primitive {name!r} is registered twice.")
        if differentiable and vjp is None:
            raise ValueError(
                f"Primitive {name!r} is differentiable but has no vjp; pass one or "
                "declare differentiable=False."
            )
        if cost not in COST_CLASSES:
            raise ValueError(
                f"Primitive {name!r}: cost must be one of {COST_CLASSES}, got {cost!r}."
            )
        if elementwise and (multiple_results or effect):
            raise ValueError(
                f"Primitive {name!r}: an elementwise primitive has one result and no effect."
            )
        self.name = name
        self.kernel = kernel or name
        self.shape_rule = shape_rule
        self.vjp = vjp
        self.multiple_results = multiple_results
        self.differentiable = differentiable
        # Effectful primitives (variable reads/writes) have no backend kernel: the graph
        # executor runs them, and passes never drop or reorder them.
        self.effect = effect
        self.elementwise = elementwise
        self.fresh = fresh or elementwise
        self.random = random
        self.cost = cost
        # Filled by the eager interpreter: backend array type -> kernel function.
        self.kernels_by_array_type: dict[type, Callable[..., Any]] = {}
        PRIMITIVES[name] = self

    def bind(self, *args: Any, **params: Any) -> Any:
        """Apply the primitive to tensors ``args`` under the current interpreter."""
        return _interpreter[-1](self, args, params)

    def output_avals(self, *avals: Aval, **params: Any) -> Aval | tuple[Aval, ...]:
        """Output aval(s) for input avals, by the shape rule."""
        return self.shape_rule(*avals, **params)

    @property
    def kernel_signature(self) -> KernelSignature:
        """What every backend's kernel for this primitive must accept, read off the
        shape rule: the rule takes the inputs' avals positionally and the params by
        keyword, and the kernel takes the inputs' arrays and the same params."""
        return KernelSignature.of(self)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


@dataclass(frozen=True)
class KernelSignature:
    """The calling convention of a primitive's kernel: ``kernel(*inputs, **params)``
    returning one array, or a sequence of arrays when ``multiple_results``.

    ``inputs`` is the number of tensor inputs (at least, when ``variadic``);
    ``params`` the keyword params the shape rule names; ``open_params`` that the rule
    takes further params (``**params``), which only a call with them can check.

    >>> from nerve.primitives.elementwise import cast_p
    >>> signature = cast_p.kernel_signature
    >>> signature.inputs, signature.params, signature.multiple_results
    (1, ('dtype',), False)
    """

    name: str
    inputs: int
    variadic: bool
    params: tuple[str, ...]
    open_params: bool
    multiple_results: bool

    @staticmethod
    def of(prim: Primitive) -> KernelSignature:
        parameters = inspect.signature(prim.shape_rule).parameters.values()
        kinds = inspect.Parameter
        return KernelSignature(
            name=prim.name,
            inputs=sum(
                p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD) for p in parameters
            ),
            variadic=any(p.kind is kinds.VAR_POSITIONAL for p in parameters),
            params=tuple(p.name for p in parameters if p.kind is kinds.KEYWORD_ONLY),
            open_params=any(p.kind is kinds.VAR_KEYWORD for p in parameters),
            multiple_results=prim.multiple_results,
        )

    def mismatch(self, kernel: Callable[..., Any]) -> str | None:
        """Why ``kernel`` cannot be called this way, or ``None`` when it can (kernels
        whose signature Python cannot inspect are taken on trust)."""
        try:
            signature = inspect.signature(kernel)
        except (TypeError, ValueError):
            return None
        params = {name: None for name in self.params}
        counts = (self.inputs, self.inputs + 2) if self.variadic else (self.inputs,)
        for count in counts:
            try:
                signature.bind(*([None] * count), **params)
            except TypeError as error:
                return (
                    f"kernel{signature} cannot take {count} inputs and params "
                    f"{list(self.params)}: {error}"
                )
        return None


def _no_interpreter(prim: Primitive, args: tuple, params: dict) -> Any:
    raise RuntimeError("No interpreter installed: import nerve, not nerve.primitives alone.")


_interpreter: list[Callable[[Primitive, tuple, dict], Any]] = [_no_interpreter]

#: The interpreter stack itself (innermost last). ``prim.bind(*args)`` is
#: ``interpreter_stack[-1](prim, args, {})``; the hottest eager paths in ``nerve.ops``
#: call it that way directly, saving a Python frame and argument packing per op.
interpreter_stack = _interpreter


def push_interpreter(fn: Callable[[Primitive, tuple, dict], Any]) -> None:
    """Make ``fn`` handle every bind until ``pop_interpreter``."""
    _interpreter.append(fn)


def pop_interpreter() -> None:
    if len(_interpreter) <= 1:
        raise RuntimeError("pop_interpreter() without a matching push_interpreter().")
    _interpreter.pop()


def set_base_interpreter(fn: Callable[[Primitive, tuple, dict], Any]) -> None:
    """Install the eager interpreter at the bottom of the stack."""
    _interpreter[0] = fn
