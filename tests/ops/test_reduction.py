"""Reductions and scans: one table of rows; the harness does the checking.

Each op is declared over several axis configurations (None, int, negative, tuple,
with and without keepdims); special inputs (ties for max/min, zeros for prod and
cumprod, large values for logsumexp) come from ``Input`` subclasses below.
"""

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

from nerve import ops
from nerve.core.errors import AxisError, ShapeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests


@dataclasses.dataclass(frozen=True)
class Tied(Input):
    """Each row along the last axis has its extremum (max, or min when ``sign`` is -1)
    at exactly two entries, and no two rows share it: every tie is two-way, where
    central differences see the evenly split gradient."""

    sign: float = 1.0

    def generate(self, rng, float_dtype):
        x = super().generate(rng, float_dtype)
        if x.ndim and x.shape[-1] >= 2:
            rows = np.arange(int(np.prod(x.shape[:-1]))).reshape(x.shape[:-1])
            x[..., 0] = x[..., 1] = self.sign * (3.0 + 0.25 * rows)
        return x


@dataclasses.dataclass(frozen=True)
class WithZeros(Input):
    """Entries at a few fixed flat positions set to exactly zero."""

    zeros: tuple = (1,)

    def generate(self, rng, float_dtype):
        x = super().generate(rng, float_dtype)
        flat = x.reshape(-1)
        for i in self.zeros:
            if i < flat.size:
                flat[i] = 0
        return flat.reshape(x.shape)


# (tag, axis, keepdims, shapes); every shape fits the axis.
AXES = [
    ("all", None, False, [(3, 4), (), (1, 5)]),
    ("ax1", 1, False, [(3, 4), (2, 1, 3)]),
    ("neg_keep", -1, True, [(3, 4), (5,)]),
    ("tuple", (0, 2), False, [(2, 3, 4), (3, 1, 2)]),
    ("tuple_neg_keep", (-1, 0), True, [(2, 3, 4)]),
]
# Empty axes: reduced (sum of nothing) and kept (nothing to reduce).
EMPTY = [("empty_reduced", 0, False, [(0, 3)]), ("empty_kept", -1, True, [(0, 3)])]


def _torch_dims(axis):
    """torch's ``dim`` for our ``axis``; ``()`` reduces everything in amax/logsumexp."""
    if axis is None:
        return ()
    return axis if isinstance(axis, tuple) else (axis,)


def _t_sum(x, axis, keepdims):
    return T.sum(x, dim=_torch_dims(axis) or None, keepdim=keepdims)


def _t_prod(x, axis, keepdims):
    # torch.prod takes one dim: reduce one axis at a time, then drop the kept axes.
    dims = [d % x.ndim for d in _torch_dims(axis)] if axis is not None else range(x.ndim)
    out = x
    for d in sorted(dims, reverse=True):
        out = T.prod(out, dim=d, keepdim=True)
    if not keepdims:
        out = out.reshape([n for i, n in enumerate(out.shape) if i not in set(dims)])
    return out


def _t_var(x, axis, keepdims):
    return T.var(x, dim=_torch_dims(axis) or None, correction=0, keepdim=keepdims)


def _np_logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


class Reduction(NamedTuple):
    name: str
    op: Callable
    numpy: Callable
    torch: Callable  # torch(x, axis, keepdims)
    empty_ok: bool = False  # defined over an empty axis
    grad2: bool = True


REDUCTIONS = [
    Reduction("sum", ops.sum, np.sum, _t_sum, empty_ok=True),
    Reduction("mean", ops.mean, np.mean, lambda x, a, k: T.mean(x, _torch_dims(a), keepdim=k)),
    Reduction("max", ops.max, np.max, lambda x, a, k: T.amax(x, _torch_dims(a), keepdim=k)),
    Reduction(
        "min", ops.min, np.min, lambda x, a, k: T.amin(x, _torch_dims(a), keepdim=k), grad2=False
    ),
    Reduction("prod", ops.prod, np.prod, _t_prod, empty_ok=True),
    Reduction("var", ops.var, np.var, _t_var),
    Reduction(
        "std",
        ops.std,
        np.std,
        lambda x, a, k: T.std(x, dim=_torch_dims(a) or None, correction=0, keepdim=k),
        grad2=False,
    ),
    Reduction(
        "logsumexp",
        ops.logsumexp,
        _np_logsumexp,
        lambda x, a, k: T.logsumexp(x, dim=_torch_dims(a), keepdim=k),
    ),
]


