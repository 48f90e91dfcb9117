"""Flushing denormals (``native/fpmode.py``, ``nerve.config.set_flush_denormals``):
the mode holds inside ``flushing()`` only and comes back after it; a compiled run
flushes when the setting is on and computes as before when it is off (eager ops never
flush); worker threads that run a split call's parts (the Python pool and the C worker
of ``split``) flush when their caller does, so split and whole calls give one result."""

import time

import numpy as np
import pytest

import nerve
from nerve.backend.numpy_backend.native import fpmode, row_product, threads
from nerve.core import config

TINY = np.float32(2e-38)  # normal; half of it is denormal


def _halved(values):
    return np.asarray(values, np.float32) * np.float32(0.5)


@pytest.fixture
def supported():
    if not fpmode.supported():
        pytest.skip("denormals can't be flushed here (not x86, or no C compiler)")


@pytest.fixture
def flush_setting():
    yield
    config.set_flush_denormals(False)


def test_the_mode_holds_inside_the_block_only(supported):
    assert _halved([TINY])[0] != 0 and not fpmode.active()
    with fpmode.flushing():
        assert _halved([TINY])[0] == 0 and fpmode.active()
        with fpmode.flushing():  # nested: the outer mode is kept after the inner block
            pass
        assert _halved([TINY])[0] == 0 and fpmode.active()
    assert _halved([TINY])[0] != 0 and not fpmode.active()
    with pytest.raises(RuntimeError), fpmode.flushing():
        raise RuntimeError("out of the block")
    assert _halved([TINY])[0] != 0 and not fpmode.active()


def test_compiled_runs_flush_when_the_setting_is_on(supported, flush_setting):
    def step(x, d):
        return x * 0.5, d * 1e10  # a denormal result; a denormal operand, a normal result

    x = nerve.ops.convert_to_tensor(np.full((300,), TINY, np.float32))
    d = nerve.ops.convert_to_tensor(np.full((300,), 1e-40, np.float32))
    compiled = nerve.function(step)
    kept = [np.asarray(t) for t in compiled(x, d)]
    assert np.all(kept[0] == _halved(np.full(300, TINY))) and np.all(kept[0] > 0)
    assert np.all(kept[1] > 1e-31)
    config.set_flush_denormals(True)
    flushed = [np.asarray(t) for t in compiled(x, d)]
    assert np.all(flushed[0] == 0) and np.all(flushed[1] == 0)
    assert _halved([TINY])[0] != 0  # the mode is the run's only
    eager = [np.asarray(t) for t in step(x, d)]  # eager ops never flush
    np.testing.assert_array_equal(eager[0], kept[0])
    np.testing.assert_array_equal(eager[1], kept[1])
    config.set_flush_denormals(False)
    np.testing.assert_array_equal(np.asarray(compiled(x, d)[0]), kept[0])


@pytest.mark.parametrize("flush", [False, True])
def test_pool_workers_take_the_callers_mode(supported, flush):
    seen = {}

    def part(k):
        def run():
            time.sleep(0.01)  # let the pool's worker take parts too
            seen[k] = _halved([TINY])[0]

        return run

    parts = [part(k) for k in range(8)]
    if flush:
        with fpmode.flushing():
            threads.run_split(parts, 2)
    else:
        threads.run_split(parts, 2)
    assert len(seen) == 8
    assert all((value == 0) == flush for value in seen.values())
    assert _halved([TINY])[0] != 0  # the pool's thread too: checked by the False case


def test_the_c_worker_takes_the_callers_mode(supported):
    run = row_product.product_function()
    if run is None:
        pytest.skip("no C compiler")
    row_product.allow_back_off(False)
    try:
        a = np.ones((1, 600), np.float32)
        b = np.full((600, 2048), np.float32(1e-41), np.float32)  # denormal operands
        with fpmode.flushing():
            before = row_product.worker_chunks()
            for _ in range(50):  # until the worker has computed some chunks
                split = run(a, b, True)
                assert np.all(split == 0)
                if row_product.worker_chunks() > before:
                    break
            assert row_product.worker_chunks() > before
            np.testing.assert_array_equal(split, run(a, b, False))
        assert np.all(run(a, b, True) > 0)  # IEEE again, the worker too
    finally:
        row_product.allow_back_off(True)
