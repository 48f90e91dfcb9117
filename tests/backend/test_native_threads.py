"""Threads for split C calls (``native/threads.py``): a usable thread count, and one
pool that split calls share."""

import pytest

from nerve.backend.numpy_backend.native import threads


def test_blas_threads_is_a_positive_count():
    count = threads.blas_threads()
    assert isinstance(count, int) and count >= 1


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


class _FakeBlas:
    """OpenBLAS's thread count and setter, and a clock the test moves."""

    def __init__(self, monkeypatch, threads_count=2):
        self.threads = threads_count
        self.now = 100.0
        monkeypatch.setattr(threads, "_openblas", lambda: (self.get, self.set))
        monkeypatch.setattr(threads.time, "perf_counter", lambda: self.now)
        monkeypatch.setattr(threads, "_best", {})
        monkeypatch.setattr(threads, "_serial_until", 0.0)

    def get(self):
        return self.threads

    def set(self, count):
        self.threads = count

    def product(self, seconds):
        """A product that takes ``seconds`` on the fake clock."""

        def run():
            self.now += seconds
            return self.threads

        return threads.watched_product(run, ("a", "b"))


def test_a_product_slowed_by_a_busy_core_runs_blas_on_one_thread_for_a_while(monkeypatch):
    blas = _FakeBlas(monkeypatch)
    for _ in range(3):
        assert blas.product(0.0002) == 2  # its best time: 0.2 ms
    blas.product(0.0005)  # slower, but not by a time slice: nothing changes
    assert blas.threads == 2
    blas.product(0.02)  # a part's thread waited for a core: one thread from now on
    assert blas.threads == 1
    assert blas.product(0.0003) == 1  # the next products run on one thread
    blas.now += threads.SERIAL_SECONDS
    assert blas.product(0.0002) == 2  # and then on OpenBLAS's threads again
    assert threads._serial_until == 0.0


def test_no_change_while_a_run_holds_the_cores(monkeypatch):
    blas = _FakeBlas(monkeypatch)
    blas.product(0.0002)
    monkeypatch.setattr(threads, "_holders", 1)
    blas.product(0.02)
    assert blas.threads == 2 and threads._serial_until == 0.0


def test_one_thread_is_given_back_only_when_no_run_holds_the_cores(monkeypatch):
    blas = _FakeBlas(monkeypatch)
    blas.product(0.0002)
    blas.product(0.02)
    assert blas.threads == 1
    blas.now += threads.SERIAL_SECONDS
    monkeypatch.setattr(threads, "_holders", 1)  # a held run set one thread itself
    blas.product(0.0002)
    assert blas.threads == 1 and threads._serial_until > blas.now
    monkeypatch.setattr(threads, "_holders", 0)
    blas.now += threads.SERIAL_SECONDS
    blas.product(0.0002)
    assert blas.threads == 2


def test_the_backends_threaded_products_are_watched(monkeypatch):
    import numpy as np

    from nerve.backend.numpy_backend import linalg

    seen = []
    real = threads.watched_product
    monkeypatch.setattr(
        threads, "watched_product", lambda run, key: seen.append(key) or real(run, key)
    )
    product = linalg.products.__wrapped__(np)  # a fresh closure reading the patched module
    a, b = np.ones((128, 784), np.float32), np.ones((784, 512), np.float32)
    np.testing.assert_array_equal(product(a, b), a @ b)
    product(a[:4, :10], b[:10, :4])  # small: OpenBLAS runs it on one thread
    assert seen == [((128, 784), (784, 512), "f")]
