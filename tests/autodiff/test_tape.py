"""GradientTape: TensorFlow's semantics, checked against closed-form derivatives."""

import math

import numpy as np
import pytest

import nerve
from nerve import ops


def value(x):
    return np.asarray(x.numpy() if isinstance(x, nerve.Tensor) else x)


def test_trainable_variables_are_watched_automatically():
    w = nerve.Variable([1.0, 2.0, 3.0])
    with nerve.GradientTape() as tape:
        y = ops.sum(w * w)
    np.testing.assert_allclose(value(tape.gradient(y, w)), [2.0, 4.0, 6.0])


def test_watched_variables_lists_only_variables_used():
    used = nerve.Variable(1.0)
    nerve.Variable(2.0)  # exists, never used
    frozen = nerve.Variable(3.0, trainable=False)
    with nerve.GradientTape() as tape:
        _ = used * frozen
    assert tape.watched_variables() == (used,)


def test_non_trainable_variable_is_not_watched():
    frozen = nerve.Variable(2.0, trainable=False)
    with nerve.GradientTape() as tape:
        y = frozen * frozen
    assert tape.gradient(y, frozen) is None


def test_non_trainable_variable_watched_explicitly():
    frozen = nerve.Variable(2.0, trainable=False)
    with nerve.GradientTape() as tape:
        tape.watch(frozen)
        y = frozen * frozen
    assert float(tape.gradient(y, frozen)) == 4.0


def test_watch_accessed_variables_false():
    a, b = nerve.Variable(2.0), nerve.Variable(5.0)
    with nerve.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(a)
        y = a * b
    assert float(tape.gradient(y, a)) == 5.0
    with nerve.GradientTape(watch_accessed_variables=False) as tape:
        y = a * b
    assert tape.gradient(y, [a, b]) == [None, None]


def test_constants_are_not_watched_unless_asked():
    c = ops.convert_to_tensor(3.0)
    with nerve.GradientTape() as tape:
        y = c * c
    assert tape.gradient(y, c) is None
    with nerve.GradientTape() as tape:
        tape.watch(c)
        y = c * c
    assert float(tape.gradient(y, c)) == 6.0


def test_watch_rejects_non_tensors():
    with nerve.GradientTape() as tape, pytest.raises(TypeError, match=r"watch expects tensors"):
        tape.watch(3.0)


def test_watch_nested_structure():
    a, b = ops.convert_to_tensor(1.0), ops.convert_to_tensor(2.0)
    with nerve.GradientTape() as tape:
        tape.watch({"a": a, "rest": [b]})
        y = a * b
    assert [float(g) for g in tape.gradient(y, [a, b])] == [2.0, 1.0]


def test_non_persistent_tape_second_gradient_raises():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        y = w * w
    tape.gradient(y, w)
    with pytest.raises(RuntimeError, match=r"only once.*persistent=True"):
        tape.gradient(y, w)


def test_persistent_tape_gives_many_gradients():
    w = nerve.Variable(3.0)
    with nerve.GradientTape(persistent=True) as tape:
        y = w * w
        z = y * w
    assert float(tape.gradient(y, w)) == 6.0
    assert float(tape.gradient(z, w)) == 27.0
    assert float(tape.gradient(z, y)) == 3.0


def test_tape_is_not_reentrant():
    tape = nerve.GradientTape()
    with tape, pytest.raises(RuntimeError, match="not reentrant"):
        tape.__enter__()


@pytest.mark.parametrize(
    "fn,derivatives",
    [
        # x**4 at 2: 4x^3, 12x^2, 24x
        (lambda x: x**4, lambda x: (4 * x**3, 12 * x**2, 24 * x)),
        # sin: cos, -sin, -cos
        (ops.sin, lambda x: (math.cos(x), -math.sin(x), -math.cos(x))),
    ],
    ids=["x4", "sin"],
)
def test_nested_tapes_third_derivative(fn, derivatives):
    x = nerve.Variable(2.0, dtype="float64")
    with nerve.GradientTape() as t3:
        with nerve.GradientTape() as t2:
            with nerve.GradientTape() as t1:
                y = fn(x)
            g1 = t1.gradient(y, x)
        g2 = t2.gradient(g1, x)
    g3 = t3.gradient(g2, x)
    np.testing.assert_allclose([float(g1), float(g2), float(g3)], derivatives(2.0), rtol=1e-12)


