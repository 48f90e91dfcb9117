"""Statistics (nerve/ops/statistics.py): one op-harness row per op and configuration;
special values (NaN at fixed positions, rows of only NaN) and errors below."""

import dataclasses

import numpy as np
import pytest

from nerve import ops
from nerve.core.errors import AxisError, ShapeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests


@dataclasses.dataclass(frozen=True)
class WithNaN(Input):
    """NaN at a few fixed flat positions (never a whole row of the shapes used here)."""

    positions: tuple = (1, 6, 7)

    def generate(self, rng, float_dtype):
        x = super().generate(rng, float_dtype)
        flat = x.reshape(-1)
        for i in self.positions:
            if i < flat.size:
                flat[i] = np.nan
        return flat.reshape(x.shape)


# (tag, axis, keepdims, shape)
AXES = [
    ("all", None, False, (3, 4)),
    ("ax1", 1, False, (3, 4)),
    ("neg_keep", -1, True, (2, 3, 4)),
    ("tuple", (0, 2), False, (2, 3, 4)),
]


def _dims(axis):
    return None if axis is None else axis


NAN_REDUCTIONS = [
    # name, numpy, torch(x, axis, keepdims) or None
    ("nansum", np.nansum, lambda x, a, k: T.nansum(x, dim=_dims(a), keepdim=k)),
    ("nanprod", np.nanprod, None),
    ("nanmean", np.nanmean, lambda x, a, k: T.nanmean(x, dim=_dims(a), keepdim=k)),
    ("nanvar", np.nanvar, None),
    ("nanstd", np.nanstd, None),
    ("nanmax", np.nanmax, None),
    ("nanmin", np.nanmin, None),
]


def nan_reduction_cases():
    cases = []
    for name, np_fn, t_fn in NAN_REDUCTIONS:
        op = getattr(ops, name)
        for tag, axis, keepdims, shape in AXES:
            cases.append(
                OpCase(
                    f"{name}_{tag}",
                    lambda x, op=op, a=axis, k=keepdims: op(x, axis=a, keepdims=k),
                    [(WithNaN(shape),), (Input(shape),)],
                    numpy=lambda x, f=np_fn, a=axis, k=keepdims: f(x, axis=a, keepdims=k),
                    torch=None
                    if t_fn is None
                    else (lambda x, f=t_fn, a=axis, k=keepdims: f(x, a, k)),
                )
            )
    return cases


def _np_nanarg(fn, axis, keepdims):
    def ref(x):
        out = fn(x, axis=axis)
        return np.expand_dims(out, axis) if keepdims and axis is not None else out

    return ref


def arg_cases():
    cases = []
    for name, np_fn in (("nanargmax", np.nanargmax), ("nanargmin", np.nanargmin)):
        op = getattr(ops, name)
        for tag, axis, keepdims in (("all", None, False), ("ax0", 0, False), ("ax1_keep", 1, True)):
            cases.append(
                OpCase(
                    f"{name}_{tag}",
                    lambda x, op=op, a=axis, k=keepdims: op(x, axis=a, keepdims=k),
                    [(WithNaN((3, 4)),), (Input((2, 5)),)],
                    numpy=_np_nanarg(np_fn, axis, keepdims),
                    grad=False,
                )
            )
    return cases


def _t_quantile(fn, q, axis, method, keepdims=False):
    def ref(x):
        dim = axis
        if axis is None:
            x, dim = x.reshape(-1), 0
        return fn(x, T.tensor(q, dtype=x.dtype), dim=dim, keepdim=keepdims, interpolation=method)

    return ref


QUANTILES = [
    # tag, q, axis, method, keepdims
    ("linear", [0.1, 0.5, 0.9], 1, "linear", False),
    ("lower_keep", 0.3, -1, "lower", True),
    ("higher_all", 0.7, None, "higher", False),
    ("midpoint", [0.25, 0.75], 0, "midpoint", False),
    ("nearest", 0.4, (0, 2), "nearest", True),
]


def quantile_cases():
    cases = []
    for tag, q, axis, method, keepdims in QUANTILES:
        shape = (2, 3, 4) if axis == (0, 2) else (3, 5)
        torch_ok = not isinstance(axis, tuple)
        cases.append(
            OpCase(
                f"nanquantile_{tag}",
                lambda x, q=q, a=axis, m=method, k=keepdims: ops.nanquantile(x, q, a, m, k),
                [(WithNaN(shape, positions=(1, 6, 8)),), (Input(shape),)],
                numpy=lambda x, q=q, a=axis, m=method, k=keepdims: np.nanquantile(
                    x, q, axis=a, method=m, keepdims=k
                ),
                torch=_t_quantile(T.nanquantile, q, axis, method, keepdims) if torch_ok else None,
            )
        )
        cases.append(
            OpCase(
                f"percentile_{tag}",
                lambda x, q=q, a=axis, m=method, k=keepdims: ops.percentile(
                    x, np.multiply(q, 100).tolist(), a, m, k
                ),
                [(Input(shape),)],
                numpy=lambda x, q=q, a=axis, m=method, k=keepdims: np.percentile(
                    x, np.multiply(q, 100), axis=a, method=m, keepdims=k
                ),
                torch=_t_quantile(T.quantile, q, axis, method, keepdims) if torch_ok else None,
            )
        )
    return cases


