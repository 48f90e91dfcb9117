"""Complex tensors: the parts, conjugates and angles as op-table rows (real losses of real
inputs through complex intermediates, so finite differences and PyTorch check the
gradients), elementwise maps on complex tensors against NumPy, Keras's results and errors."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import DTypeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests


def _z(re, im):
    """re + i im as a complex tensor of the parts' precision."""
    dtype = "complex128" if re.dtype == "float64" else "complex64"
    return ops.cast(re, dtype) + ops.cast(im, dtype) * 1j


def _parts(z):
    return ops.real(z), ops.imag(z)


def _np_parts(z):
    return np.real(z), np.imag(z)


def _t_parts(z):
    return T.real(z), T.imag(z)


PAIR = [(Input((3, 4)), Input((3, 4))), (Input((5,)), Input((1,)))]

# Each row maps real (re, im) to real outputs through one complex computation.
ROWS = {
    # name: (nerve, numpy, torch)
    "real": (
        lambda z, w: ops.real(z * w),
        lambda z, w: np.real(z * w),
        lambda z, w: T.real(z * w),
    ),
    "imag": (
        lambda z, w: ops.imag(z * w),
        lambda z, w: np.imag(z * w),
        lambda z, w: T.imag(z * w),
    ),
    "conj": (
        lambda z, w: _parts(ops.conj(z) * w),
        lambda z, w: _np_parts(np.conj(z) * w),
        lambda z, w: _t_parts(T.conj_physical(z) * w),
    ),
    "abs_complex": (
        lambda z, w: ops.abs(z + w),
        lambda z, w: np.abs(z + w),
        lambda z, w: T.abs(z + w),
    ),
    "angle_complex": (
        lambda z, w: ops.angle(z / w),
        lambda z, w: np.angle(z / w),
        lambda z, w: T.angle(z / w),
    ),
    "exp_complex": (
        lambda z, w: _parts(ops.exp(z) - w),
        lambda z, w: _np_parts(np.exp(z) - w),
        lambda z, w: _t_parts(T.exp(z) - w),
    ),
    "divide_complex": (
        lambda z, w: _parts(z / (w + 3)),
        lambda z, w: _np_parts(z / (w + 3)),
        lambda z, w: _t_parts(z / (w + 3)),
    ),
    "sqrt_log_complex": (
        lambda z, w: _parts(ops.sqrt(z + 3) + ops.log(w + 3)),
        lambda z, w: _np_parts(np.sqrt(z + 3) + np.log(w + 3)),
        lambda z, w: _t_parts(T.sqrt(z + 3) + T.log(w + 3)),
    ),
    "view_as_real": (
        lambda z, w: ops.view_as_real(z * w),
        lambda z, w: np.stack(_np_parts(z * w), axis=-1),
        lambda z, w: T.view_as_real(z * w),
    ),
}


def _row(name, ours, numpy, torch):
    return OpCase(
        name,
        lambda a, b, c, d: ours(_z(a, b), _z(c, d)),
        [(*pair, *pair) for pair in PAIR],
        numpy=lambda a, b, c, d: numpy(a + 1j * b, c + 1j * d),
        torch=lambda a, b, c, d: torch(T.complex(a, b), T.complex(c, d)),
    )


CASES = [_row(name, *fns) for name, fns in ROWS.items()] + [
    OpCase(
        "polar",
        lambda r, theta: ops.view_as_real(ops.polar(r, theta)),
        [
            (Input((3, 4), kind="positive"), Input((3, 4))),
            (Input((2, 1), kind="positive"), Input((3,))),
        ],
        numpy=lambda r, theta: np.stack([r * np.cos(theta), r * np.sin(theta)], axis=-1),
        torch=lambda r, theta: T.view_as_real(T.polar(*T.broadcast_tensors(r, theta))),
    ),
    OpCase(
        # Keras makes complex64 from any real input, so float64 steps can't be resolved
        # by finite differences here; polar and the rows above check complex_p's rule.
        "view_as_complex",
        lambda x: ops.view_as_real(ops.view_as_complex(x) * (1 - 2j)),
        [(Input((3, 2)),), (Input((2, 4, 2)),)],
        numpy=lambda x: np.stack(_np_parts((x[..., 0] + 1j * x[..., 1]) * (1 - 2j)), -1),
        grad=False,
        dtypes=("float32",),
    ),
    OpCase(
        "angle_real",
        ops.angle,
        [(Input((3, 4)),)],
        numpy=np.angle,
        torch=lambda x: T.angle(x),
    ),
    OpCase(
        "isreal",
        lambda a, b: ops.isreal(_z(a, ops.where(a > 0, 0.0, b))),
        [(Input((3, 4)), Input((3, 4)))],
        numpy=lambda a, b: np.isreal(a + 1j * np.where(a > 0, 0.0, b)),
        grad=False,
    ),
]

