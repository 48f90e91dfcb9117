"""Shared checks for metric tests: eager vs traced updates, streaming vs one call."""

import re
import warnings

import numpy as np
import pytest

import nerve


def run_updates(make, batches, traced=False):
    """A fresh metric from ``make()`` updated with each ``(y_true, y_pred, sample_weight)``
    batch, eagerly or inside ``nerve.function``; returns (metric, result as an array)."""
    metric = make()
    if traced:

        @nerve.function
        def update(y_true, y_pred, sample_weight):
            metric.update_state(y_true, y_pred, sample_weight=sample_weight)
            return metric.result()

    else:

        def update(y_true, y_pred, sample_weight):
            metric.update_state(y_true, y_pred, sample_weight=sample_weight)

    for y_true, y_pred, sample_weight in batches:
        update(y_true, y_pred, sample_weight)
    return metric, np.asarray(metric.result().numpy())


def _concat(batches):
    y_true = np.concatenate([b[0] for b in batches])
    y_pred = np.concatenate([b[1] for b in batches])
    if batches[0][2] is None:
        return y_true, y_pred, None
    return y_true, y_pred, np.concatenate([b[2] for b in batches])


@pytest.fixture
def check_metric():
    """Assert that eager, traced and one-call updates all give ``expected``, that eager
    and traced agree to float rounding, and that ``reset_state`` forgets everything."""

    def check(make, batches, expected, rtol=1e-5, atol=1e-6):
        eager, eager_result = run_updates(make, batches)
        _, traced_result = run_updates(make, batches, traced=True)
        _, single_result = run_updates(make, [_concat(batches)])
        np.testing.assert_allclose(eager_result, expected, rtol=rtol, atol=atol)
        np.testing.assert_allclose(traced_result, eager_result, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(single_result, expected, rtol=rtol, atol=atol)
        for variable in eager.variables:
            assert not variable.trainable
        # After a reset, one batch gives what a fresh metric gives for that batch.
        eager.reset_state()
        eager.update_state(batches[-1][0], batches[-1][1], sample_weight=batches[-1][2])
        _, fresh = run_updates(make, batches[-1:])
        np.testing.assert_allclose(np.asarray(eager.result().numpy()), fresh, rtol=1e-6)
        return eager

    return check


@pytest.fixture
def check_against_keras(check_metric):
    """``check_metric`` with Keras 3's metric of the same name and arguments, streamed
    over the same batches, as the expected result; also the default name, the config
    round trip and lookup by class name."""

    def check(name, kwargs, batches, rtol=1e-5, atol=1e-6):
        keras = pytest.importorskip("keras")
        from nerve import metrics

        with warnings.catch_warnings():  # Keras's own chatter (NumPy 2, 0/0 in divide_no_nan)
            warnings.simplefilter("ignore")
            theirs = getattr(keras.metrics, name)(**kwargs)
            for y_true, y_pred, sample_weight in batches:
                theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
            expected = keras.ops.convert_to_numpy(theirs.result())
        ours = check_metric(lambda: getattr(metrics, name)(**kwargs), batches, expected, rtol, atol)
        # Keras numbers a repeated default name within a process ("io_u_1"); nerve does not.
        assert ours.name == re.sub(r"_\d+$", "", theirs.name)
        twin = type(ours).from_config(ours.get_config())
        assert twin.get_config() == ours.get_config()
        assert type(metrics.deserialize(metrics.serialize(ours))) is type(ours)

    return check