def _reduced_count(shape, axis):
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    return int(np.prod([shape[a] for a in axes]))


def reduction_cases():
    cases = []
    for name, op, np_fn, t_fn, empty_ok, grad2 in REDUCTIONS:
        for tag, axis, keepdims, shapes in AXES + (EMPTY if empty_ok else []):
            if name == "logsumexp" and axis is None:
                continue  # torch.logsumexp needs dims; covered by the "large" row below
            if name == "std":
                # The gradient of sqrt at a zero variance (one entry) is infinite.
                shapes = [s for s in shapes if _reduced_count(s, axis) > 1]
            cases.append(
                OpCase(
                    f"{name}_{tag}",
                    lambda x, op=op, a=axis, k=keepdims: op(x, axis=a, keepdims=k),
                    [(Input(s),) for s in shapes],
                    numpy=lambda x, f=np_fn, a=axis, k=keepdims: f(x, axis=a, keepdims=k),
                    torch=lambda x, f=t_fn, a=axis, k=keepdims: f(x, a, k),
                    grad2=grad2 and tag in ("ax1", "tuple"),
                )
            )
    return cases


def arg_cases():
    cases = []
    for name, op, np_fn, t_fn in [
        ("argmax", ops.argmax, np.argmax, T.argmax),
        ("argmin", ops.argmin, np.argmin, T.argmin),
    ]:
        for tag, axis, keepdims, shapes in [
            ("all", None, False, [(3, 4), (5,), ()]),
            ("all_keep", None, True, [(3, 4)]),
            ("ax0", 0, False, [(3, 4), (4, 0)]),
            ("neg_keep", -1, True, [(2, 3, 4)]),
        ]:
            cases.append(
                OpCase(
                    f"{name}_{tag}",
                    lambda x, op=op, a=axis, k=keepdims: op(x, axis=a, keepdims=k),
                    [(Tied(s, sign=1.0 if name == "argmax" else -1.0),) for s in shapes],
                    numpy=lambda x, f=np_fn, a=axis, k=keepdims: f(x, axis=a, keepdims=k),
                    torch=(lambda x, f=t_fn, a=axis, k=keepdims: f(x, dim=a, keepdim=k))
                    if axis is not None
                    else (lambda x, f=t_fn, k=keepdims: f(x, dim=None, keepdim=k)),
                    grad=False,
                )
            )
    return cases


def _flat(x, axis):
    return x.reshape(-1) if axis is None else x


def scan_cases():
    cases = []
    for name, op, np_fn, t_fn in [
        ("cumsum", ops.cumsum, np.cumsum, T.cumsum),
        ("cumprod", ops.cumprod, np.cumprod, T.cumprod),
    ]:
        for tag, axis, shapes in [
            ("flat", None, [(3, 4), (), (0,)]),
            ("ax0", 0, [(3, 4), (1, 2), (0, 3)]),
            ("neg", -1, [(2, 3, 4), (5,)]),
        ]:
            cases.append(
                OpCase(
                    f"{name}_{tag}",
                    lambda x, op=op, a=axis: op(x, axis=a),
                    [(Input(s),) for s in shapes],
                    numpy=lambda x, f=np_fn, a=axis: f(x, axis=a),
                    torch=lambda x, f=t_fn, a=axis: f(_flat(x, a), dim=0 if a is None else a),
                    grad2=tag == "neg",
                )
            )
    return cases


