"""Background work for input pipelines: a parallel ``map`` over a pool of threads and a
``prefetch`` thread, both shut down when their iterator is closed.

Threads, not processes: decoding images (Pillow), reading files and NumPy's array
work release the GIL, so threads overlap them with the training step without copying
every element between processes. Each iterator owns its threads: closing it (or
leaving a ``for`` loop early, or an exception in the consumer; ``fit`` closes its
iterators in ``finally``) stops them and waits until they are gone, so an interrupted
run leaves no worker behind.

An exception raised by the mapped function or by the upstream pipeline reaches the
consumer as the same exception object, its traceback still pointing into the
function that raised it.

>>> list(parallel_map(iter(range(5)), lambda x: x * x, num_workers=2))
[0, 1, 4, 9, 16]
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["parallel_map", "prefetch"]

#: How often (seconds) a blocked producer checks whether its consumer has gone.
_POLL = 0.05


def parallel_map(
    source: Iterator[Any],
    fn: Callable[[Any], Any],
    num_workers: int,
    deterministic: bool = True,
    window: int | None = None,
    pool: concurrent.futures.Executor | None = None,
) -> Iterator[Any]:
    """``fn`` applied to each item of ``source`` on ``num_workers`` threads (or on
    ``pool``, which the iterator then owns and shuts down).

    ``source`` is read in the consumer's thread (pipelines are not thread-safe); at
    most ``window`` calls (default ``2 * num_workers``) are in flight. Results come in
    ``source`` order when ``deterministic``; otherwise as they finish, which keeps the
    workers busy when some items take much longer than others.
    """
    window = max(1, window or 2 * num_workers)
    if pool is None:
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=num_workers, thread_name_prefix="nerve-data-map"
        )
    pending: deque[concurrent.futures.Future] = deque()
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(pool.submit(fn, item))
            if not pending:
                return
            if deterministic:
                future = pending.popleft()
            else:
                done, _ = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED
                )
                future = next(f for f in pending if f in done)
                pending.remove(future)
            yield future.result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        close = getattr(source, "close", None)
        if close is not None:
            close()


class _End:
    """Put on the queue after the last item."""


class _Failure:
    """Carries an exception raised upstream to the consumer."""

    def __init__(self, error: BaseException):
        self.error = error


def prefetch(make_source: Callable[[], Iterator[Any]], buffer_size: int) -> Iterator[Any]:
    """The items of ``make_source()``, produced ``buffer_size`` ahead by a background
    thread (which creates, runs and closes the upstream iterator itself: a generator
    must be closed by the thread that runs it)."""
    items: queue.Queue = queue.Queue(maxsize=max(1, buffer_size))
    stop = threading.Event()

    def offer(item: Any) -> bool:
        """Put ``item`` unless the consumer has gone; False when it has."""
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = None
        try:
            source = make_source()
            for item in source:
                if not offer(item):
                    return
            offer(_End())
        except BaseException as error:  # handed to the consumer, who re-raises it
            offer(_Failure(error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="nerve-data-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        # Unblock a producer waiting on a full queue, then wait for it to finish.
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                items.get(timeout=_POLL)
        thread.join()
