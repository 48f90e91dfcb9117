"""nerve.core.symbolic: affine sizes in one symbol, decided comparisons, refusals."""

import collections
import math
import operator

import numpy as np
import pytest

from nerve.core import symbolic
from nerve.core.errors import NerveError
from nerve.core.symbolic import Dim, SymbolicDimError, SymbolicFloat, evaluate

n = Dim.symbol()
SIZES = range(symbolic.MIN_SIZE, 40)


def test_affine_arithmetic_evaluates_like_the_integers():
    cases = [
        (n + 3, lambda k: k + 3),
        (3 + n, lambda k: 3 + k),
        (n - 1, lambda k: k - 1),
        (7 - 2 * n, lambda k: 7 - 2 * k),
        (-n, lambda k: -k),
        (n * 4 + n, lambda k: 5 * k),
        ((4 * n + 2) // 2, lambda k: (4 * k + 2) // 2),
        ((2 * n + 1) // 2, lambda k: (2 * k + 1) // 2),  # a floor, exact at every n
        ((6 * n - 5) // -3, lambda k: (6 * k - 5) // -3),
        ((3 * n + 7) % 3, lambda k: (3 * k + 7) % 3),
        (64 * n // n, lambda k: 64),
        ((2 * n + 2) % (n + 1), lambda k: 0),
        (-1 % n, lambda k: -1 % k),
        (0 % n, lambda k: 0),
        (abs(-3 * n), lambda k: 3 * k),
        (math.prod((n, 3, 4)), lambda k: 12 * k),
        (sum([n, n + 1, 2]), lambda k: 2 * k + 3),
        (np.int64(3) * n, lambda k: 3 * k),
    ]
    for expression, expected in cases:
        for k in SIZES:
            assert evaluate(expression, k) == expected(k), (expression, k)


def test_results_free_of_n_are_plain_ints_and_print_readably():
    assert n - n == 0 and type(n - n) is int
    assert type((3 * n + 7) % 3) is int
    assert [str(d) for d in (n, -n, 2 * n + 1, 3 * n - 2, 4 - n)] == [
        "n",
        "-n",
        "2n+1",
        "3n-2",
        "-n+4",
    ]
    assert n == Dim(1, 0) and hash(n) == hash(Dim(1, 0))  # structural
    assert (n, 3) == (Dim(1, 0), 3) and {n: "batch"}[Dim(1, 0)] == "batch"


def test_floats_of_n_are_expression_trees():
    mean_scale = 1.0 / (2 * n)
    assert isinstance(mean_scale, SymbolicFloat)
    assert evaluate(mean_scale, 4) == 0.125
    mixed = (n * 0.5 + 1) / (n - 1) - np.float32(2.0) * n
    for k in SIZES:
        assert evaluate(mixed, k) == pytest.approx((k * 0.5 + 1) / (k - 1) - 2.0 * k)
    assert evaluate(symbolic.as_float(n), 3) == 3.0 and symbolic.as_float(3) == 3.0
    assert symbolic.python_type(n) is int and symbolic.python_type(mean_scale) is float


def test_evaluate_walks_nested_structures_and_named_tuples():
    Pair = collections.namedtuple("Pair", "shape dtype")
    value = {"a": [Pair((n, 2 * n), "f32"), (1 / n, "x")], "b": None}
    assert evaluate(value, 4) == {"a": [Pair((4, 8), "f32"), (0.25, "x")], "b": None}
    assert isinstance(evaluate(value, 4)["a"][0], Pair)
    assert symbolic.has_symbolic(value) and not symbolic.has_symbolic(evaluate(value, 4))
    erased = symbolic.erase(value)
    assert erased == {"a": [Pair((None, None), "f32"), (None, "x")], "b": None}
    assert isinstance(erased["a"][0], Pair) and not symbolic.has_symbolic(erased)


@pytest.mark.parametrize(
    "use, names",
    [
        (lambda: int(n), "int(n)"),
        (lambda: range(n), "Python int"),
        (lambda: [0, 1, 2][n], "Python int"),
        (lambda: np.zeros((n, 3)), "Python int"),
        (lambda: np.asarray([n, 3]), "NumPy array"),
        (lambda: float(n), "float(n)"),
        (lambda: n * n, "n * n"),
        (lambda: n // 2, "n // 2"),
        (lambda: (3 * n) % 2, "3n % 2"),
        (lambda: 12 // n, "12 // n"),
        (lambda: n**2, "n ** 2"),
        (lambda: 5 % n, "n > 5"),
        (lambda: n > 4, "n > 4"),
        (lambda: n == 3, "n == 3"),
        (lambda: n < 2 * n - 5, "n < 2n-5"),
        (lambda: bool(n - 7), "n-7 != 0"),
        (lambda: bool(1 / n), "truth value"),
        (lambda: 1 / n < 0.5, "comparison"),
        (lambda: round(1 / n), "round"),
    ],
)
def test_what_is_not_affine_or_depends_on_n_is_refused_by_name(use, names):
    with pytest.raises(SymbolicDimError, match="once per size") as info:
        use()
    assert names in str(info.value)
    assert isinstance(info.value, NerveError)


RELATIONS = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("relation", RELATIONS)
def test_decided_comparisons_hold_at_every_size_and_record_small_sizes(relation):
    """Soundness: a comparison decided for the symbolic size has that outcome at every
    size >= MIN_SIZE, and tracking lists exactly the small sizes where it differs."""
    for coeff in (-3, -1, 1, 2):
        for offset in range(-7, 8):
            for other in (-2, 0, 1, 3, n, 2 * n - 1):
                left = Dim(coeff, offset)
                with symbolic.tracking() as record:
                    try:
                        result = relation(left, other)
                    except SymbolicDimError:
                        outcomes = {relation(evaluate(left, k), evaluate(other, k)) for k in SIZES}
                        assert len(outcomes) == 2, (left, relation, other)
                        continue
                for k in SIZES:
                    assert relation(evaluate(left, k), evaluate(other, k)) == result
                for k in range(symbolic.MIN_SIZE):
                    differs = relation(evaluate(left, k), evaluate(other, k)) != result
                    assert (k in record.excluded) == differs, (left, relation, other, k)
                    assert record.serves(k) != differs


def test_broadcasting_questions_decide_nothing():
    with symbolic.tracking() as record:
        assert not symbolic.is_one(n) and symbolic.is_one(1)
        assert symbolic.same_shape((n, 3), (Dim(1, 0), 3))
        assert not symbolic.same_shape((n, 3), (1, 3)) and not symbolic.same_shape((n,), (n, 1))
    assert record.excluded == {}
    with symbolic.tracking() as record:
        assert n != 1  # asked directly, it is decided, and size 1 is recorded
    assert record.excluded == {1: "n != 1 is False at n=1"}


def test_slice_length_matches_python_slicing_wherever_it_decides():
    bounds = [None, -5, -2, -1, 0, 1, 2, 5, n - 1, n, n + 2, 2 * n]
    for start in bounds:
        for stop in bounds:
            for step in (None, 1, 2, -1):
                size = 2 * n if step == 2 else n
                with symbolic.tracking() as record:
                    try:
                        length = symbolic.slice_length(start, stop, step, size)
                    except SymbolicDimError:
                        continue
                for k in range(40):
                    if not record.serves(k):
                        continue
                    s = slice(evaluate(start, k), evaluate(stop, k), step)
                    assert evaluate(length, k) == len(range(evaluate(size, k))[s]), (s, k)
    assert str(symbolic.slice_length(None, -1, None, n)) == "n-1"
    with pytest.raises(SymbolicDimError):
        symbolic.slice_length(None, 3, None, n)  # min(3, n) depends on n
    with pytest.raises(SymbolicDimError):
        symbolic.slice_length(None, None, 2, n)  # ceil(n / 2) is not affine