def test_inner_tape_gradient_is_recorded_by_outer_persistent_tape():
    x = ops.convert_to_tensor(3.0, dtype="float64")
    with nerve.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with nerve.GradientTape() as inner:
            inner.watch(x)
            y = x * x * x
        dy = inner.gradient(y, x)
    assert float(outer.gradient(dy, x)) == 18.0  # 6x
    assert float(outer.gradient(y, x)) == 27.0  # 3x^2


def test_gradient_over_nested_sources():
    a = nerve.Variable(2.0)
    b = nerve.Variable([1.0, 2.0])
    c = nerve.Variable(4.0)
    with nerve.GradientTape() as tape:
        y = a * ops.sum(b) + c * c
    grads = tape.gradient(y, {"a": a, "rest": [b, (c,)]})
    assert set(grads) == {"a", "rest"}
    assert isinstance(grads["rest"], list) and isinstance(grads["rest"][1], tuple)
    assert float(grads["a"]) == 3.0
    np.testing.assert_allclose(value(grads["rest"][0]), [2.0, 2.0])
    assert float(grads["rest"][1][0]) == 8.0


def test_unconnected_sources_are_none_or_zero():
    a = nerve.Variable(2.0)
    b = nerve.Variable([[1.0, 2.0, 3.0]])
    with nerve.GradientTape(persistent=True) as tape:
        y = a * 3.0
    assert tape.gradient(y, [a, b])[1] is None
    _, gb = tape.gradient(y, [a, b], unconnected_gradients="zero")
    assert gb.shape == (1, 3) and gb.dtype == "float32"
    np.testing.assert_array_equal(value(gb), np.zeros((1, 3)))


def test_unconnected_gradients_rejects_unknown_value():
    a = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        y = a * a
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(y, a, unconnected_gradients="nan")


def test_output_gradients_weight_the_target():
    w = nerve.Variable([1.0, 2.0])
    with nerve.GradientTape() as tape:
        y = w * w
    g = tape.gradient(y, w, output_gradients=ops.convert_to_tensor([1.0, 10.0]))
    np.testing.assert_allclose(value(g), [2.0, 40.0])


def test_output_gradients_count_must_match_targets():
    w = nerve.Variable(1.0)
    with nerve.GradientTape() as tape:
        y = w * 2.0
    with pytest.raises(ValueError, match="output_gradients has 2 entries for 1 targets"):
        tape.gradient(y, w, output_gradients=[1.0, 2.0])


def test_list_of_targets_is_summed():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        ys = [w * w, w * 3.0]
    assert float(tape.gradient(ys, w)) == 7.0


def test_non_scalar_target_is_summed():
    w = nerve.Variable([[1.0, 2.0], [3.0, 4.0]])
    with nerve.GradientTape() as tape:
        y = w * w * 0.5
    np.testing.assert_allclose(value(tape.gradient(y, w)), [[1.0, 2.0], [3.0, 4.0]])


def test_gradient_with_respect_to_intermediate_tensor():
    w = nerve.Variable([1.0, 2.0])
    with nerve.GradientTape() as tape:
        h = w * 3.0
        y = ops.sum(h * h)
    np.testing.assert_allclose(value(tape.gradient(y, h)), [6.0, 12.0])


def test_gradient_of_target_with_respect_to_itself_is_one():
    w = nerve.Variable([1.0, 2.0])
    with nerve.GradientTape() as tape:
        y = w * 2.0
    np.testing.assert_array_equal(value(tape.gradient(y, y)), [1.0, 1.0])