CASES = [
    *reduction_cases(),
    *arg_cases(),
    *scan_cases(),
    # Ties: the gradient is split evenly among the entries attaining the extremum.
    OpCase(
        "max_ties",
        lambda x: ops.max(x, axis=-1),
        [(Tied((3, 4)),), (Tied((2, 2, 5)),)],
        numpy=lambda x: np.max(x, axis=-1),
        torch=lambda x: T.amax(x, dim=-1),
        # No grad2: moving x splits the tie, so the gradient jumps there.
    ),
    OpCase(
        "max_ties_all",
        ops.max,
        [(Tied((3, 4)),)],
        numpy=np.max,
        torch=lambda x: T.amax(x),
    ),
    OpCase(
        "min_ties",
        lambda x: ops.min(x, axis=(0, 1), keepdims=True),
        [(Tied((3, 4), sign=-1.0),), (Tied((1, 3), sign=-1.0),)],
        numpy=lambda x: np.min(x, axis=(0, 1), keepdims=True),
        torch=lambda x: T.amin(x, dim=(0, 1), keepdim=True),
    ),
    # Zeros: prod and cumprod gradients without dividing by the input.
    OpCase(
        "prod_zeros",
        lambda x: ops.prod(x, axis=-1),
        [
            (WithZeros((3, 4), zeros=(1,)),),  # one zero in the first row
            (WithZeros((3, 4), zeros=(4, 6)),),  # two zeros in one row: all-zero gradient
            (WithZeros((2, 3), zeros=(0, 1, 2, 3, 4, 5)),),
        ],
        numpy=lambda x: np.prod(x, axis=-1),
        torch=lambda x: T.prod(x, dim=-1),
        grad2=True,
    ),
    OpCase(
        "prod_zeros_tuple",
        lambda x: ops.prod(x, axis=(0, 2)),
        [(WithZeros((2, 3, 2), zeros=(3,)),)],
        numpy=lambda x: np.prod(x, axis=(0, 2)),
        torch=lambda x: _t_prod(x, (0, 2), False),
        grad2=True,
    ),
    OpCase(
        "cumprod_zeros",
        lambda x: ops.cumprod(x, axis=-1),
        [
            (WithZeros((3, 5), zeros=(2,)),),  # one zero mid-row
            (WithZeros((3, 5), zeros=(5, 8, 9, 14)),),  # several zeros, two adjacent
            (WithZeros((4,), zeros=(0,)),),  # the first entry
        ],
        numpy=lambda x: np.cumprod(x, axis=-1),
        torch=lambda x: T.cumprod(x, dim=-1),
        grad2=True,
    ),
    # Stability: exp(1000) overflows, the shifted form does not.
    OpCase(
        "logsumexp_large",
        ops.logsumexp,
        [(Input((3, 4), low=995.0, high=1005.0),), (Input((5,), low=-1005.0, high=-995.0),)],
        numpy=lambda x: _np_logsumexp(x, None, False),
        torch=lambda x: T.logsumexp(x.reshape(-1), dim=0),
        grad2=True,
    ),
    OpCase(
        "logsumexp_large_axis",
        lambda x: ops.logsumexp(x, axis=0, keepdims=True),
        [(Input((3, 4), low=995.0, high=1005.0),)],
        numpy=lambda x: _np_logsumexp(x, 0, True),
        torch=lambda x: T.logsumexp(x, dim=0, keepdim=True),
    ),
    # Boolean reductions.
    *[
        OpCase(
            f"{name}_{tag}",
            lambda x, op=op, a=axis, k=keepdims: op(x, axis=a, keepdims=k),
            [(Input(s, "bool"),) for s in shapes],
            numpy=lambda x, f=np_fn, a=axis, k=keepdims: f(x, axis=a, keepdims=k),
            torch=lambda x, f=t_fn, a=axis, k=keepdims: (
                f(x) if a is None else f(x, dim=a, keepdim=k)
            ),
            grad=False,
        )
        for name, op, np_fn, t_fn in [
            ("any", ops.any, np.any, T.any),
            ("all", ops.all, np.all, T.all),
        ]
        for tag, axis, keepdims, shapes in [
            ("all", None, False, [(3, 4), (0, 2), ()]),
            ("ax1", 1, False, [(3, 4), (2, 0)]),
            ("tuple_keep", (0, -1), True, [(2, 3, 4)]),
        ]
    ],
]


