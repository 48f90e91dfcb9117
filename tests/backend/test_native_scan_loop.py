"""Scans run in C (``native/scan_loop.py``) give the Python loop's results (to rounding:
products of one row block may round otherwise than of the whole batch), the same bits
whether one thread runs the row blocks or two share them, and the same bits run after
run; bodies with calls the C loop does not take run in Python, unchanged."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.backend.numpy_backend.native import scan_loop, threads

TOLERANCE = {"float32": 2e-5, "float64": 1e-12}


@pytest.fixture
def native(monkeypatch):
    """Counts the scans the C loop ran (and those it declined)."""
    if scan_loop._library() is None:
        pytest.skip("no C compiler or no NumPy OpenBLAS: scans run in Python")
    ran = {"native": 0, "declined": 0}
    real = scan_loop.run

    def counted(*args):
        out = real(*args)
        ran["native" if out is not None else "declined"] += 1
        return out

    monkeypatch.setattr(scan_loop, "run", counted)
    scan_loop.allow_back_off(False)  # every shared scan shares, even under load
    yield ran
    scan_loop.allow_back_off(True)


def _python_loop(monkeypatch):
    monkeypatch.setattr(scan_loop, "run", lambda *args: None)


def _arrays(results) -> list:
    return [np.asarray(t) for t in nerve.tree.flatten(results)]


def _close(got, expected, dtype) -> None:
    for g, e in zip(got, expected):
        scale = np.abs(e).max() + 1
        assert np.abs(g - e).max() <= TOLERANCE[dtype] * scale


def _training_step(layer, x):
    def step(a):
        with nerve.GradientTape() as tape:
            loss = ops.sum(ops.square(layer(a)))
        return loss, tape.gradient(loss, layer.trainable_weights)

    return nerve.function(step)


# (name, layer, scans of the step run in C: forward and backward, or the forward only:
# GRU(reset_after=False)'s backward body sums the recurrent kernel's gradient inside
# the loop, with calls the C loop does not take).
RECURRENT = [
    ("lstm", lambda dtype: layers.LSTM(40, return_sequences=True, dtype=dtype), 2),
    ("lstm_backwards", lambda dtype: layers.LSTM(32, go_backwards=True, dtype=dtype), 2),
    ("simple_rnn", lambda dtype: layers.SimpleRNN(36, return_sequences=True, dtype=dtype), 2),
    ("gru", lambda dtype: layers.GRU(33, return_sequences=True, dtype=dtype), 2),
    ("gru_reset_before", lambda dtype: layers.GRU(40, reset_after=False, dtype=dtype), 1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,make,in_c", RECURRENT, ids=[r[0] for r in RECURRENT])
def test_recurrent_training_step_matches_the_python_loop(
    native, monkeypatch, name, make, in_c, dtype
):
    rng = np.random.default_rng(3)
    x = ops.convert_to_tensor(rng.standard_normal((48, 9, 20)).astype(dtype))
    layer = make(dtype)
    step = _training_step(layer, x)
    with threads.hold():  # (products outside the scans split alike in every run)
        shared = _arrays(step(x))
        monkeypatch.setattr(scan_loop, "_sharing", lambda: False)
        alone = _arrays(step(x))
        again = _arrays(step(x))
        assert native["native"] == 3 * in_c and native["declined"] == 3 * (2 - in_c)
        # Row blocks are fixed by the batch: the same bits on one thread or two, and in
        # every run.
        for a, s, r in zip(alone, shared, again):
            assert np.array_equal(a, s) and np.array_equal(a, r)
        _python_loop(monkeypatch)
        _close(alone, _arrays(step(x)), dtype)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_masked_steps_match_the_python_loop(native, monkeypatch, cell):
    """A mask (its time-major steps are a transposed view of the batch-major mask) keeps
    the previous state at padded steps, in C as in Python."""
    rng = np.random.default_rng(5)
    x = ops.convert_to_tensor(rng.standard_normal((40, 7, 12)).astype("float32"))
    mask = ops.convert_to_tensor(np.arange(7) < rng.integers(1, 8, (40, 1)))
    layer = getattr(layers, cell)(24, return_sequences=True)

    def step(a, m):
        with nerve.GradientTape() as tape:
            loss = ops.sum(ops.square(layer(a, mask=m)))
        return loss, tape.gradient(loss, layer.trainable_weights)

    compiled = nerve.function(step)
    got = _arrays(compiled(x, mask))
    assert native["native"] == 2 and native["declined"] == 0
    _python_loop(monkeypatch)
    _close(got, _arrays(compiled(x, mask)), "float32")


@pytest.mark.parametrize("batch", [1, 3])
def test_a_few_rows_run_in_c_too(native, monkeypatch, batch):
    """Single sequences (batch 1: products of one row, gate loops of a few dozen values,
    compiled because a body's loops run at every step) and small batches."""
    x = ops.convert_to_tensor(np.random.default_rng(6).standard_normal((batch, 20, 8)))
    layer = layers.LSTM(16, return_sequences=True, dtype="float32")
    forward = nerve.function(lambda a: layer(a))
    got = _arrays(forward(ops.cast(x, "float32")))
    assert native["native"] == 1 and native["declined"] == 0
    _python_loop(monkeypatch)
    _close(got, _arrays(forward(ops.cast(x, "float32"))), "float32")


def test_two_threads_share_the_row_blocks(native, monkeypatch):
    monkeypatch.setattr(threads, "blas_threads", lambda: 2)
    # Blocks of a few milliseconds: long enough for the worker to wake and take one.
    x = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((64, 400, 8)), "float32")
    step = _training_step(layers.LSTM(64), x)
    before = scan_loop.worker_blocks()
    for _ in range(30):  # the worker may be descheduled for a whole call now and then
        with threads.hold():
            step(x)
        if scan_loop.worker_blocks() > before:
            break
    assert scan_loop.worker_blocks() > before