globals().update(op_tests(CASES))


# -- elementwise maps keep complex dtypes and agree with NumPy --------------------------------

MAPS = {
    "add": (lambda z: z + z * 1j, lambda z: z + z * 1j),
    "subtract": (lambda z: z - 2.5, lambda z: z - 2.5),
    "multiply": (lambda z: z * z, lambda z: z * z),
    "divide": (lambda z: 1 / z, lambda z: 1 / z),
    "negative": (ops.negative, np.negative),
    "exp": (ops.exp, np.exp),
    "log": (ops.log, np.log),
    "sqrt": (ops.sqrt, np.sqrt),
    "sin": (ops.sin, np.sin),
    "tanh": (ops.tanh, np.tanh),
    "square": (ops.square, np.square),
    "conj": (ops.conj, np.conj),
    "sign": (ops.sign, np.sign),
}


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("name", sorted(MAPS))
def test_elementwise_on_complex(name, dtype):
    ours, theirs = MAPS[name]
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(dtype)
    result = ours(ops.convert_to_tensor(z))
    assert result.dtype == dtype
    tol = 1e-6 if dtype == "complex64" else 1e-14
    np.testing.assert_allclose(result.numpy(), theirs(z), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_parts_and_abs_are_real(dtype):
    z = ops.convert_to_tensor(np.array([3 + 4j, -1j], dtype))
    real_dtype = "float32" if dtype == "complex64" else "float64"
    for result in (ops.real(z), ops.imag(z), ops.abs(z), ops.angle(z), ops.view_as_real(z)):
        assert result.dtype == real_dtype
    np.testing.assert_allclose(ops.abs(z).numpy(), [5, 1])


def test_casts_between_real_and_complex():
    z = ops.convert_to_tensor(np.array([3 + 4j, 0j], np.complex64))
    np.testing.assert_array_equal(ops.cast(z, "float32").numpy(), [3, 0])  # the real part
    np.testing.assert_array_equal(ops.cast(z, "bool").numpy(), [True, False])  # nonzero
    assert ops.cast(ops.ones((2,), "int32"), "complex128").dtype == "complex128"


def test_gradient_of_a_complex_variable_follows_jax():
    # For a real loss L(a + ib), the cotangent is dL/da - i dL/db (JAX's convention).
    z = nerve.Variable(np.array([1 + 2j, -3 + 0.5j]))
    with nerve.GradientTape() as tape:
        loss = ops.sum(ops.abs(z) ** 2)
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(), 2 * np.conj(z.numpy()))


def test_compiled_complex_arithmetic_matches_eager():
    def f(a, b):
        return ops.abs(ops.exp(_z(a, b)) * (1 + 1j))

    a, b = ops.convert_to_tensor(np.linspace(-1, 1, 300)), ops.ones((300,), "float64")
    np.testing.assert_allclose(nerve.function(f)(a, b).numpy(), f(a, b).numpy(), rtol=1e-14)


# -- Keras's results ----------------------------------------------------------------------------

KERAS_CALLS = {
    "real": lambda m, z: m.real(z),
    "imag": lambda m, z: m.imag(z),
    "conj": lambda m, z: m.conj(z),
    "conjugate": lambda m, z: m.conjugate(z),
    "angle": lambda m, z: m.angle(z),
    "angle_real": lambda m, z: m.angle(np.real(z)),
    "isreal": lambda m, z: m.isreal(np.where(np.abs(z) > 1, np.real(z), z)),
    "view_as_real": lambda m, z: m.view_as_real(z),
    "view_as_complex": lambda m, z: m.view_as_complex(m.view_as_real(z)),
    "polar": lambda m, z: m.nn.polar(np.abs(z), np.angle(z)),
}


@pytest.mark.parametrize("name", sorted(KERAS_CALLS))
def test_matches_keras(name):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(5)
    z = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    namespace = ops if name != "polar" else type("nn", (), {"nn": ops})
    ours = KERAS_CALLS[name](namespace, z)
    theirs = keras.ops.convert_to_numpy(KERAS_CALLS[name](keras.ops, z))
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, atol=1e-6)


ERRORS = [
    (
        lambda: ops.view_as_complex(ops.ones((3,))),
        ValueError,
        "Last dimension of input must be size 2",
    ),
    (
        lambda: ops.view_as_complex(ops.ones(())),
        ValueError,
        "Last dimension of input must be size 2",
    ),
    (lambda: ops.view_as_complex(ops.cast(ops.ones((2,)), "complex64")), TypeError, "real tensor"),
    (lambda: ops.rfft(ops.cast(ops.ones((4,)), "complex64")), DTypeError, "real tensor"),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_errors(index):
    call, kind, words = ERRORS[index]
    with pytest.raises(kind, match=words):
        call()
