"""Symbolic sizes: the ``None`` dimension of an ``input_signature``, traced once.

``nerve.function`` traces a function whose input_signature has ``None`` dims with
those dims set to one symbol, ``n`` (all ``None`` dims of one call share one size,
so one symbol is enough). Shapes then hold ``Dim`` objects, ``coeff * n + offset``,
and the Python function runs once: each concrete size later *specializes* the
traced graph by evaluating its symbolic numbers, without running Python again.

Why affine and nothing more: batch-polymorphic code (a training step) only adds,
subtracts and scales the batch size (``reshape(x, (-1, 2))`` of a ``(n, 4)`` input is
``2n``; a mean divides by it, ``1 / n``). Everything else is refused with a
``SymbolicDimError``, and the caller traces the function once per size instead:

* ``Dim * Dim`` (``n * n``), ``//`` and ``%`` by an int that does not divide the
  coefficient (``n // 2``), ``int()``, ``range()``, indexing with a ``Dim``;
* a comparison whose truth depends on ``n`` (``n > 4``, ``n == 3``).

The domain. A symbolic trace stands for every size ``n >= 2``, and comparisons are
*decided* over that domain: ``n == 1`` is False, ``n > 0`` and ``2 * n != n + 1``
are True, ``n > 4`` raises. Sizes 0 and 1 are left out because code legitimately
branches on them (a size-1 axis broadcasts, an empty one has no mean or maximum), so
a decision that holds for every ``n >= 2`` need not hold there. Rather than tracing
those sizes concretely always, each decided comparison is also evaluated at 0 and 1
(``tracking``): a trace whose decisions all come out the same there serves those
sizes too, and one that does not (a mean's ``if count:``, ``x[1]``) is traced
concretely at that size. Broadcasting needs no comparison of a ``Dim`` with 1 at all
(``is_symbolic``): a symbolic axis broadcast against itself or against 1 keeps its
size, which at ``n = 1`` is what a concrete trace computes too.

Floats: ``1 / n``, ``n * 0.5`` and the like are ``SymbolicFloat`` expression trees,
evaluated when the graph is specialized.

>>> n = Dim.symbol()
>>> (2 * n + 1, (4 * n + 2) // 2, 3 * n - n, n - n)
(2n+1, 2n+1, 2n, 0)
>>> n == 1, n > 0, evaluate((n, 3 * n - 1, 1 / n), 4)
(False, True, (4, 11, 0.25))
>>> n > 4  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
nerve.core.symbolic.SymbolicDimError: n > 4 depends on the symbolic size n (it holds ...
"""

from __future__ import annotations

import contextlib
import numbers
import operator
from collections.abc import Callable, Iterator
from typing import Any

from nerve.core.errors import NerveError

__all__ = [
    "MIN_SIZE",
    "Dim",
    "SmallSizes",
    "Symbolic",
    "SymbolicDimError",
    "SymbolicFloat",
    "as_dim",
    "as_float",
    "erase",
    "evaluate",
    "has_symbolic",
    "is_one",
    "is_symbolic",
    "python_type",
    "same_shape",
    "slice_length",
    "tracking",
]

#: The smallest size a symbolic trace stands for (see "The domain" above).
MIN_SIZE = 2

_FALLBACK = "nerve.function traces this function once per size instead."


class SymbolicDimError(NerveError):
    """An operation on a symbolic size whose result is not an affine function of the
    size (or a comparison whose truth depends on it): the function is traced per size."""


def _refuse(what: str) -> SymbolicDimError:
    return SymbolicDimError(f"{what} needs a concrete size, but the size is symbolic; {_FALLBACK}")


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral)


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral)


class Symbolic:
    """A number that depends on the symbolic size ``n``; see the module docstring."""

    __slots__ = ()

    #: NumPy scalars and arrays defer to our reflected operators (``np.float32(2) * n``)
    #: instead of converting a symbolic number to an array.
    __array_ufunc__ = None

    def evaluate(self, n: int) -> Any:
        raise NotImplementedError

    # Conversions a symbolic number cannot answer.
    def __int__(self) -> int:
        raise _refuse(f"int({self})")

    def __index__(self) -> int:
        raise _refuse(f"Using {self} as a Python int (an index, range(), a NumPy shape)")

    def __float__(self) -> float:
        raise _refuse(f"float({self})")

    def __complex__(self) -> complex:
        raise _refuse(f"complex({self})")

    def __round__(self, ndigits: Any = None) -> Any:
        raise _refuse(f"round({self})")

    def __trunc__(self) -> Any:
        raise _refuse(f"math.trunc({self})")

    def __floor__(self) -> Any:
        raise _refuse(f"math.floor({self})")

    def __ceil__(self) -> Any:
        raise _refuse(f"math.ceil({self})")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise _refuse(f"A NumPy array of {self}")

    def __repr__(self) -> str:
        return str(self)


