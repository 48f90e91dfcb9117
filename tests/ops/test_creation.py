"""Creation ops: a harness row per op (values vs NumPy and PyTorch, gradients where a
tensor argument flows through), then dtype rules, Keras argument names, errors."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.testing.op_harness import Input, OpCase, T, op_tests, run_with_shape_rules

NO_INPUTS = [()]


def made(name, fn, numpy, torch, variants=NO_INPUTS, **kw):
    """A row for an op whose result does not depend on input values differentiably."""
    return OpCase(
        name, fn, variants, numpy=numpy, torch=torch, grad=False, dtypes=("float32",), **kw
    )


CASES = [
    made("zeros", lambda: ops.zeros((2, 3)), lambda: np.zeros((2, 3)), lambda: T.zeros(2, 3)),
    made("zeros_empty", lambda: ops.zeros((0, 4)), lambda: np.zeros((0, 4)), lambda: T.zeros(0, 4)),
    made("ones", lambda: ops.ones((3, 1)), lambda: np.ones((3, 1)), lambda: T.ones(3, 1)),
    made("ones_scalar", lambda: ops.ones(()), lambda: np.ones(()), lambda: T.ones(())),
    made(
        "full_int",
        lambda: ops.full((2, 2), 7),
        lambda: np.full((2, 2), 7),
        lambda: T.full((2, 2), 7),
    ),
    made(
        "full_float",
        lambda: ops.full((3,), -1.5, dtype="float64"),
        lambda: np.full((3,), -1.5),
        lambda: T.full((3,), -1.5, dtype=T.float64),
    ),
    made(
        "empty", lambda: ops.empty((2, 0, 3)), lambda: np.zeros((2, 0, 3)), lambda: T.zeros(2, 0, 3)
    ),
    made(
        "zeros_like",
        lambda x: ops.zeros_like(x),
        np.zeros_like,
        lambda x: T.zeros_like(x),
        variants=[(Input((2, 3)),), (Input((0,)),), (Input((1,), kind="int"),)],
    ),
    made(
        "ones_like",
        lambda x: ops.ones_like(x),
        np.ones_like,
        lambda x: T.ones_like(x),
        variants=[(Input((4, 1)),), (Input(()),), (Input((2,), kind="bool"),)],
    ),
    made(
        "full_like",
        lambda x: ops.full_like(x, 3),
        lambda x: np.full_like(x, 3),
        lambda x: T.full_like(x, 3),
        variants=[(Input((2, 2)),), (Input((3,), kind="int", low=0, high=9),)],
    ),
    made("arange_stop", lambda: ops.arange(5), lambda: np.arange(5), lambda: T.arange(5)),
    made(
        "arange_start_stop",
        lambda: ops.arange(-2, 3),
        lambda: np.arange(-2, 3),
        lambda: T.arange(-2, 3),
    ),
    made(
        "arange_negative_step",
        lambda: ops.arange(5, -3, -2),
        lambda: np.arange(5, -3, -2),
        lambda: T.arange(5, -3, -2),
    ),
    made(
        "arange_empty",
        lambda: ops.arange(3, 1),
        lambda: np.arange(3, 1),
        lambda: T.zeros(0, dtype=T.int64),
    ),
    made(
        "arange_float",
        lambda: ops.arange(0.5, 2.0, 0.25, dtype="float64"),
        lambda: np.arange(0.5, 2.0, 0.25),
        lambda: T.arange(0.5, 2.0, 0.25, dtype=T.float64),
    ),
    made(
        "linspace",
        lambda: ops.linspace(-1, 2, 7, dtype="float64"),
        lambda: np.linspace(-1, 2, 7),
        lambda: T.linspace(-1, 2, 7, dtype=T.float64),
    ),
    made(
        "linspace_no_endpoint",
        lambda: ops.linspace(0, 1, 4, endpoint=False, dtype="float64"),
        lambda: np.linspace(0, 1, 4, endpoint=False),
        lambda: T.arange(4, dtype=T.float64) / 4,
    ),
    made(
        "linspace_one_and_none",
        lambda: (ops.linspace(3, 9, 1), ops.linspace(3, 9, 0)),
        lambda: (np.linspace(3, 9, 1), np.linspace(3, 9, 0)),
        lambda: (T.linspace(3, 9, 1), T.linspace(3, 9, 0)),
    ),
    made(
        "linspace_int",
        lambda: ops.linspace(-1, -10, 5, dtype="int32"),
        lambda: np.linspace(-1, -10, 5, dtype="int32"),
        None,
    ),
    made("eye", lambda: ops.eye(3), lambda: np.eye(3), lambda: T.eye(3)),
    made(
        "eye_rect_k",
        lambda: (ops.eye(2, 4, k=1), ops.eye(4, 2, k=-1), ops.eye(2, 3, k=5)),
        lambda: (np.eye(2, 4, k=1), np.eye(4, 2, k=-1), np.eye(2, 3, k=5)),
        None,
    ),
    made("identity", lambda: ops.identity(4), lambda: np.identity(4), lambda: T.eye(4)),
    made(
        "tri",
        lambda: (ops.tri(3), ops.tri(3, 5, k=1), ops.tri(4, 2, k=-1), ops.tri(0)),
        lambda: (np.tri(3), np.tri(3, 5, k=1), np.tri(4, 2, k=-1), np.tri(0)),
        lambda: (
            T.tril(T.ones(3, 3)),
            T.tril(T.ones(3, 5), 1),
            T.tril(T.ones(4, 2), -1),
            T.ones(0, 0),
        ),
    ),
    # Tensor arguments flow through: these rows check gradients too.
    OpCase(
        "full_tensor_fill",
        lambda v: ops.full((3, 4), v, dtype=v.dtype),
        [(Input((4,)),), (Input((3, 1)),), (Input(()),)],
        numpy=lambda v: np.broadcast_to(v, (3, 4)),
        torch=lambda v: v.expand(3, 4),
        grad2=True,
    ),
    OpCase(
        "linspace_tensor",
        lambda a, b: ops.linspace(a, b, 5, axis=-1),
        [(Input((3,)), Input((3,))), (Input((2, 1)), Input((3,))), (Input(()), Input(()))],
        numpy=lambda a, b: np.linspace(a, b, 5, axis=-1),
        torch=lambda a, b: a[..., None] + (b - a)[..., None] * (T.arange(5, dtype=a.dtype) / 4),
        grad2=True,
    ),
]

CASES += [
    made(
        "logspace",
        lambda: ops.logspace(-1, 2, 7, dtype="float64"),
        lambda: np.logspace(-1, 2, 7),
        lambda: T.logspace(-1, 2, 7, dtype=T.float64),
    ),
    made(
        "logspace_base_no_endpoint",
        lambda: ops.logspace(0, 3, 6, endpoint=False, base=2),
        lambda: np.logspace(0, 3, 6, endpoint=False, base=2),
        lambda: T.logspace(0, 2.5, 6, base=2),
    ),
    made(
        "logspace_int",
        lambda: ops.logspace(0, 4, 5, base=3, dtype="int32"),
        lambda: np.logspace(0, 4, 5, base=3, dtype="int32"),
        lambda: T.logspace(0, 4, 5, base=3, dtype=T.int32),
    ),
    made(
        "logspace_one_and_none",
        lambda: (ops.logspace(1, 9, 1), ops.logspace(1, 9, 0)),
        lambda: (np.logspace(1, 9, 1), np.logspace(1, 9, 0)),
        lambda: (T.logspace(1, 9, 1), T.logspace(1, 9, 0)),
    ),
    OpCase(
        "logspace_tensor",
        lambda a, b: ops.logspace(a, b, 4, base=2.0, axis=-1),
        [(Input((3,)), Input((3,))), (Input((2, 1)), Input((3,))), (Input(()), Input(()))],
        numpy=lambda a, b: np.logspace(a, b, 4, base=2.0, axis=-1),
        torch=lambda a, b: (
            2.0 ** (a[..., None] + (b - a)[..., None] * (T.arange(4, dtype=a.dtype) / 3))
        ),
        grad2=True,
    ),
]

globals().update(op_tests(CASES))


# -- dtypes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, dtype",
    [
        (lambda: ops.zeros((2,)), "float32"),
        (lambda: ops.ones((2,)), "float32"),
        (lambda: ops.empty((2,)), "float32"),
        # Keras: full without a dtype is floatx, whatever the fill value.
        (lambda: ops.full((2,), 1), "float32"),
        (lambda: ops.full((), 0), "float32"),
        (lambda: ops.full((2,), 1.0), "float32"),
        (lambda: ops.full((2,), True), "float32"),
        (lambda: ops.full((2,), ops.ones((), dtype="int8")), "float32"),
        (lambda: ops.full((2,), 1, dtype="int8"), "int8"),
        (lambda: ops.full_like(np.zeros(2, np.int16), 1.5), "int16"),
        (lambda: ops.zeros_like(np.zeros(2, np.float64)), "float64"),
        (lambda: ops.arange(3), "int32"),
        (lambda: ops.arange(3.0), "float32"),
        (lambda: ops.arange(0, 3, 0.5), "float32"),
        (lambda: ops.arange(ops.convert_to_tensor(4)), "int32"),
        (lambda: ops.linspace(0, 1, 3), "float32"),
        (lambda: ops.eye(2), "float32"),
        (lambda: ops.identity(2), "float32"),
        (lambda: ops.tri(2), "float32"),
    ],
)
def test_default_dtypes(make, dtype):
    out, _ = run_with_shape_rules(make)
    assert out.dtype == dtype


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int32", "int64", "float16", "float64"])
def test_explicit_dtypes(dtype):
    makers = [
        lambda: ops.zeros((2, 2), dtype=dtype),
        lambda: ops.ones((2,), dtype=dtype),
        lambda: ops.full((2,), 1, dtype=dtype),
        lambda: ops.full_like(np.zeros(3), 1, dtype=dtype),
        lambda: ops.eye(3, dtype=dtype),
        lambda: ops.tri(3, dtype=dtype),
    ]
    if dtype != "bool":
        makers += [lambda: ops.arange(4, dtype=dtype), lambda: ops.linspace(0, 4, 5, dtype=dtype)]
    for make in makers:
        out, _ = run_with_shape_rules(make)
        assert out.dtype == dtype


def test_bfloat16():
    pytest.importorskip("ml_dtypes")
    for make in (
        lambda: ops.zeros((2,), "bfloat16"),
        lambda: ops.linspace(0, 1, 3, dtype="bfloat16"),
        lambda: ops.eye(2, dtype="bfloat16"),
    ):
        assert run_with_shape_rules(make)[0].dtype == "bfloat16"


def test_floatx_scope():
    with nerve.config.floatx_scope("float64"):
        assert ops.zeros((1,)).dtype == "float64"
        assert ops.arange(1.0).dtype == "float64"
        assert ops.linspace(0, 1, 2).dtype == "float64"
        assert ops.eye(1).dtype == "float64"


def test_keras_argument_names():
    assert ops.zeros(shape=(2,), dtype="int32").shape == (2,)
    assert ops.full(shape=(2,), fill_value=3, dtype="float32").numpy().tolist() == [3.0, 3.0]
    assert ops.full_like(x=np.zeros(2), fill_value=2).numpy().tolist() == [2.0, 2.0]
    assert ops.arange(start=1, stop=7, step=2, dtype="int64").numpy().tolist() == [1, 3, 5]
    samples, step = ops.linspace(start=0, stop=1, num=5, endpoint=True, retstep=True)
    assert step == 0.25 and samples.shape == (5,)
    assert ops.eye(N=2, M=3, k=1).shape == (2, 3)
    assert ops.identity(n=3).shape == (3, 3)
    assert ops.tri(N=2, M=4, k=0).shape == (2, 4)


def test_linspace_retstep_with_tensors():
    samples, step = ops.linspace(np.array([0.0, 1.0]), 2.0, 3, retstep=True)
    np.testing.assert_allclose(samples.numpy(), np.linspace([0.0, 1.0], 2.0, 3))
    np.testing.assert_allclose(step.numpy(), [1.0, 0.5])


def test_device_scope():
    with nerve.device("cpu"):
        for make in (
            lambda: ops.zeros((2,)),
            lambda: ops.arange(3),
            lambda: ops.linspace(0, 1, 2),
            lambda: ops.eye(2),
            lambda: ops.tri(2),
        ):
            assert make().device == "cpu"


# -- errors -------------------------------------------------------------------------------------


def test_errors():
    with pytest.raises(ValueError, match=r"zeros: shape \(2, -3\) has a negative dimension"):
        ops.zeros((2, -3))
    with pytest.raises(TypeError, match="full: shape must be a tuple of ints, got 'ab'"):
        ops.full("ab", 1)
    for size in (3.0, np.float32(3.0), ops.convert_to_tensor(3, "bfloat16")):
        with pytest.raises(TypeError, match="eye: N must be an integer"):
            ops.eye(size)
    with pytest.raises(TypeError, match="eye: M must be an integer"):
        ops.eye(3, 2.0)
    with pytest.raises(ValueError, match="arange: step must not be zero"):
        ops.arange(0, 3, 0)
    with pytest.raises(
        ValueError, match=r"arange: expected a scalar, got a tensor of shape \(2,\)"
    ):
        ops.arange(np.array([1, 2]))
    with pytest.raises(ValueError, match="linspace: num must be >= 0, got -1"):
        ops.linspace(0, 1, -1)
    with pytest.raises(ValueError, match="eye: N and M must be >= 0, got -1 and -1"):
        ops.eye(-1)
    with pytest.raises(ValueError, match="tri: N and M must be >= 0, got 2 and -2"):
        ops.tri(2, -2)
    with pytest.raises(nerve.core.errors.ShapeError, match=r"linspace: shapes \(2,\) and \(3,\)"):
        ops.linspace(np.zeros(2), np.ones(3), 4)
