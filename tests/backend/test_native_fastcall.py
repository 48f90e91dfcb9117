"""Fused loops called through the fastcall builtin give what ctypes calls gave.

One table of programs (views read in place, column blocks, scalars in every form a
graph passes them, several results, inputs whose order matters) runs through both
ways of calling; then the builtin's own contract: its errors, references, the GIL,
and the fallback to ctypes where it does not build. (Every kernel of the C table is
checked both ways in ``test_native.py``.)
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nerve.backend.numpy_backend import native
from nerve.backend.numpy_backend.native import fastcall
from nerve.backend.program import ElementwiseProgram, Step

pytestmark = pytest.mark.skipif(not fastcall.available(), reason="no fastcall builtin here")

F32, F64 = "float32", "float64"


def _program(shape, inputs, steps, results, **extra):
    return ElementwiseProgram(tuple(shape), tuple(inputs), tuple(steps), tuple(results), **extra)


def _binary(kernel, dtype, other_shape, shape=(40, 24)):
    """``a <kernel> b`` and ``b <kernel> a``: wrong if the inputs were passed swapped."""
    return _program(
        shape,
        [(shape, dtype), (other_shape, dtype)],
        [Step(kernel, (0, 1), (), dtype), Step(kernel, (1, 0), (), dtype)],
        [2, 3],
    )


def _cases():
    """name -> (program, inputs): each a way the wrapper prepares its arguments."""
    rng = np.random.default_rng(11)
    wide = rng.standard_normal((96, 96))
    a32 = rng.standard_normal((40, 24)).astype(F32)
    b32 = rng.standard_normal((40, 24)).astype(F32)
    row = rng.standard_normal(24).astype(F32)
    col = rng.standard_normal((40, 1)).astype(F32)
    ints = rng.integers(-1000, 1000, (40, 24))
    block = ((40, 24), F32)
    offsets = _program(
        (40, 24),
        [block, block, block],
        [Step("add", (0, 1), (), F32), Step("subtract", (3, 2), (), F32)],
        [4],
        offsets=(48, 0, None),
    )
    return {
        "full_full": (_binary("subtract", F32, (40, 24)), [a32, b32]),
        "full_row": (_binary("divide", F32, (24,)), [a32, row]),
        "full_col": (_binary("subtract", F32, (40, 1)), [a32, col]),
        "rows_apart": (_binary("subtract", F64, (40, 24)), [wide[:40, 24:48], wide[:80:2, :24]]),
        "transposed": (_binary("subtract", F64, (40, 24)), [wide[:24, :40].T, wide[:40, :24]]),
        "column_blocks": (offsets, [wide.astype(F32)[:40, 8:80], wide[:40, :72].astype(F32), b32]),
        "scalar_0d_array": (_binary("subtract", F32, ()), [a32, np.asarray(1.25, F32)]),
        "scalar_numpy": (_binary("subtract", F32, ()), [a32, np.float32(1.25)]),
        "scalar_other_dtype": (_binary("subtract", F32, ()), [a32, np.asarray(0.1, F64)]),
        "scalar_int64": (_binary("subtract", "int64", ()), [ints, np.int64(-(2**40))]),
        "scalar_int32": (_binary("subtract", "int32", ()), [ints.astype("int32"), np.int32(7)]),
        "scalar_bool": (
            _program(
                (40, 24),
                [((40, 24), "bool"), ((), "bool")],
                [Step("logical_and", (0, 1), (), "bool"), Step("logical_xor", (0, 1), (), "bool")],
                [2, 3],
            ),
            [ints > 0, np.True_],
        ),
        "one_dimensional": (
            _binary("subtract", F64, (1000,), shape=(1000,)),
            [wide.ravel()[:1000], wide.ravel()[-1000:]],
        ),
    }


CASES = _cases()


def _loop(program, fast: bool, monkeypatch):
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(fastcall, "bind", lambda *args, **kwargs: None)
        (loop,) = native.compile_elementwise([program], min_elements=0)
    assert loop is not None and loop.fast == fast
    return loop


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_builtin_gives_the_same_bits_as_ctypes(case, monkeypatch):
    program, inputs = CASES[case]
    outs = (None,) * len(program.results)
    expected = _loop(program, False, monkeypatch)(inputs, outs)
    actual = _loop(program, True, monkeypatch)(inputs, outs)
    for x, y in zip(actual, expected):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def test_inputs_reach_the_loop_in_order(monkeypatch):
    # (Against NumPy, in case both ways passed them alike but wrongly.)
    program, (a, b) = CASES["full_full"]
    forward, backward = _loop(program, True, monkeypatch)([a, b], (None, None))
    np.testing.assert_array_equal(forward, a - b)
    np.testing.assert_array_equal(backward, b - a)


def test_no_references_are_kept_or_dropped(monkeypatch):
    program, (a, _) = CASES["scalar_numpy"]
    scalar = np.float32(2.5)  # converted to an array per call
    out = np.empty((40, 24), F32)
    loop = _loop(program, True, monkeypatch)
    # (``arguments`` hands the scalar back as given; the entry needs an array.)
    ints, objects = loop.arguments((a, np.asarray(scalar)), (out, None))
    run = fastcall.bind(loop.packed, len(ints), len(objects))
    watched = (a, scalar, out, *ints, *objects)
    before = [sys.getrefcount(x) for x in watched]
    for _ in range(1000):
        loop((a, scalar), (out, None))
        run(ints, objects)
    assert [sys.getrefcount(x) for x in watched] == before


def _entry_and_arguments(monkeypatch):
    program, (a, b) = CASES["full_full"]
    loop = _loop(program, True, monkeypatch)
    ints, objects = loop.arguments((a, b), (np.empty_like(a), np.empty_like(a)))
    return fastcall.bind(loop.packed, len(ints), len(objects)), ints, objects


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda i, o: ((2**63, *i[1:]), o), OverflowError, r"int 0 .* does not fit in int64"),
        (
            lambda i, o: ((*i[:3], -(2**70), *i[4:]), o),
            OverflowError,
            r"int 3 .* does not fit in int64",
        ),
        (lambda i, o: ((*i[:2], 0.5, *i[3:]), o), TypeError, "integer"),
        (lambda i, o: (list(i), o), TypeError, r"two tuples: \(ints, objects\)"),
        (lambda i, o: (i,), TypeError, r"two tuples"),
        (
            lambda i, o: ((*i, 0), o),
            TypeError,
            r"takes (\d+) ints and 4 arrays, not (?!\1)\d+ and 4",
        ),
        (lambda i, o: (i, o[:3]), TypeError, r"takes (\d+) ints and 4 arrays, not \1 and 3"),
        (lambda i, o: (i, (*o[:3], 1.5)), TypeError, r"array 3 .* is a float, not a NumPy"),
        (
            lambda i, o: (i, (o[0], np.float32(1), *o[2:])),
            TypeError,
            r"array 1 .*numpy.float32, not a NumPy array",
        ),
    ],
    ids=[
        "past_int64",
        "below_int64",
        "float",
        "list",
        "one_argument",
        "more_ints",
        "fewer_arrays",
        "not_an_array",
        "a_numpy_scalar",
    ],
)
def test_bad_arguments_raise_clear_errors(change, error, message, monkeypatch):
    run, ints, objects = _entry_and_arguments(monkeypatch)
    with pytest.raises(error, match=message):
        run(*change(ints, objects))
    run(ints, objects)  # and the entry still runs


def test_long_loops_release_the_gil_and_short_ones_keep_it():
    # (Which one a bound call does is in its capsule's name: see fastcall.bind.)
    def name(**how):
        return repr(fastcall.bind(1, 4, 1, **how).__self__)

    assert "packed_entry_free" in name(work=fastcall.RELEASE_WORK)
    assert 'packed_entry"' in name(work=fastcall.RELEASE_WORK - 1)
    # (Entries with a result, hand-written loops' of unknown length: always.)
    assert "packed_entry_int_free" in name(returns=True)


def test_an_entry_takes_at_most_max_ints():
    assert fastcall.bind(1, fastcall.MAX_INTS, 1) is not None
    with pytest.raises(ValueError, match="0-64 ints"):
        fastcall.bind(1, fastcall.MAX_INTS + 1, 1)


def test_without_the_builtin_loops_are_called_through_ctypes(monkeypatch):
    program, (a, b) = CASES["full_full"]
    monkeypatch.setattr(fastcall, "_include_dirs", lambda: None)  # no Python.h
    fastcall._maker.cache_clear()
    try:
        assert not fastcall.available()
        (loop,) = native.compile_elementwise([program], min_elements=0)
    finally:
        fastcall._maker.cache_clear()
    assert not loop.fast
    forward, backward = loop([a, b], (None, None))
    np.testing.assert_array_equal(forward, a - b)
    np.testing.assert_array_equal(backward, b - a)


def test_native_loops_off_means_no_builtin(monkeypatch):
    monkeypatch.setenv("NERVE_NATIVE", "0")
    assert not fastcall.available() and fastcall.bind(1, 4, 1) is None
