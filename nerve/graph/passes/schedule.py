"""Scheduling collectives: start communication early, wait for it late.

The executor runs nodes in the graph's order. A traced data-parallel step binds its
``allreduce_start`` / ``allreduce_wait`` pairs after the whole backward pass (the
gradients are complete only then), so in traced order nothing would overlap. This
pass moves them, and nothing else:

* each ``allreduce_start`` goes right after the last producer of its inputs (and
  not before the previous start: every process must start its collectives in the
  same order, so starts keep their relative order);
* each ``allreduce_wait`` goes right before the first node that uses one of its
  results, or to the end (and not after the next wait: waits keep their order too).

Other nodes keep their order, so results are bit-identical to the traced order: the
pass only changes when the channel is called. Moving a collective past a variable
read or write is safe because collectives touch no variable.

The analysis (``collective_slots``) returns plain data: for each collective node,
the position among the other nodes it goes before.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node
from nerve.primitives.collective import allreduce_start_p, allreduce_wait_p

__all__ = [
    "collective_slots",
    "schedule_collectives",
]


def collective_slots(graph: Graph) -> tuple[list[Node], dict[int, int]]:
    """The non-collective nodes in order, and ``{id(collective node): k}``: the node
    goes right before ``others[k]`` (``k == len(others)``: at the end)."""
    others = [n for n in graph.nodes if n.prim not in (allreduce_start_p, allreduce_wait_p)]
    position = {out: k for k, node in enumerate(others) for out in node.outputs}
    first_use: dict = {}
    for k, node in enumerate(others):
        for v in node.inputs:
            first_use.setdefault(v, k)
    slots: dict[int, int] = {}
    earliest = 0
    for node in graph.nodes:
        if node.prim is allreduce_start_p:
            ready = max((position[v] + 1 for v in node.inputs if v in position), default=0)
            earliest = max(earliest, ready)
            slots[id(node)] = earliest
    latest = len(others)
    for node in reversed(graph.nodes):
        if node.prim is allreduce_wait_p:
            needed = min((first_use[v] for v in node.outputs if v in first_use), default=latest)
            latest = min(latest, needed)
            slots[id(node)] = latest
    return others, slots


def schedule_collectives(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with collective starts as early and waits as late as allowed (the
    same on every backend; a graph without collectives is returned as is)."""
    collectives = [n for n in graph.nodes if n.prim in (allreduce_start_p, allreduce_wait_p)]
    if not collectives:
        return graph
    others, slots = collective_slots(graph)
    before: dict[int, list[Node]] = {}
    # Starts before waits at one slot (a wait never precedes its own start); each kind
    # in its traced order.
    for kind in (allreduce_start_p, allreduce_wait_p):
        for node in collectives:
            if node.prim is kind:
                before.setdefault(slots[id(node)], []).append(node)
    nodes: list[Node] = []
    for k, node in enumerate(others):
        nodes.extend(before.get(k, ()))
        nodes.append(node)
    nodes.extend(before.get(len(others), ()))
    out = graph.copy()
    out.nodes = nodes
    return out
