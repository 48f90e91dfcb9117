"""grad, value_and_grad, stop_gradient and custom_gradient."""

import math

import numpy as np
import pytest

import nerve
from nerve import ops


def value(x):
    return np.asarray(x.numpy() if isinstance(x, nerve.Tensor) else x)


# -- grad / value_and_grad -------------------------------------------------------------


def test_grad_of_python_scalar_argument():
    assert float(nerve.grad(lambda x: x**3)(2.0)) == 12.0


def test_value_and_grad_returns_both():
    v, g = nerve.value_and_grad(lambda x: ops.sum(x * x))(np.array([1.0, 2.0]))
    assert float(v) == 5.0
    np.testing.assert_array_equal(value(g), [2.0, 4.0])
    assert g.dtype == "float64"  # float64 NumPy input keeps its dtype


def test_argnums_int_selects_one_argument():
    g = nerve.grad(lambda a, b: a * b * b, argnums=1)(2.0, 3.0)
    assert float(g) == 12.0


def test_argnums_tuple_returns_a_tuple():
    g = nerve.grad(lambda a, b, c: a * b * c, argnums=(0, 2))(2.0, 3.0, 4.0)
    assert isinstance(g, tuple) and len(g) == 2
    assert (float(g[0]), float(g[1])) == (12.0, 6.0)


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums 3 is out of range"):
        nerve.grad(lambda a: a, argnums=3)(2.0)


