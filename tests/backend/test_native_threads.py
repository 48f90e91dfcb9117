"""Threads for split C calls (``native/threads.py``): a usable thread count, and one
pool that split calls share."""

import os

import pytest

from nerve.backend.numpy_backend.native import threads


def test_blas_threads_is_a_positive_count():
    count = threads.blas_threads()
    assert isinstance(count, int) and count >= 1


def test_the_affinity_is_trusted_for_a_while_then_read_again(monkeypatch):
    found = threads._openblas()
    if found is None or found[0]() < 2 or not hasattr(os, "sched_getaffinity"):
        pytest.skip("needs NumPy's OpenBLAS with two threads or more")
    monkeypatch.setattr(threads, "_affinity", [0, 0])  # not read yet
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert threads.blas_threads() == 1  # one CPU allowed: one thread
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert threads.blas_threads() == 1  # the last read, within AFFINITY_TTL_NS
    monkeypatch.setattr(threads, "AFFINITY_TTL_NS", -1)
    assert threads.blas_threads() == 2


def test_split_calls_share_one_pool_per_worker_count():
    assert threads.pool(1) is threads.pool(1)
    assert threads.pool(1) is not threads.pool(2)
    assert threads.pool(2).submit(max, 3, 4).result() == 4


def test_a_split_runs_every_part_and_raises_what_a_part_raised():
    done = []
    threads.run_split([lambda k=k: done.append(k) for k in range(9)], 2)
    assert sorted(done) == list(range(9))

    def fail():
        raise ValueError("part two")

    with pytest.raises(ValueError, match="part two"):
        threads.run_split([lambda: None, fail, lambda: None], 2)


def test_holding_the_cores_runs_blas_on_one_thread_and_gives_them_back():
    found = threads._openblas()
    if found is None or found[1] is None or threads.blas_threads() < 2:
        pytest.skip("needs NumPy's OpenBLAS with two threads or more")
    query, _ = found
    before, cores = query(), threads.blas_threads()
    assert threads.held() == 1
    with threads.hold():
        assert query() == 1 and threads.held() == cores == threads.cores()
        with threads.hold():  # a graph run inside another's kernel
            assert query() == 1 and threads.held() == cores
        assert threads.held() == cores
    assert query() == before and threads.held() == 1


def test_holding_one_core_changes_nothing(monkeypatch):
    monkeypatch.setattr(threads, "blas_threads", lambda: 1)
    with threads.hold():
        assert threads.held() == 1


def test_holds_in_two_threads_restore_openblas_whatever_order_they_end_in():
    import threading

    found = threads._openblas()
    if found is None or found[1] is None or threads.blas_threads() < 2:
        pytest.skip("needs NumPy's OpenBLAS with its thread setter and two cores")
    before = found[0]()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with threads.hold():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with threads.hold():
            second_in.set()
            first_out.wait(5)  # the first hold ends while this one runs
            assert found[0]() == 1

    workers = [threading.Thread(target=first), threading.Thread(target=second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert found[0]() == before


def test_a_run_holds_the_cores_for_large_arrays_or_a_large_product():
    from nerve.backend import get_backend

    found = threads._openblas()
    if found is None or found[1] is None or threads.blas_threads() < 2:
        pytest.skip("needs NumPy's OpenBLAS with its thread setter and two cores")
    backend, cores = get_backend(), threads.blas_threads()
    cases = [
        (threads.HOLD_FROM, 0, cores),
        (1 << 20, threads.HOLD_WORK_FROM, cores),  # a dense MLP step at batch 32
        (1 << 20, threads.HOLD_WORK_FROM - 1, 1),
        (0, 0, 1),
    ]
    for buffer_bytes, product_work, held in cases:
        with backend.run_scope(buffer_bytes, product_work):
            assert threads.held() == held, (buffer_bytes, product_work)
        assert threads.held() == 1
