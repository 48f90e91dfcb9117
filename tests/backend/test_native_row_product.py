"""The split row product (``native/row_product.py``) agrees with a float64 reference to
rounding, whether the two cores share its columns or one thread runs them all, over
odd shapes, strided rows and float64; it declines what it does not take, and the
backend's matmul hands it exactly the one-row products it is for."""

import os
import select
import threading
import time
import warnings

import numpy as np
import pytest

from nerve.backend.numpy_backend import linalg, nn
from nerve.backend.numpy_backend.native import row_product, threads

TOLERANCE = {"float32": 2e-5, "float64": 1e-12}
# (K, N): the benchmark MLP's layers; chunks with a short last one; one short of a
# vector width; a long sum; a single column; a single term.
SHAPES = [
    (784, 512),
    (512, 256),
    (300, 1000),
    (513, 129),
    (2000, 33),
    (17, 4099),
    (1, 1),
    (70000, 1),
]


@pytest.fixture
def run():
    found = row_product.product_function()
    if found is None:
        pytest.skip("no C compiler: NumPy's matmul runs")
    # Under load from other processes the split backs off (runs nothing for a while);
    # here every split call must run.
    row_product.allow_back_off(False)
    yield found
    row_product.allow_back_off(True)


@pytest.fixture
def two_threads(monkeypatch):
    """Splitting as on a machine where OpenBLAS has two threads or more."""
    monkeypatch.setattr(threads, "blas_threads", lambda: 2)


def _close(out, a, b, dtype):
    expected = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)  # error bound
    assert out.dtype == dtype and out.shape == expected.shape
    assert np.all(np.abs(out - expected) <= TOLERANCE[dtype] * (scale + 1))


def _operands(inner, columns, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((1, inner)).astype(dtype)
    return a, rng.standard_normal((inner, columns)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("inner", "columns"), SHAPES)
@pytest.mark.parametrize("split", [True, False])
def test_products_match_the_reference(run, dtype, inner, columns, split):
    rng = np.random.default_rng(inner + columns)
    b = rng.standard_normal((inner, columns)).astype(dtype)
    # The cores' share of the columns varies from call to call; a new row each time,
    # so that a column left unwritten can't pass with the last call's result.
    for _ in range(20):
        a = rng.standard_normal((1, inner)).astype(dtype)
        out = run(a, b, split)
        if split and columns <= row_product.CHUNK:
            assert out is None  # one chunk: nothing to share, BLAS runs it
        else:
            _close(out, a, b, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_split_and_the_single_thread_loop_agree_bitwise(run, dtype):
    for seed in range(20):
        a, b = _operands(784, 1000, dtype, seed)
        np.testing.assert_array_equal(run(a, b, True), run(a, b, False))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strided_rows_are_taken(run, two_threads, dtype):
    rng = np.random.default_rng(3)
    b = rng.standard_normal((600, 300)).astype(dtype)
    block = rng.standard_normal((5, 700)).astype(dtype)
    column = np.ascontiguousarray(block[1, :600])[:, None]  # (K, 1)
    for a in (block[2:3, 50:650], column.T):  # a row of a wider array; a transposed column
        out = row_product.product(a, b)
        assert out is not None
        _close(out, a, b, dtype)


def test_special_values_propagate(run, two_threads):
    a, b = _operands(784, 512, "float32")
    a[0, 7], b[3, 500] = np.nan, np.inf
    b[5, 10], b[6, 10] = np.inf, -np.inf
    out = row_product.product(a, b)
    with np.errstate(all="ignore"):
        expected = a @ b
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))


@pytest.mark.parametrize(
    "make",
    [
        lambda a, b: (np.vstack([a, a]), b),  # two rows
        lambda a, b: (a[:, :100], b[:100, :100]),  # too small to split
        lambda a, b: (a.astype(np.float64), b),  # mixed dtypes
        lambda a, b: (a.astype(np.float16), b.astype(np.float16)),
        lambda a, b: (a.astype(np.int32), b.astype(np.int32)),
        lambda a, b: (a, np.asfortranarray(b)),  # a transposed right operand
        lambda a, b: (np.repeat(a, 2, axis=1)[:, ::2], b),  # strided elements
        lambda a, b: (a[0], b),  # a vector: matmul's other case
        lambda a, b: (a.astype(">f4"), b.astype(">f4")),  # byte-swapped
    ],
)
def test_other_operands_are_left_to_numpy(two_threads, make):
    a, b = make(*_operands(784, 512, "float32"))
    assert row_product.product(a, b) is None