def test_tape_stop_recording():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        with tape.stop_recording():
            y = w * w  # a constant for the tape
        z = y * w
    assert float(tape.gradient(z, w)) == 4.0


def test_tape_stop_recording_outside_with_raises():
    with pytest.raises(RuntimeError, match="stop_recording"), nerve.GradientTape().stop_recording():
        pass


def test_global_stop_recording_pauses_every_tape():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as outer:
        with nerve.GradientTape() as inner:
            with nerve.stop_recording():
                y = w * w
            z = y * w
        assert float(inner.gradient(z, w)) == 4.0
    assert float(outer.gradient(z, w)) == 4.0


def test_recording_resumes_after_stop_recording():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        with nerve.stop_recording():
            pass
        y = w * w
    assert float(tape.gradient(y, w)) == 4.0


def test_operations_outside_the_with_block_are_not_recorded():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        y = w * w
    z = y * w
    assert tape.gradient(z, w) is None


def test_variable_assigned_after_read_uses_value_read():
    w = nerve.Variable(3.0)
    with nerve.GradientTape() as tape:
        y = w * w
        w.assign(10.0)
    assert float(tape.gradient(y, w)) == 6.0


def test_variable_read_before_and_after_assign_sums_both_reads():
    w = nerve.Variable(3.0)
    with nerve.GradientTape() as tape:
        y = w * w  # d/dw = 2 * 3
        w.assign(10.0)
        y = y + w * w  # d/dw = 2 * 10
    assert float(tape.gradient(y, w)) == 26.0


def test_integer_path_carries_no_gradient():
    w = nerve.Variable([1.2, 2.7])
    with nerve.GradientTape() as tape:
        i = ops.cast(w, "int32")
        y = ops.cast(i, "float32") * 2.0
    assert tape.gradient(y, w) is None


def test_integer_source_gets_no_gradient():
    i = ops.convert_to_tensor([1, 2])
    with nerve.GradientTape() as tape:
        tape.watch(i)
        y = ops.cast(i, "float32") * 2.0
    assert tape.gradient(y, i) is None


def test_boolean_outputs_are_not_differentiated():
    w = nerve.Variable([1.0, -2.0])
    with nerve.GradientTape() as tape:
        mask = w > 0.0
        y = ops.where(mask, w, 0.0)
    np.testing.assert_array_equal(value(tape.gradient(y, w)), [1.0, 0.0])
    with nerve.GradientTape() as tape:
        mask = w > 0.0
    assert tape.gradient(ops.cast(mask, "float32"), w) is None


def test_fan_out_accumulates():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        y = w + w + w * w + w * w * w  # 1 + 1 + 2w + 3w^2
    assert float(tape.gradient(y, w)) == 18.0


def test_fan_out_many_uses():
    x = ops.convert_to_tensor([1.0, 2.0])
    with nerve.GradientTape() as tape:
        tape.watch(x)
        total = x * 0.0
        for k in range(50):
            total = total + x * float(k)
    np.testing.assert_allclose(value(tape.gradient(total, x)), [1225.0, 1225.0])


def test_deep_chain_has_no_recursion_limit():
    x = ops.convert_to_tensor(1.0, dtype="float64")
    with nerve.GradientTape() as tape:
        tape.watch(x)
        y = x
        for _ in range(5000):
            y = y * 1.0001
    np.testing.assert_allclose(float(tape.gradient(y, x)), 1.0001**5000, rtol=1e-10)


