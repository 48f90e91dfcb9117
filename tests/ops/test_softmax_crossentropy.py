"""Cross-entropy of a softmax output uses the logits behind it (Keras's TensorFlow
backend does the same), so extreme logits give exact losses and gradients."""

import numpy as np
import pytest

import nerve
from nerve import ops

LOGITS = np.array([[1000.0, 0.0, -5.0], [0.5, 0.25, 3.0]], np.float32)
LABELS = np.array([1, 2], np.int32)


@pytest.mark.parametrize("sparse", [True, False])
def test_softmax_output_takes_the_logits_path(sparse):
    logits = nerve.Variable(LOGITS)
    target = LABELS if sparse else np.eye(3, dtype=np.float32)[LABELS]
    loss_fn = ops.sparse_categorical_crossentropy if sparse else ops.categorical_crossentropy
    with nerve.GradientTape(persistent=True) as tape:
        via_softmax = ops.sum(loss_fn(target, ops.softmax(logits)))
        via_logits = ops.sum(loss_fn(target, logits, from_logits=True))
    assert float(via_softmax) == pytest.approx(float(via_logits), rel=1e-6)
    assert float(via_softmax) > 999  # not the clipped -log(epsilon) ~ 16.1
    np.testing.assert_allclose(
        tape.gradient(via_softmax, logits).numpy(), tape.gradient(via_logits, logits).numpy()
    )


def test_plain_probabilities_still_use_the_clipped_path():
    probabilities = ops.convert_to_tensor([[1.0, 0.0]])
    loss = ops.sparse_categorical_crossentropy(ops.convert_to_tensor([1]), probabilities)
    assert float(loss[0]) == pytest.approx(-np.log(1e-7), rel=1e-4)


def test_softmax_over_another_axis_is_not_mistaken_for_the_class_axis():
    p = ops.softmax(ops.convert_to_tensor(LOGITS), axis=0)
    loss = ops.sparse_categorical_crossentropy(ops.convert_to_tensor(LABELS), p)
    assert np.isfinite(loss.numpy()).all()
    assert float(ops.max(loss)) < 17  # clipped probabilities, not the logits path


def test_inside_a_compiled_function():
    f = nerve.function(lambda x, y: ops.sparse_categorical_crossentropy(y, ops.softmax(x)))
    np.testing.assert_allclose(
        f(LOGITS, LABELS).numpy(),
        ops.sparse_categorical_crossentropy(LABELS, LOGITS, from_logits=True).numpy(),
        rtol=1e-6,
    )