def _scan_function(body, reverse=False):
    return nerve.function(lambda init, xs: ops.scan(body, init, xs, reverse=reverse))


def _compare(native, monkeypatch, fn, *args, dtype="float64", expect_native=True):
    got = _arrays(fn(*args))
    assert native["native" if expect_native else "declined"] >= 1
    _python_loop(monkeypatch)
    expected = _arrays(fn(*args))
    _close(got, expected, dtype)
    return got


@pytest.mark.parametrize("reverse", [False, True])
def test_carry_passed_through_and_returned_twice(native, monkeypatch, reverse):
    """Outputs the body does not compute (an input passed through) and a value
    returned twice (as the carry and as a stacked result) are copied into place."""
    rng = np.random.default_rng(1)
    w = ops.convert_to_tensor(rng.standard_normal((32, 32)) / 6)

    def body(carry, x):
        h, fixed = carry
        new = ops.tanh(ops.matmul(h, w) + x * fixed)
        return (new, fixed), (new, fixed)

    init = (ops.convert_to_tensor(rng.standard_normal((8, 32))), ops.ones((8, 32), "float64"))
    xs = ops.convert_to_tensor(rng.standard_normal((5, 8, 32)))
    _compare(native, monkeypatch, _scan_function(body, reverse), init, xs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("steps,units,width", [(1, 25, 37), (4, 25, 37), (3, 70, 150)])
def test_transposed_constant_operand(native, monkeypatch, steps, units, width, dtype):
    """Products by a constant read transposed and plainly, of odd shapes (the float32
    C tiles' edges; sums longer than one pass over the rows)."""
    rng = np.random.default_rng(2)
    w = ops.convert_to_tensor((rng.standard_normal((width, units)) / 6).astype(dtype))

    def body(h, x):
        new = ops.sigmoid(ops.matmul(h, ops.transpose(w)) + x)  # (9, units) @ (units, width)
        return ops.matmul(new, w), new

    init = ops.convert_to_tensor(rng.standard_normal((9, units)).astype(dtype))
    xs = ops.convert_to_tensor(rng.standard_normal((steps, 9, width)).astype(dtype))
    _compare(native, monkeypatch, _scan_function(body), init, xs, dtype=dtype)


def test_a_call_it_does_not_take_runs_in_python(native, monkeypatch):
    rng = np.random.default_rng(4)

    def body(h, x):
        new = ops.sort(h + x, axis=-1)  # no C form here: the Python loop runs the body
        return new, new

    init = ops.convert_to_tensor(rng.standard_normal((4, 300)))
    xs = ops.convert_to_tensor(rng.standard_normal((3, 4, 300)))
    got = _compare(native, monkeypatch, _scan_function(body), init, xs, expect_native=False)
    assert np.array_equal(
        got[0],
        np.sort(
            np.sort(np.sort(init.numpy() + xs.numpy()[0], -1) + xs.numpy()[1], -1) + xs.numpy()[2],
            -1,
        ),
    )