# -- decisions ----------------------------------------------------------------------------


class SmallSizes:
    """Which of the sizes below ``MIN_SIZE`` a symbolic trace also serves: every size
    whose outcome of each decided comparison is the one taken (see ``tracking``)."""

    def __init__(self) -> None:
        #: size -> the first comparison that comes out differently at that size
        self.excluded: dict[int, str] = {}

    def serves(self, n: int) -> bool:
        return n >= MIN_SIZE or (n >= 0 and n not in self.excluded)


_active: list[SmallSizes] = []


@contextlib.contextmanager
def tracking() -> Iterator[SmallSizes]:
    """Record, for the sizes below ``MIN_SIZE``, which decided comparisons would have
    gone the other way there (the trace then does not serve them)."""
    record = SmallSizes()
    _active.append(record)
    try:
        yield record
    finally:
        _active.remove(record)


def _decide(coeff: int, offset: Any, relation: Callable, text: str) -> bool:
    """Whether ``relation(coeff * n + offset, 0)`` holds, when that is the same for every
    ``n >= MIN_SIZE``; else ``SymbolicDimError``. ``relation`` is a comparison operator."""

    def holds(n: int) -> bool:
        return bool(relation(coeff * n + offset, 0))

    at_infinity = bool(relation(coeff, 0))  # the sign of coeff * n + offset for large n
    if relation in (operator.eq, operator.ne):
        root = -offset / coeff
        decided = not (root == int(root) and root >= MIN_SIZE)
    else:  # monotone in n: constant when it agrees at both ends of the domain
        decided = holds(MIN_SIZE) == at_infinity
    if not decided:
        raise SymbolicDimError(
            f"{text} depends on the symbolic size n (it holds for some sizes and not "
            f"others); {_FALLBACK}"
        )
    for record in _active:
        for small in range(MIN_SIZE):
            if small not in record.excluded and holds(small) != at_infinity:
                record.excluded[small] = f"{text} is {not at_infinity} at n={small}"
    return at_infinity


_SYMBOLS = {
    operator.eq: "==",
    operator.ne: "!=",
    operator.lt: "<",
    operator.le: "<=",
    operator.gt: ">",
    operator.ge: ">=",
}


# -- Dim ------------------------------------------------------------------------------------