def test_a_back_off_leaves_the_product_to_numpy(run):
    a, b = _operands(784, 512, "float32")
    row_product.allow_back_off(True)
    # Each job finds the worker asleep: it wakes in time to help, or misses the job
    # (after a few misses, the next jobs are declined); a result is right or None.
    declined = 0
    for _ in range(50):
        out = run(a, b, True)
        if out is None:
            declined += 1
        else:
            _close(out, a, b, "float32")
        time.sleep(2 * row_product.SPIN_US / 1e6)
    assert declined < 50 - row_product._MISSES + 1  # the misses before it were run
    row_product.allow_back_off(False)
    _close(run(a, b, True), a, b, "float32")


def test_one_blas_thread_runs_numpy(monkeypatch):
    monkeypatch.setattr(threads, "blas_threads", lambda: 1)
    assert row_product.product(*_operands(784, 512, "float32")) is None


def test_the_backend_matmul_runs_it(run, two_threads, monkeypatch):
    calls = []
    real = row_product.product
    monkeypatch.setattr(row_product, "product", lambda a, b: calls.append(a.shape) or real(a, b))
    matmul = linalg.kernels(np)["matmul"]
    a, b = _operands(784, 512, "float32")
    _close(matmul(a, b), a, b, "float32")
    matmul(np.ones((2, 784), np.float32), b)  # two rows: not asked
    matmul(np.ones((1, 64), np.float32), np.ones((64, 64), np.float32))  # small: not asked
    assert calls == [(1, 784)]


def test_concurrent_callers_each_get_their_product(run):
    # One job slot: a caller finding it taken declines; every result is right.
    operands = [_operands(784, 512 + 64 * i, "float32", seed=i) for i in range(4)]
    failures = []

    def call(a, b):
        for _ in range(200):
            out = run(a, b, True)
            if out is not None and not np.array_equal(out, run(a, b, False)):
                failures.append(a.shape)

    callers = [threading.Thread(target=call, args=pair) for pair in operands]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert not failures