def _t_quantile(q, axis, method, keepdims=False):
    def fn(x):
        out = T.quantile(
            x if axis is not None else x.reshape(-1),
            T.tensor(q, dtype=x.dtype),
            dim=axis if axis is not None else 0,
            interpolation=method,
            keepdim=keepdims,
        )
        return out

    return fn


QUANTILES = [
    # (tag, q, axis, method, keepdims, shapes, torch?)
    ("linear_all", 0.3, None, "linear", False, [(3, 4), (5,), ()], True),
    ("linear_vector_ax", [0.1, 0.5, 0.95], 1, "linear", False, [(3, 4), (2, 1, 3)], True),
    ("linear_neg_keep", [0.25, 0.8], -1, "linear", True, [(3, 4)], True),
    ("linear_tuple", 0.6, (0, 2), "linear", False, [(2, 3, 4)], False),
    ("linear_tuple_keep", [0.2, 0.7], (0, -1), "linear", True, [(2, 3, 4)], False),
    *(
        (method, [0.3, 0.55, 1.0], 0, method, False, [(5, 2), (4, 3)], True)
        for method in ("lower", "higher", "midpoint", "nearest")
    ),
]

CASES += [
    OpCase(
        f"quantile_{tag}",
        lambda x, q=q, a=axis, m=method, k=keepdims: ops.quantile(x, q, a, m, k),
        [(Input(s),) for s in shapes],
        numpy=lambda x, q=q, a=axis, m=method, k=keepdims: np.quantile(
            x, q, axis=a, method=m, keepdims=k
        ),
        torch=(
            _t_quantile(q, axis, method, keepdims)
            if use_torch and not (keepdims and axis is None)
            else None
        ),
        grad2=tag == "linear_all",
    )
    for tag, q, axis, method, keepdims, shapes, use_torch in QUANTILES
]
CASES += [
    OpCase(
        "quantile_q_tensor",
        lambda x, q: ops.quantile(x, q, axis=-1),
        [(Input((3, 6)), Input((4,), low=0.05, high=0.95))],
        numpy=lambda x, q: np.quantile(x, q, axis=-1),
        torch=lambda x, q: T.quantile(x, q, dim=-1),
    ),
    OpCase(
        "median",
        ops.median,
        [(Input((3, 4)),), (Input((5,)),), (Input(()),)],
        numpy=np.median,
        torch=lambda x: T.quantile(x.reshape(-1), 0.5),
        grad2=True,
    ),
    OpCase(
        "median_axis_keep",
        lambda x: ops.median(x, axis=-2, keepdims=True),
        [(Input((3, 4)),), (Input((2, 5, 3)),)],
        numpy=lambda x: np.median(x, axis=-2, keepdims=True),
        torch=lambda x: T.quantile(x, 0.5, dim=-2, keepdim=True),
    ),
    OpCase(
        "average_plain",
        lambda x: ops.average(x, axis=1),
        [(Input((3, 4)),), (Input((2, 1, 3)),)],
        numpy=lambda x: np.average(x, axis=1),
        torch=lambda x: T.mean(x, dim=1),
    ),
    OpCase(
        "average_weights",
        lambda x, w: ops.average(x, axis=None, weights=w),
        [(Input((3, 4)), Input((3, 4), "positive")), (Input((5,)), Input((5,), "positive"))],
        numpy=lambda x, w: np.average(x, weights=w),
        torch=lambda x, w: (x * w).sum() / w.sum(),
        grad2=True,
    ),
    OpCase(
        "average_weights_1d_along_axis",
        lambda x, w: ops.average(x, axis=-2, weights=w),
        [
            (Input((2, 3, 4)), Input((3,), "positive")),
            (Input((3, 0)), Input((3,), "positive")),
            (Input((1, 2)), Input((1,), "positive")),
        ],
        numpy=lambda x, w: np.average(x, axis=-2, weights=w),
        torch=lambda x, w: (x * w[:, None]).sum(-2) / w.sum(),
    ),
    OpCase(
        "average_weights_tuple_axis",
        lambda x, w: ops.average(x, axis=(0, 2), weights=w),
        [(Input((2, 3, 4)), Input((2, 3, 4), "positive"))],
        numpy=lambda x, w: np.average(x, axis=(0, 2), weights=w),
        torch=lambda x, w: (x * w).sum((0, 2)) / w.sum((0, 2)),
    ),
    *(
        OpCase(
            f"count_nonzero_{tag}",
            lambda x, a=axis: ops.count_nonzero(ops.round(x), axis=a),
            [(Input(s),) for s in shapes],
            numpy=lambda x, a=axis: np.count_nonzero(np.round(x), axis=a),
            torch=lambda x, a=axis: T.count_nonzero(T.round(x), dim=a),
            grad=False,
        )
        for tag, axis, shapes in [
            ("all", None, [(3, 4), (0, 2), ()]),
            ("ax", -1, [(3, 4), (2, 0)]),
            ("tuple", (0, 2), [(2, 3, 4)]),
        ]
    ),
]