class Dim(Symbolic):
    """An integer ``coeff * n + offset`` (``coeff != 0``) in the symbolic size ``n``.

    Closed under ``+``/``-`` with ints and Dims and ``*`` by ints; ``//`` and ``%`` by
    an int that divides ``coeff`` stay exact for every ``n``. Results that no longer
    depend on ``n`` are plain ints.
    """

    __slots__ = ("coeff", "offset")

    def __init__(self, coeff: int, offset: int = 0):
        if coeff == 0:
            raise ValueError("Dim: coeff must be nonzero (a constant is a plain int).")
        self.coeff = int(coeff)
        self.offset = int(offset)

    @classmethod
    def symbol(cls) -> Dim:
        """The symbolic size itself, ``n``."""
        return cls(1, 0)

    def evaluate(self, n: int) -> int:
        return self.coeff * n + self.offset

    # -- arithmetic -------------------------------------------------------------------
    def __add__(self, other: Any) -> Any:
        if isinstance(other, Dim):
            return _dim(self.coeff + other.coeff, self.offset + other.offset)
        if _is_int(other):
            return _dim(self.coeff, self.offset + int(other))
        if _is_real(other) or isinstance(other, SymbolicFloat):
            return SymbolicFloat("+", self, other)
        return NotImplemented

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Dim(-self.coeff, -self.offset)

    def __pos__(self) -> Dim:
        return self

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, (Dim, SymbolicFloat)) or _is_int(other) or _is_real(other):
            return self + (-other)
        return NotImplemented

    def __rsub__(self, other: Any) -> Any:
        if _is_int(other) or _is_real(other):
            return (-self) + other
        return NotImplemented

    def __mul__(self, other: Any) -> Any:
        if _is_int(other):
            return _dim(self.coeff * int(other), self.offset * int(other))
        if isinstance(other, Dim):
            raise _refuse(f"{self} * {other} (a product of symbolic sizes)")
        if _is_real(other) or isinstance(other, SymbolicFloat):
            return SymbolicFloat("*", self, other)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        if isinstance(other, (Dim, SymbolicFloat)) or _is_int(other) or _is_real(other):
            return SymbolicFloat("/", self, other)
        return NotImplemented

    def __rtruediv__(self, other: Any) -> Any:
        if _is_int(other) or _is_real(other):
            return SymbolicFloat("/", other, self)
        return NotImplemented

    def _multiple_of(self, other: Dim) -> int | None:
        """``k`` when ``self`` is ``k * other`` at every size (``64n`` of ``n``), else ``None``."""
        k, rest = divmod(self.coeff, other.coeff)
        return k if rest == 0 and self.offset == k * other.offset else None

    def __floordiv__(self, other: Any) -> Any:
        if _is_int(other) and other != 0 and self.coeff % int(other) == 0:
            # floor((c n + o) / k) = (c / k) n + floor(o / k) for every integer n.
            return _dim(self.coeff // int(other), self.offset // int(other))
        if isinstance(other, Dim) and self._multiple_of(other) is not None:
            return self._multiple_of(other)
        if _is_int(other) or isinstance(other, Dim):
            raise _refuse(f"{self} // {other} (not an affine function of n)")
        return NotImplemented

    def __rfloordiv__(self, other: Any) -> Any:
        if _is_int(other):
            raise _refuse(f"{other} // {self} (not an affine function of n)")
        return NotImplemented

    def __mod__(self, other: Any) -> Any:
        if _is_int(other) and other != 0 and self.coeff % int(other) == 0:
            return self.offset % int(other)  # the same for every n
        if isinstance(other, Dim) and self._multiple_of(other) is not None:
            return 0
        if _is_int(other) or isinstance(other, Dim):
            raise _refuse(f"{self} % {other} (it depends on n)")
        return NotImplemented

    def __rmod__(self, other: Any) -> Any:
        """``k % d`` for an index ``k`` in ``[-d, d)`` (a negative index wrapped)."""
        if not _is_int(other):
            return NotImplemented
        k = int(other)
        if k >= 0:
            if self > k:
                return k
        elif self >= -k:
            return self + k
        raise _refuse(f"{k} % {self} (it depends on n)")

    def __pow__(self, other: Any) -> Any:
        if _is_real(other):
            return SymbolicFloat("**", self, other)
        raise _refuse(f"{self} ** {other} (not an affine function of n)")

    def __abs__(self) -> Dim:
        return self if self >= 0 else -self

    # -- comparisons (decided over n >= MIN_SIZE) ---------------------------------------
    def _compare(self, other: Any, relation: Callable) -> Any:
        if isinstance(other, Dim):
            coeff, offset = self.coeff - other.coeff, self.offset - other.offset
        elif _is_int(other) or _is_real(other):
            coeff, offset = self.coeff, self.offset - other
        else:
            return NotImplemented
        if coeff == 0:
            return bool(relation(offset, 0))
        return _decide(coeff, offset, relation, f"{self} {_SYMBOLS[relation]} {other}")

    def __eq__(self, other: object) -> Any:
        return self._compare(other, operator.eq)

    def __ne__(self, other: object) -> Any:
        return self._compare(other, operator.ne)

    def __lt__(self, other: Any) -> Any:
        return self._compare(other, operator.lt)

    def __le__(self, other: Any) -> Any:
        return self._compare(other, operator.le)

    def __gt__(self, other: Any) -> Any:
        return self._compare(other, operator.gt)

    def __ge__(self, other: Any) -> Any:
        return self._compare(other, operator.ge)

    def __bool__(self) -> bool:
        return self != 0

    def __hash__(self) -> int:
        return hash((Dim, self.coeff, self.offset))

    def __str__(self) -> str:
        head = {1: "n", -1: "-n"}.get(self.coeff, f"{self.coeff}n")
        if self.offset == 0:
            return head
        return f"{head}{'+' if self.offset > 0 else '-'}{abs(self.offset)}"

    def __reduce__(self) -> tuple:
        return (Dim, (self.coeff, self.offset))


def _dim(coeff: int, offset: int) -> Any:
    return Dim(coeff, offset) if coeff else offset


# -- SymbolicFloat ----------------------------------------------------------------------------

_FLOAT_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}