def test_has_aux_passes_aux_through_undifferentiated():
    def loss(x):
        return ops.sum(x * x), {"norm": ops.sqrt(ops.sum(x * x))}

    (v, aux), g = nerve.value_and_grad(loss, has_aux=True)(np.array([3.0, 4.0]))
    assert float(v) == 25.0 and float(aux["norm"]) == 5.0
    np.testing.assert_array_equal(value(g), [6.0, 8.0])
    g2, aux2 = nerve.grad(loss, has_aux=True)(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(value(g2), [6.0, 8.0])
    assert float(aux2["norm"]) == 5.0


def test_has_aux_requires_a_pair():
    with pytest.raises(TypeError, match=r"has_aux=True .* \(value, aux\)"):
        nerve.grad(lambda a: a * 2.0, has_aux=True)(2.0)


def test_non_scalar_output_error_names_shape_and_fix():
    with pytest.raises(ValueError, match=r"scalar output, got shape \(2,\).*nerve.ops.sum") as e:
        nerve.grad(lambda a: a * ops.ones((2,)))(3.0)
    assert "test_functional.py" in str(e.value)


def test_grad_of_grad_of_grad():
    f = ops.sin
    x = 0.7
    g1, g2, g3 = nerve.grad(f), nerve.grad(nerve.grad(f)), nerve.grad(nerve.grad(nerve.grad(f)))
    got = [float(g(np.float64(x))) for g in (g1, g2, g3)]
    np.testing.assert_allclose(got, [math.cos(x), -math.sin(x), -math.cos(x)], rtol=1e-12)


def test_nested_grad_of_polynomial():
    d3 = nerve.grad(nerve.grad(nerve.grad(lambda x: x**4)))
    assert float(d3(np.float64(2.0))) == 48.0  # 24x


def test_grad_with_respect_to_nested_structures():
    def f(params, scale):
        return scale * ops.sum(params["w"] * params["b"][0]) + params["b"][1] ** 2

    params = {"w": np.array([1.0, 2.0]), "b": [np.float64(3.0), np.float64(5.0)]}
    g = nerve.grad(f)(params, 2.0)
    assert set(g) == {"w", "b"} and isinstance(g["b"], list)
    np.testing.assert_array_equal(value(g["w"]), [6.0, 6.0])
    assert float(g["b"][0]) == 6.0 and float(g["b"][1]) == 10.0


def test_value_and_grad_tuple_argnums_nested():
    f = lambda p, q: ops.sum(p[0] * q["z"])  # noqa: E731
    v, (gp, gq) = nerve.value_and_grad(f, argnums=(0, 1))([np.array([1.0, 2.0])], {"z": 3.0})
    assert float(v) == 9.0
    np.testing.assert_array_equal(value(gp[0]), [3.0, 3.0])
    assert float(gq["z"]) == 3.0


def test_unused_argument_gets_zero_gradient():
    g = nerve.grad(lambda a, b: a * 2.0, argnums=(0, 1))(1.0, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(value(g[1]), [0.0, 0.0])


def test_grad_with_variable_argument():
    v = nerve.Variable(3.0)
    assert float(nerve.grad(lambda a: a * a)(v)) == 6.0


def test_grad_does_not_see_closed_over_variables():
    w = nerve.Variable(5.0)
    assert float(nerve.grad(lambda x: x * w)(2.0)) == 5.0


def test_kwargs_are_passed_and_not_differentiated():
    g = nerve.grad(lambda x, power=2: x**power)(3.0, power=3)
    assert float(g) == 27.0


def test_grad_of_integer_argument_raises():
    with pytest.raises(TypeError, match="int32"):
        nerve.grad(lambda x: x * 2)(3)


# -- stop_gradient -------------------------------------------------------------------


def test_stop_gradient_blocks_flow():
    assert float(nerve.grad(lambda x: x * ops.stop_gradient(x * x))(3.0)) == 9.0


def test_stop_gradient_keeps_value_and_dtype():
    x = ops.convert_to_tensor(np.array([1.0, 2.0]))
    y = ops.stop_gradient(x)
    assert y.dtype == "float64"
    np.testing.assert_array_equal(value(y), [1.0, 2.0])


def test_stop_gradient_of_variable():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        y = ops.stop_gradient(w) * w
    assert float(tape.gradient(y, w)) == 2.0


# -- custom_gradient -------------------------------------------------------------------


def test_custom_gradient_replaces_the_gradient():
    @nerve.custom_gradient
    def clipped(x):
        return x * 1.0, lambda up: ops.clip(up, -1.0, 1.0)

    assert float(nerve.grad(lambda x: 5.0 * clipped(x))(3.0)) == 1.0


def test_custom_gradient_multiple_inputs():
    @nerve.custom_gradient
    def scaled_mul(a, b):
        return a * b, lambda up: (up * b * 10.0, up * a)

    ga, gb = nerve.grad(lambda a, b: scaled_mul(a, b), argnums=(0, 1))(2.0, 3.0)
    assert (float(ga), float(gb)) == (30.0, 2.0)


def test_custom_gradient_may_return_none_for_an_input():
    @nerve.custom_gradient
    def f(a, b):
        return a * b, lambda up: (up * b, None)

    ga, gb = nerve.grad(lambda a, b: f(a, b), argnums=(0, 1))(2.0, 3.0)
    assert float(ga) == 3.0 and float(gb) == 0.0


def test_custom_gradient_second_order():
    @nerve.custom_gradient
    def cube(x):
        return x * x * x, lambda up: up * 3.0 * x * x

    assert float(nerve.grad(cube)(2.0)) == 12.0
    assert float(nerve.grad(nerve.grad(cube))(2.0)) == 12.0  # 6x
    assert float(nerve.grad(nerve.grad(nerve.grad(cube)))(2.0)) == 6.0


def test_custom_gradient_multiple_outputs():
    @nerve.custom_gradient
    def two(x):
        return (x * 2.0, x * 3.0), lambda u1, u2: u1 * 20.0 + u2 * 30.0

    assert float(nerve.grad(lambda a: two(a)[1])(1.0)) == 30.0
    assert float(nerve.grad(lambda a: two(a)[0] + two(a)[1])(1.0)) == 50.0


def test_custom_gradient_body_is_not_recorded():
    calls = []

    @nerve.custom_gradient
    def f(x):
        calls.append(1)
        # Without the custom rule this would be d/dx x^2 = 2x.
        return x * x, lambda up: up * 100.0

    assert float(nerve.grad(f)(3.0)) == 100.0
    assert calls == [1]


def test_custom_gradient_wrong_number_of_gradients():
    @nerve.custom_gradient
    def f(a, b):
        return a * b, lambda up: up

    with pytest.raises(ValueError, match=r"custom_gradient\[f\].*1 gradients for 2 inputs"):
        nerve.grad(f)(1.0, 2.0)


def test_custom_gradient_with_tape_and_variable():
    @nerve.custom_gradient
    def square(x):
        return x * x, lambda up: up * 2.0 * x

    w = nerve.Variable(3.0)
    with nerve.GradientTape() as tape:
        y = square(w)
    assert float(tape.gradient(y, w)) == 6.0


def test_gradient_of_power_zero_at_zero():
    with np.errstate(all="ignore"):
        g = nerve.grad(lambda a: ops.sum(a**0.0))(np.array([0.0, -1.0]))
    np.testing.assert_array_equal(value(g), [0.0, 0.0])
