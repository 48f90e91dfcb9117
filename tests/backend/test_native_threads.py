"""Threads for split C calls (``native/threads.py``): a usable thread count, and one
pool that split calls share."""

from nerve.backend.numpy_backend.native import threads


def test_blas_threads_is_a_positive_count():
    count = threads.blas_threads()
    assert isinstance(count, int) and count >= 1


def test_split_calls_share_one_pool_per_worker_count():
    assert threads.pool(1) is threads.pool(1)
    assert threads.pool(1) is not threads.pool(2)
    assert threads.pool(2).submit(max, 3, 4).result() == 4