def test_a_sleeping_worker_is_woken(run):
    a, b = _operands(784, 512, "float32")
    run(a, b, True)
    time.sleep(5 * row_product.SPIN_US / 1e6 + 0.01)  # past its polling: it sleeps
    _close(run(a, b, True), a, b, "float32")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_worker(run):
    # The parent's worker thread does not exist in a forked child: without a reset the
    # child's jobs would be claimed by no one else (still right, never split).
    a, b = _operands(784, 512, "float32")
    expected = run(a, b, False)
    run(a, b, True)  # the parent's worker runs
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        # Forking a threaded process is what this test is about: JAX (when an earlier
        # test imported it) and Python 3.12+ warn about exactly that.
        warnings.filterwarnings("ignore", message=r".*fork\(\)", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message=r".*fork\(\)", category=DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: split calls, then report and leave
        try:
            row_product.allow_back_off(False)
            ok, end = row_product.worker_chunks() == 0, time.monotonic() + 10
            while ok and row_product.worker_chunks() == 0 and time.monotonic() < end:
                ok = np.array_equal(run(a, b, True), expected)
            os.write(writer, b"1" if ok and row_product.worker_chunks() > 0 else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    ready, _, _ = select.select([reader], [], [], 30)
    answer = os.read(reader, 1) if ready else b""
    os.close(reader)
    if not ready:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    assert answer == b"1", "the forked child's split calls hung, differed or ran no worker"


def _bias_relu(z, bias):
    """The fused loop's epilogue, as NumPy computes it: (v > 0 || v != v) ? v : 0."""
    with np.errstate(all="ignore"):
        v = z + bias
        return np.where((v > 0) | (v != v), v, np.zeros((), v.dtype))


def _special_bias(columns, dtype, seed):
    rng = np.random.default_rng(seed)
    bias = rng.standard_normal(columns).astype(dtype)
    bias[:4] = [np.nan, -np.inf, np.inf, -0.0]  # NaN kept, -inf rectified, signed zeros
    return bias


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("inner", "columns"), [(784, 512), (512, 256), (513, 129), (17, 4099)])
@pytest.mark.parametrize("split", [True, False])
def test_the_bias_relu_epilogue_gives_the_fused_loops_bits(run, dtype, inner, columns, split):
    for seed in range(5):
        a, b = _operands(inner, columns, dtype, seed)
        b[:, 4] = 0.0  # a zero result: +0.0 plus a -0.0 bias stays +0.0
        bias = _special_bias(columns, dtype, seed)
        bias[4] = -0.0
        out = run(a, b, split, bias)
        plain = run(a, b, split)
        assert out is not None and plain is not None
        np.testing.assert_array_equal(out, _bias_relu(plain, bias))
        assert not np.signbit(out).any()


def test_the_backend_kernel_splits_a_row_with_its_epilogue(run, two_threads, monkeypatch):
    a, b = _operands(784, 512, "float32")
    bias = _special_bias(512, "float32", 1)
    kernel = nn.kernels(np)["product_bias_relu"]
    want = _bias_relu(run(a, b, False), bias)
    before = row_product.worker_chunks()
    for _ in range(200):  # until the worker has shared a call
        np.testing.assert_array_equal(kernel(a, b, bias), want)
        if row_product.worker_chunks() > before:
            break
    assert row_product.worker_chunks() > before
    # A split that declines: BLAS's product, then the epilogue in C over it.
    monkeypatch.setattr(row_product, "_takes", lambda a, b: False)
    np.testing.assert_array_equal(kernel(a, b, bias), _bias_relu(a @ b, bias))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_add_bias_relu_matches_the_fused_loop(dtype):
    rng = np.random.default_rng(2)
    z = rng.standard_normal((3, 300)).astype(dtype)
    z[0, :4] = [np.nan, 1.0, -1.0, -0.0]
    bias = _special_bias(300, dtype, 2)
    want = _bias_relu(z, bias)
    assert row_product.add_bias_relu(z, bias)
    np.testing.assert_array_equal(z, want)


@pytest.mark.parametrize(
    "make",
    [
        lambda z, bias: (z.astype(np.float64), bias),  # mixed dtypes
        lambda z, bias: (z[:, ::2], bias[:150]),  # strided
        lambda z, bias: (z, bias[:299]),  # a short bias
        lambda z, bias: (z.astype(np.float16), bias.astype(np.float16)),
        lambda z, bias: (z[0], bias),  # one dimension
    ],
)
def test_add_bias_relu_declines_what_it_does_not_take(make):
    rng = np.random.default_rng(4)
    z, bias = make(rng.standard_normal((3, 300)).astype("float32"), np.ones(300, "float32"))
    before = z.copy()
    assert not row_product.add_bias_relu(z, bias)
    np.testing.assert_array_equal(z, before)


def test_takes_bias_relu_asks_for_one_row_worth_splitting(two_threads):
    if row_product.product_function() is None:
        pytest.skip("no C compiler")
    assert row_product.takes_bias_relu((1, 784), (784, 512), "float32")
    assert row_product.takes_bias_relu((1, 512), (512, 256), "float64")
    assert not row_product.takes_bias_relu((2, 784), (784, 512), "float32")  # two rows
    assert not row_product.takes_bias_relu((1, 256), (256, 10), "float32")  # too small
    assert not row_product.takes_bias_relu((1, 4096), (4096, 128), "float32")  # one chunk
    assert not row_product.takes_bias_relu((1, 784), (784, 512), "float16")


def test_takes_bias_relu_declines_at_one_blas_thread(monkeypatch):
    monkeypatch.setattr(threads, "blas_threads", lambda: 1)
    assert not row_product.takes_bias_relu((1, 784), (784, 512), "float32")


# Stealing (``split``'s "Stealing"): the caller computes a chunk the worker claimed and
# has not finished. A test hook stalls the worker after each claim until its chunk is
# stolen (``stall_worker(1)``), or for 2 ms after it wins a chunk, before it copies the
# results out (``stall_worker(2)``). The worker claims a chunk only when it runs in
# time, so each test calls until that happened a few times (bounded, never timed).


@pytest.fixture
def stall(run):
    yield row_product.stall_worker
    row_product.stall_worker(0)


def _until(condition, seconds=10.0):
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(1e-4)
    return condition()


def _calls_until(count, call, seconds=20.0):
    """Calls ``call()`` until ``count()`` rose by 3 (or time ran out); how much it rose."""
    before, end = count(), time.monotonic() + seconds
    while count() < before + 3 and time.monotonic() < end:
        call()
    return count() - before


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("inner", "columns"), [(784, 512), (512, 256), (17, 4099)])
def test_a_stolen_chunk_gives_the_bits_of_an_unstolen_one(run, stall, dtype, inner, columns):
    rng = np.random.default_rng(5)
    b = rng.standard_normal((inner, columns)).astype(dtype)
    bias = _special_bias(columns, dtype, 5)
    stall(1)

    def call():
        a = rng.standard_normal((1, inner)).astype(dtype)  # fresh: a stale column shows
        out = run(a, b, True, bias)
        np.testing.assert_array_equal(out, run(a, b, False, bias))

    stolen = _calls_until(lambda: row_product.stolen_chunks()[0], call)
    assert stolen >= 3, "no chunk was stolen from a stalled worker"
    # The worker computed each stolen chunk too, then dropped it.
    assert _until(lambda: row_product.stolen_chunks()[1] == row_product.stolen_chunks()[0])