globals().update(op_tests(CASES))


# -- dtypes (Keras's rules) ----------------------------------------------------------


@pytest.mark.parametrize(
    "fn,value,dtype",
    [
        (ops.sum, np.array([True, True, False]), "int32"),
        (ops.sum, np.array([1, 2], "int8"), "int32"),
        (ops.sum, np.array([1, 2], "int64"), "int64"),
        (ops.prod, np.array([3, 4], "int16"), "int32"),
        (ops.mean, np.array([1, 2], "int32"), "float32"),
        (ops.var, np.array([1, 2], "int32"), "float32"),
        (ops.std, np.array([1, 2], "int32"), "float32"),
        (ops.logsumexp, np.array([1, 2], "int32"), "float32"),
        (ops.max, np.array([1, 5], "int32"), "int32"),
        (ops.argmax, np.array([1.0, 5.0]), "int32"),
        (ops.argmin, np.array([1, 5], "int64"), "int32"),
        (ops.any, np.array([0.0, 2.0]), "bool"),
        (ops.all, np.array([1, 2]), "bool"),
        (ops.cumsum, np.array([True, True]), "int32"),
        (ops.cumsum, np.array([1, 2], "int8"), "int8"),
        (ops.cumprod, np.array([1.0, 2.0], "float16"), "float16"),
    ],
)
def test_result_dtype(fn, value, dtype):
    out = fn(ops.convert_to_tensor(value))
    assert out.dtype == dtype
    expected = {"int32": np.int32}.get(dtype)
    if expected is not None:
        assert out.numpy().dtype == expected


def test_counts_and_values():
    x = ops.convert_to_tensor([[True, False, True], [False, False, True]])
    np.testing.assert_array_equal(ops.sum(x, axis=0).numpy(), [1, 0, 2])
    np.testing.assert_array_equal(ops.cumsum(x, axis=1).numpy(), [[1, 1, 2], [0, 0, 1]])
    np.testing.assert_array_equal(ops.any(ops.convert_to_tensor([0, 3])).numpy(), True)
    assert ops.cumsum(ops.ones((2, 3)), dtype="float64").dtype == "float64"


def test_logsumexp_infinities():
    # All -inf: log(0) = -inf, with no nan from -inf - -inf.
    x = ops.convert_to_tensor([[-np.inf, -np.inf], [0.0, -np.inf]])
    with np.errstate(divide="ignore"):  # NumPy warns on log(0)
        out = ops.logsumexp(x, axis=1).numpy()
    np.testing.assert_array_equal(out, [-np.inf, 0.0])
    big = ops.convert_to_tensor(np.array([1000.0, 1000.0], "float32"))
    np.testing.assert_allclose(float(ops.logsumexp(big)), 1000 + np.log(2), rtol=1e-6)


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn,name",
    [
        (ops.sum, "sum"),
        (ops.mean, "mean"),
        (ops.max, "max"),
        (ops.prod, "prod"),
        (ops.var, "var"),
        (ops.logsumexp, "logsumexp"),
        (ops.any, "any"),
        (ops.argmax, "argmax"),
        (ops.cumsum, "cumsum"),
        (ops.cumprod, "cumprod"),
    ],
)
def test_bad_axis_names_op_axis_and_rank(fn, name):
    with pytest.raises(AxisError, match=rf"{name}: axis 2 is out of range .* rank 2"):
        fn(ops.ones((2, 3)), axis=2)