@pytest.mark.parametrize(
    "shape_a,shape_b",
    [((3, 1), (4,)), ((2, 3, 4), (3, 1)), ((), (2, 2)), ((1, 1), (1,)), ((2, 1, 3), (1, 4, 1))],
)
def test_broadcast_gradients_are_summed_back(shape_a, shape_b):
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    a, b = ops.convert_to_tensor(a_np), ops.convert_to_tensor(b_np)
    with nerve.GradientTape() as tape:
        tape.watch([a, b])
        y = a * b
    ga, gb = tape.gradient(y, [a, b])
    out_shape = np.broadcast_shapes(shape_a, shape_b)
    b_full = np.broadcast_to(b_np, out_shape)
    a_full = np.broadcast_to(a_np, out_shape)
    expected_a = np.sum(b_full, axis=tuple(range(len(out_shape) - len(shape_a))))
    expected_b = np.sum(a_full, axis=tuple(range(len(out_shape) - len(shape_b))))
    expected_a = np.sum(expected_a, axis=_ones(shape_a), keepdims=True).reshape(shape_a)
    expected_b = np.sum(expected_b, axis=_ones(shape_b), keepdims=True).reshape(shape_b)
    assert ga.shape == shape_a and gb.shape == shape_b
    np.testing.assert_allclose(value(ga), expected_a, rtol=1e-12)
    np.testing.assert_allclose(value(gb), expected_b, rtol=1e-12)


def _ones(shape):
    return tuple(i for i, d in enumerate(shape) if d == 1)


def test_gradient_dtype_matches_source_dtype():
    a = nerve.Variable([1.0, 2.0], dtype="float32")
    with nerve.GradientTape() as tape:
        y = ops.cast(a, "float64") * 3.0
    g = tape.gradient(y, a)
    assert g.dtype == "float32"


def test_gradient_sources_must_be_tensors():
    w = nerve.Variable(1.0)
    with nerve.GradientTape() as tape:
        y = w * w
    with pytest.raises(TypeError, match="sources must be tensors or variables, got float"):
        tape.gradient(y, 1.0)


def test_gradient_inside_the_with_block_does_not_record_the_backward_pass():
    w = nerve.Variable(2.0)
    with nerve.GradientTape(persistent=True) as tape:
        y = w * w * w
        g = tape.gradient(y, w)
    # The backward pass was not recorded on this tape, so g is a constant to it.
    assert float(g) == 12.0
    assert tape.gradient(g, w) is None


def test_reset_forgets_recorded_operations():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        y = w * w
        tape.reset()
        z = w * 5.0
    assert float(tape.gradient([y, z], w)) == 5.0
    w2 = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        y = w2 * w2
        tape.reset()
    assert tape.gradient(y, w2) is None


def test_gradient_of_variable_with_respect_to_itself_is_one():
    w = nerve.Variable([1.0, 2.0])
    with nerve.GradientTape() as tape:
        _ = w * 1.0
    np.testing.assert_array_equal(value(tape.gradient(w, w)), [1.0, 1.0])


def test_python_number_target_is_a_constant():
    x = ops.convert_to_tensor(2.0)
    with nerve.GradientTape() as tape:
        tape.watch(x)
    assert tape.gradient(3.0, x) is None


@pytest.mark.parametrize(
    "seed", [np.array([1.0, 10.0]), [1.0, 10.0]], ids=["numpy", "list-of-floats"]
)
def test_output_gradients_accept_tensor_like_values(seed):
    w = nerve.Variable([1.0, 2.0])
    with nerve.GradientTape() as tape:
        y = [w[0] * w[0], w[1] * w[1]] if isinstance(seed, list) else w * w
    g = tape.gradient(y, w, output_gradients=seed)
    np.testing.assert_allclose(value(g), [2.0, 40.0])


def test_output_gradients_none_entry_means_ones():
    w = nerve.Variable(2.0)
    with nerve.GradientTape() as tape:
        y1, y2 = w * 2.0, w * 3.0
    g = tape.gradient([y1, y2], w, output_gradients=[None, ops.convert_to_tensor(10.0)])
    assert float(g) == 32.0


def test_tape_does_not_record_other_threads():
    import threading

    w = nerve.Variable(3.0)
    out = {}
    with nerve.GradientTape() as tape:
        worker = threading.Thread(target=lambda: out.setdefault("y", w * w))
        worker.start()
        worker.join()
    assert tape.gradient(out["y"], w) is None
