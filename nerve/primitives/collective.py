"""Collective primitives: a non-blocking sum over processes, split into start and wait.

A data-parallel step sums each bucket of gradients over the processes. Inside a
compiled step that sum is two nodes, so the communication can run while the rest of
the backward pass computes:

* ``allreduce_start(*arrays) -> token``: hand the bucket's arrays to a
  ``CollectiveChannel`` (which copies them into its own buffer and starts a
  non-blocking allreduce); the token is a 0-d int64 naming the bucket;
* ``allreduce_wait(token) -> arrays``: wait for that allreduce and return the summed
  arrays (shapes and dtypes as given to the start; they may be views into the
  channel's buffer, which the channel reuses for the next start of that bucket).

Both are graph-only and effectful (like the state primitives): no backend kernel, the
graph executor calls the channel named in their params, and no pass drops, merges or
folds them. The scheduling pass (``nerve.graph.passes.schedule``) is the one pass that
moves them: starts as early as their inputs allow, waits as late as their users allow,
each kind keeping its order (every process must start its collectives in the same
order). The channel object is supplied from above (``nerve.distribution``); this
module knows nothing of how bytes travel.
"""

from __future__ import annotations

from typing import Any, Protocol

from nerve.primitives.registry import Aval, Primitive

__all__ = [
    "COLLECTIVE_PRIMITIVES",
    "CollectiveChannel",
    "allreduce_start_p",
    "allreduce_wait_p",
]

_TOKEN = Aval((), "int64")


class CollectiveChannel(Protocol):
    """What ``allreduce_start`` / ``allreduce_wait`` nodes call (their ``channel`` param).

    ``start(bucket, *arrays)`` starts the sum of ``arrays`` (host arrays of the graph's
    backend) and returns a 0-d int64 token; ``wait(bucket, token)`` returns the summed
    arrays, one per array given to the start, each of its shape and dtype.
    """

    def start(self, bucket: int, *arrays: Any) -> Any: ...

    def wait(self, bucket: int, token: Any) -> tuple: ...


def _start_rule(*arrays: Aval, channel: Any, bucket: int) -> Aval:
    if not arrays:
        raise ValueError(f"allreduce_start: bucket {bucket} has no arrays to sum.")
    return _TOKEN


def _wait_rule(token: Aval, *, channel: Any, bucket: int, avals: tuple) -> tuple:
    if token != _TOKEN:
        raise ValueError(
            f"allreduce_wait: expected the token of an allreduce_start (int64[]); got {token}."
        )
    return tuple(avals)


allreduce_start_p = Primitive(
    "allreduce_start",
    shape_rule=_start_rule,
    differentiable=False,
    effect=True,
)

allreduce_wait_p = Primitive(
    "allreduce_wait",
    shape_rule=_wait_rule,
    differentiable=False,
    effect=True,
    multiple_results=True,
)

#: The collective primitives, in the order a bucket uses them.
COLLECTIVE_PRIMITIVES = (allreduce_start_p, allreduce_wait_p)