def test_repeated_axis():
    with pytest.raises(AxisError, match=r"sum: repeated axis in \(1, -1\)"):
        ops.sum(ops.ones((2, 3)), axis=(1, -1))


@pytest.mark.parametrize("fn,name", [(ops.max, "max"), (ops.min, "min"), (ops.argmax, "argmax")])
def test_extremum_of_empty_axis(fn, name):
    with pytest.raises(
        ShapeError, match=rf"{name}: cannot reduce over axis 0 of size 0 .*\(0, 3\)"
    ):
        fn(ops.ones((0, 3)), axis=0)


def test_quantile_errors_name_op():
    x = ops.ones((2, 3))
    with pytest.raises(ValueError, match=r"quantile: method must be one of"):
        ops.quantile(x, 0.5, method="cubic")
    with pytest.raises(
        ShapeError, match=r"quantile: q must be a scalar or 1-D, got shape \(1, 1\)"
    ):
        ops.quantile(x, [[0.5]])
    with pytest.raises(ShapeError, match=r"quantile: cannot take a quantile over an empty axis"):
        ops.quantile(ops.ones((0, 3)), 0.5, axis=0)
    with pytest.raises(
        ShapeError, match=r"average: weights of shape \(2,\) do not fit x of shape \(2, 3\)"
    ):
        ops.average(x, axis=1, weights=[1.0, 2.0])


def test_count_nonzero_is_int32_and_median_of_ints_is_float():
    assert ops.count_nonzero(ops.convert_to_tensor([0.0, 2.0])).dtype == "int32"
    assert float(ops.median(ops.convert_to_tensor([1, 4, 2, 8]))) == 3.0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize(
    "fn,expected",
    [
        (ops.mean, 65504.0),
        (ops.var, 0.0),
        (ops.std, 0.0),
        (lambda x: ops.moments(x, axes=0)[0], 65504.0),
        (lambda x: ops.moments(x, axes=0)[1], 0.0),
    ],
)
def test_half_precision_accumulates_in_float32(fn, expected, dtype):
    # Summed in float16, [65504] * 3 overflows to inf on the way to the mean (Keras: 65504).
    x = ops.convert_to_tensor([65504.0] * 3, dtype=dtype)
    out = fn(x)
    assert out.dtype == dtype
    np.testing.assert_allclose(np.float32(out.numpy()), expected, rtol=1e-2)


def test_half_precision_sum_rounds_once():
    # 2048 + 1 + 1 in float16 steps is 2048 (each +1 rounds away); in float32 it is 2050.
    x = ops.convert_to_tensor([2048.0, 1.0, 1.0], dtype="float16")
    assert float(ops.sum(x)) == 2050.0


@pytest.mark.parametrize(
    "dtype,expected", [("uint8", "uint32"), ("uint16", "uint32"), ("uint32", "uint32")]
)
def test_unsigned_sums_widen_to_uint32(dtype, expected):
    assert ops.sum(ops.convert_to_tensor([1, 2], dtype=dtype)).dtype == expected


@pytest.mark.parametrize("fn", [ops.max, ops.min])
def test_extremum_of_bools_with_an_initial_stays_bool(fn):
    out = fn(ops.convert_to_tensor([True, False]), initial=1)
    assert out.dtype == "bool" and bool(out) is (fn is ops.max)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("fn,initial", [(ops.max, 1.5), (ops.min, -2.0)])
def test_extremum_over_an_empty_axis_is_initial(fn, initial, keepdims):
    out = fn(np.zeros((0, 3), "float32"), axis=0, keepdims=keepdims, initial=initial)
    expected = np.full((1, 3) if keepdims else (3,), initial, "float32")
    np.testing.assert_array_equal(out.numpy(), expected)