def _t_diff(n, axis):
    def ref(x):
        for _ in range(n):
            x = T.diff(x, dim=axis)
        return x

    return ref


CASES = [
    *nan_reduction_cases(),
    *arg_cases(),
    *quantile_cases(),
    OpCase(
        "nanmedian",
        lambda x: ops.nanmedian(x, axis=1),
        [(WithNaN((3, 5), positions=(1, 6, 8)),), (Input((4, 4)),)],
        numpy=lambda x: np.nanmedian(x, axis=1),
    ),
    OpCase(
        "nanpercentile",
        lambda x: ops.nanpercentile(x, [20, 80], axis=0),
        [(WithNaN((5, 3)),)],
        numpy=lambda x: np.nanpercentile(x, [20, 80], axis=0),
    ),
    OpCase(
        "nancumsum",
        lambda x: ops.nancumsum(x, axis=1),
        [(WithNaN((3, 4)),), (Input((2, 5)),)],
        numpy=lambda x: np.nancumsum(x, axis=1),
    ),
    OpCase(
        "nancumprod_flat",
        lambda x: ops.nancumprod(x),
        [(WithNaN((3, 4)),)],
        numpy=lambda x: np.nancumprod(x),
    ),
    OpCase(
        "amax",
        lambda x: ops.amax(x, axis=0),
        [(Input((3, 4)),)],
        numpy=lambda x: np.amax(x, axis=0),
        torch=lambda x: T.amax(x, dim=0),
    ),
    OpCase(
        "amin_keep",
        lambda x: ops.amin(x, axis=-1, keepdims=True),
        [(Input((3, 4)),)],
        numpy=lambda x: np.amin(x, axis=-1, keepdims=True),
        torch=lambda x: T.amin(x, dim=-1, keepdim=True),
    ),
    OpCase(
        "ptp",
        lambda x: ops.ptp(x, axis=1),
        [(Input((3, 4)),), (Input((2, 3, 4)),)],
        numpy=lambda x: np.ptp(x, axis=1),
    ),
    OpCase(
        "ptp_int",
        lambda x: ops.ptp(x),
        [(Input((3, 4), "int", -5, 5),)],
        numpy=lambda x: np.ptp(x),
    ),
    *[
        OpCase(
            f"diff_n{n}_ax{axis}",
            lambda x, n=n, a=axis: ops.diff(x, n=n, axis=a),
            [(Input((4, 5)),), (Input((3, 6, 2)),)],
            numpy=lambda x, n=n, a=axis: np.diff(x, n=n, axis=a),
            torch=_t_diff(n, axis),
        )
        for n, axis in ((1, -1), (2, 0), (0, 1))
    ],
    OpCase(
        "diff_int",
        lambda x: ops.diff(x),
        [(Input((6,), "int", -9, 9),)],
        numpy=np.diff,
    ),
    OpCase(
        "trapezoid_dx",
        lambda y: ops.trapezoid(y, dx=0.5, axis=0),
        [(Input((5, 3)),)],
        numpy=lambda y: np.trapezoid(y, dx=0.5, axis=0),
        torch=lambda y: T.trapezoid(y, dx=0.5, dim=0),
    ),
    OpCase(
        "trapezoid_x",
        lambda y, x: ops.trapezoid(y, x),
        [(Input((3, 5)), Input((5,))), (Input((3, 5)), Input((3, 5)))],
        numpy=lambda y, x: np.trapezoid(y, x),
        torch=lambda y, x: T.trapezoid(y, x),
    ),
    OpCase(
        "corrcoef",
        ops.corrcoef,
        [(Input((3, 6)),), (Input((2, 4)),)],
        numpy=np.corrcoef,
        torch=T.corrcoef,
    ),
    *[
        OpCase(
            f"correlate_{mode}",
            lambda a, v, m=mode: ops.correlate(a, v, mode=m),
            [(Input((6,)), Input((3,))), (Input((3,)), Input((5,))), (Input((4,)), Input((4,)))],
            numpy=lambda a, v, m=mode: np.correlate(a, v, mode=m),
        )
        for mode in ("valid", "same", "full")
    ],
    OpCase(
        "histogram",
        lambda x: ops.histogram(x, bins=5),
        [(Input((40,)),), (Input((1,)),)],
        numpy=lambda x: np.histogram(x, bins=5),
        grad=False,
        compiled=False,  # the default range is read from the values
        rtol=1e-6,
        symbolic=False,  # the bin edges depend on the input's values
    ),
    OpCase(
        "histogram_range",
        lambda x: ops.histogram(x, bins=4, range=(-1.0, 1.5)),
        [(Input((30,)),)],
        numpy=lambda x: np.histogram(x, bins=4, range=(-1.0, 1.5)),
        grad=False,
        symbolic=False,  # the bin edges depend on the input's values
    ),
]