class SymbolicFloat(Symbolic):
    """A float computed from the symbolic size (a mean's ``1 / n``): an expression
    tree of ``+ - * / **`` over numbers, ``Dim`` s and other ``SymbolicFloat`` s,
    evaluated when a graph is specialized. It supports arithmetic only: comparing
    it, or asking for its Python value, raises ``SymbolicDimError``."""

    __slots__ = ("args", "op")

    def __init__(self, op: str, left: Any, right: Any):
        self.op = op
        self.args = (left, right)

    def evaluate(self, n: int) -> float:
        left, right = (evaluate(a, n) for a in self.args)
        return float(_FLOAT_OPS[self.op](left, right))

    def _combine(self, op: str, other: Any, reflected: bool = False) -> Any:
        if not (isinstance(other, Symbolic) or _is_int(other) or _is_real(other)):
            return NotImplemented
        return SymbolicFloat(op, other, self) if reflected else SymbolicFloat(op, self, other)

    def __add__(self, other: Any) -> Any:
        return self._combine("+", other)

    def __radd__(self, other: Any) -> Any:
        return self._combine("+", other, reflected=True)

    def __sub__(self, other: Any) -> Any:
        return self._combine("-", other)

    def __rsub__(self, other: Any) -> Any:
        return self._combine("-", other, reflected=True)

    def __mul__(self, other: Any) -> Any:
        return self._combine("*", other)

    def __rmul__(self, other: Any) -> Any:
        return self._combine("*", other, reflected=True)

    def __truediv__(self, other: Any) -> Any:
        return self._combine("/", other)

    def __rtruediv__(self, other: Any) -> Any:
        return self._combine("/", other, reflected=True)

    def __pow__(self, other: Any) -> Any:
        return self._combine("**", other)

    def __rpow__(self, other: Any) -> Any:
        return self._combine("**", other, reflected=True)

    def __neg__(self) -> SymbolicFloat:
        return SymbolicFloat("*", -1.0, self)

    def __pos__(self) -> SymbolicFloat:
        return self

    def _undecidable(self, other: Any, symbol: str) -> Any:
        if not (isinstance(other, Symbolic) or _is_int(other) or _is_real(other)):
            return NotImplemented
        raise _refuse(f"The comparison {self} {symbol} {other}")

    def __eq__(self, other: object) -> Any:
        if isinstance(other, SymbolicFloat):
            return self.op == other.op and self.args == other.args
        return self._undecidable(other, "==")

    def __ne__(self, other: object) -> Any:
        if isinstance(other, SymbolicFloat):
            return not self == other
        return self._undecidable(other, "!=")

    def __lt__(self, other: Any) -> Any:
        return self._undecidable(other, "<")

    def __le__(self, other: Any) -> Any:
        return self._undecidable(other, "<=")

    def __gt__(self, other: Any) -> Any:
        return self._undecidable(other, ">")

    def __ge__(self, other: Any) -> Any:
        return self._undecidable(other, ">=")

    def __bool__(self) -> bool:
        raise _refuse(f"The truth value of {self}")

    def __hash__(self) -> int:
        return hash((SymbolicFloat, self.op, self.args))

    def __str__(self) -> str:
        left, right = self.args
        return f"({left} {self.op} {right})"

    def __reduce__(self) -> tuple:
        return (SymbolicFloat, (self.op, *self.args))


# -- helpers for code that handles shapes and scalars ---------------------------------------


def is_symbolic(x: Any) -> bool:
    """Whether ``x`` is a symbolic number (a ``Dim`` or a ``SymbolicFloat``)."""
    return isinstance(x, Symbolic)