def test_a_worker_whose_chunk_was_stolen_writes_nothing_after_the_call(run, stall):
    a, b = _operands(784, 512, "float32")
    want = run(a, b, False)
    stall(1)
    outputs = []

    def call():
        before = row_product.stolen_chunks()[0]
        out = run(a, b, True)
        np.testing.assert_array_equal(out, want)
        if row_product.stolen_chunks()[0] > before:
            out[...] = 7.0  # the caller's array, reused at once
            outputs.append(out)

    assert _calls_until(lambda: len(outputs), call) >= 3
    # Once the worker dropped its copies of the stolen chunks, none was written.
    assert _until(lambda: row_product.stolen_chunks()[1] == row_product.stolen_chunks()[0])
    time.sleep(0.01)
    for out in outputs:
        np.testing.assert_array_equal(out, 7.0)


def test_the_caller_waits_for_a_chunk_the_worker_is_copying_out(run, stall):
    # The worker won the chunk and copies it out 2 ms later: the caller, past its
    # patience, must wait for that copy (not compute the chunk and return before it).
    a, b = _operands(512, 256, "float32")
    want = run(a, b, False)
    stall(2)
    outputs = []

    def call():
        out = run(a, b, True)
        np.testing.assert_array_equal(out, want)
        out[...] = 7.0
        outputs.append(out)

    assert _calls_until(row_product.worker_chunks, call) >= 3
    time.sleep(0.01)
    for out in outputs:
        np.testing.assert_array_equal(out, 7.0)


def test_a_stolen_calls_operands_are_held_until_the_worker_leaves(run, stall):
    # The worker may still read a, b and bias after the call that stole its chunk
    # returned: the module keeps them alive until it has left that job.
    rng = np.random.default_rng(6)
    b = rng.standard_normal((784, 512)).astype(np.float32)
    stall(1)
    held = []

    def call():
        before = row_product.stolen_chunks()[0]
        a = rng.standard_normal((1, 784)).astype(np.float32)
        run(a, b, True)
        if row_product.stolen_chunks()[0] > before:
            held.append(any(kept[0] is a for kept in row_product._held))

    assert _calls_until(lambda: len(held), call) >= 3
    assert all(held)
    stall(0)
    assert _until(lambda: row_product.stolen_chunks()[1] == row_product.stolen_chunks()[0])
    assert _until(lambda: row_product._LIBRARY.controls().reading.value == 0)
    kept = list(row_product._held)
    run(*_operands(784, 512, "float32"), True)  # the next call lets them go
    assert not any(old is new for old in kept for new in row_product._held)


def test_stolen_jobs_back_off(run, stall):
    # A job whose chunk was stolen is a miss: after a few, the split declines.
    a, b = _operands(784, 512, "float32")
    want = run(a, b, False)
    row_product.allow_back_off(True)
    stall(1)
    declined, end = False, time.monotonic() + 20
    while not declined and time.monotonic() < end:
        out = run(a, b, True)
        declined = out is None
        if not declined:
            np.testing.assert_array_equal(out, want)
    assert declined