globals().update(op_tests(CASES))


# -- special values ------------------------------------------------------------------------------

ALL_NAN = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])


@pytest.mark.parametrize(
    "name,expected",
    [
        ("nansum", [4.0, 0.0]),
        ("nanprod", [3.0, 1.0]),
        ("nanmean", [2.0, np.nan]),
        ("nanvar", [1.0, np.nan]),
        ("nanmax", [3.0, np.nan]),
        ("nanmin", [1.0, np.nan]),
        ("nanmedian", [2.0, np.nan]),
        ("nanargmax", [2, -1]),
        ("nanargmin", [0, -1]),
    ],
)
def test_rows_of_only_nan(name, expected):
    # NumPy's answers, except nanarg*, where Keras's backends give -1 (NumPy raises).
    result = getattr(ops, name)(ALL_NAN, axis=1).numpy()
    np.testing.assert_array_equal(result, np.array(expected, dtype=result.dtype))


@pytest.mark.parametrize("median", [ops.median, ops.nanmedian])
@pytest.mark.parametrize(
    "values",
    [[np.inf, 1.0, np.inf], [np.inf], [1.0, np.inf], [-np.inf, 2.0, 3.0, 4.0], [-np.inf, -np.inf]],
)
def test_medians_of_infinities_are_numpys(median, values):
    # The mean of the middle two: inf with inf stays inf (an interpolation would give NaN).
    reference = np.median if median is ops.median else np.nanmedian
    np.testing.assert_array_equal(median(np.array(values)).numpy(), reference(values))


def test_nanmedian_over_no_axes_is_the_input():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.inf, -np.inf]])
    np.testing.assert_array_equal(ops.nanmedian(x, axis=()).numpy(), x)


def test_nan_reductions_of_integers_are_the_plain_ones():
    x = np.array([[3, 1], [2, 5]], dtype="int32")
    assert ops.nanmax(x).numpy() == 5 and ops.nanargmin(x, axis=1).numpy().tolist() == [1, 0]
    assert ops.nansum(x).dtype == "int32"
    assert ops.nanmean(x).dtype == "float32"


def test_histogram_of_one_repeated_value_uses_a_unit_range():
    counts, edges = ops.histogram(np.full(4, 2.0), bins=2)
    np.testing.assert_array_equal(counts.numpy(), [0, 4])
    np.testing.assert_allclose(edges.numpy(), [1.5, 2.0, 2.5])


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: ops.nanquantile(np.ones(3), 0.5, method="cubic"), ValueError, "method"),
        (lambda: ops.nanquantile(np.ones((0, 2)), 0.5, axis=0), ShapeError, "empty"),
        (lambda: ops.nanmean(np.ones((2, 2)), axis=2), AxisError, "axis"),
        (lambda: ops.diff(np.ones(3), n=-1), ValueError, "non-negative"),
        (lambda: ops.diff(np.float32(1.0)), ShapeError, "1-D"),
        (lambda: ops.histogram(np.ones(3), bins=2.5), TypeError, "`bins` must be of type `int`"),
        (
            lambda: ops.histogram(np.ones(3), bins=-1),
            ValueError,
            "Argument `bins` should be a non-negative integer, got -1",
        ),
        (
            lambda: ops.histogram(np.ones((2, 2))),
            ShapeError,
            r"Input tensor must be 1-dimensional, got shape \(2, 2\)",
        ),
        (
            lambda: ops.histogram(np.ones(3), range=(2.0, 1.0)),
            ValueError,
            "The second element of `range` must be greater than the first",
        ),
        (
            lambda: ops.histogram(np.ones(3), range=[0.0, 1.0]),
            ValueError,
            "Argument `range` must be a tuple of two elements",
        ),
        (lambda: ops.histogram(np.ones(3), range=(1,)), ValueError, "tuple of two elements"),
        (lambda: ops.correlate(np.ones(3), np.ones(2), mode="circular"), ValueError, "mode"),
        (lambda: ops.correlate(np.ones((2, 2)), np.ones(2)), ShapeError, "1-D"),
        (lambda: ops.corrcoef(np.ones((2, 2, 2))), ShapeError, "1-D or 2-D"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    "fn,args,dtype",
    [
        (ops.corrcoef, (np.ones((2, 3), "int64"),), "float64"),
        (ops.corrcoef, (np.ones((2, 3), "int32"),), "float32"),
        (ops.corrcoef, (np.ones((2, 3), "float16"),), "float16"),
        (ops.correlate, (np.ones(3, "float16"), np.ones(2, "int8")), "float16"),
        (ops.correlate, (np.ones(3, "int32"), np.ones(2, "int32")), "float32"),
        (ops.correlate, (np.ones(3, "int64"), np.ones(2, "int8")), "float64"),
        (ops.nanmean, (np.ones(3, "int32"),), "float32"),
        (ops.histogram, (np.ones(3, "float16"),), "int32"),
    ],
)
def test_result_dtypes_follow_keras(fn, args, dtype):
    result = fn(*args)
    assert (result[0] if isinstance(result, tuple) else result).dtype == dtype