def has_symbolic(x: Any) -> bool:
    """Whether a nested structure of tuples, lists and dicts holds a symbolic number."""
    if isinstance(x, Symbolic):
        return True
    if isinstance(x, (tuple, list)):
        return any(has_symbolic(v) for v in x)
    if isinstance(x, dict):
        return any(has_symbolic(v) for v in x.values())
    return False


def is_one(d: Any) -> bool:
    """Whether a size is the concrete 1. A symbolic size is not asked: broadcasting
    treats it as not 1, which is right at ``n = 1`` too (a size-1 axis broadcast to
    size 1, or summed back from it, is unchanged), so no decision is recorded."""
    return not isinstance(d, Symbolic) and d == 1


def same_shape(a: tuple, b: tuple) -> bool:
    """Whether shapes ``a`` and ``b`` are equal at every size, deciding nothing: a
    ``Dim`` equals only the same ``Dim``, never an int. For eliding a no-op (a reshape
    or broadcast to the shape a tensor has), where treating ``n`` and ``1`` as
    different merely keeps an op that is the identity at ``n = 1``."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, Dim) or isinstance(y, Dim):
            if not (
                isinstance(x, Dim)
                and isinstance(y, Dim)
                and (x.coeff, x.offset) == (y.coeff, y.offset)
            ):
                return False
        elif x != y:
            return False
    return True


def as_dim(d: Any) -> Any:
    """A size as shape code wants it: ``int(d)``, or ``d`` itself when symbolic."""
    return d if isinstance(d, Dim) else int(d)


def as_float(x: Any) -> Any:
    """``float(x)``, or a ``SymbolicFloat`` equal to it when ``x`` is symbolic."""
    if isinstance(x, SymbolicFloat):
        return x
    return x * 1.0 if isinstance(x, Dim) else float(x)


def python_type(x: Any) -> type:
    """The Python scalar type a symbolic number stands for (``int`` for a ``Dim``,
    ``float`` for a ``SymbolicFloat``): the weak type it promotes like. Other values
    give their own type."""
    if isinstance(x, Symbolic):
        return int if isinstance(x, Dim) else float
    return type(x)


def evaluate(x: Any, n: int) -> Any:
    """``x`` with every symbolic number replaced by its value at size ``n``, through
    tuples (named ones included), lists and dicts; other objects are returned as they are."""
    if isinstance(x, Symbolic):
        return x.evaluate(n)
    if isinstance(x, tuple):
        items = [evaluate(v, n) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, list):
        return [evaluate(v, n) for v in x]
    if isinstance(x, dict):
        return {k: evaluate(v, n) for k, v in x.items()}
    return x


def erase(x: Any) -> Any:
    """``x`` with every symbolic number replaced by ``None``, through tuples, lists and
    dicts: how Keras writes an unknown size, for shapes that outlive a trace (a layer's
    build shapes, saved in its build config)."""
    if isinstance(x, Symbolic):
        return None
    if isinstance(x, tuple):
        items = [erase(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, list):
        return [erase(v) for v in x]
    if isinstance(x, dict):
        return {k: erase(v) for k, v in x.items()}
    return x


def slice_length(start: Any, stop: Any, step: Any, size: Any) -> Any:
    """``len(range(size)[start:stop:step])`` for ints or ``Dim`` s (what
    ``slice.indices`` computes, which only takes ints). Clamping a bound decides a
    comparison, so a bound inside a symbolic axis whose side depends on ``n``
    (``x[:3]`` of an axis of size ``n``) raises ``SymbolicDimError``."""
    if not any(isinstance(v, Dim) for v in (start, stop, step, size)):
        return len(range(*slice(start, stop, step).indices(size)))
    step = 1 if step is None else step
    if isinstance(step, Dim):
        raise _refuse(f"A slice step of {step}")
    lower, upper = (0, size) if step > 0 else (-1, size - 1)

    def clamp(bound: Any, default: Any) -> Any:
        if bound is None:
            return default
        if bound < 0:
            bound = bound + size
            return lower if bound < lower else bound
        return upper if bound > upper else bound

    first = clamp(start, lower if step > 0 else upper)
    last = clamp(stop, upper if step > 0 else lower)
    span = last - first if step > 0 else first - last
    if span < 0:  # (``<= 0`` would decide more than needed: a span of 0 gives 0 anyway)
        return 0
    return (span + abs(step) - 1) // abs(step)
