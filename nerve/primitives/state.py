"""State primitives: reading and writing variables inside a traced graph.

They exist only in graphs (eager code reads ``Variable._value`` directly). Each
names its variable by ``slot``, an index into ``Graph.variables``; the graph
executor runs them, so they have no backend kernel.
"""

from __future__ import annotations

from nerve.primitives.registry import Aval, Primitive

read_variable_p = Primitive(
    "read_variable",
    shape_rule=lambda *, slot, aval: aval,
    differentiable=False,
    effect=True,
)

assign_variable_p = Primitive(
    "assign_variable",
    shape_rule=lambda value, *, slot: (),
    differentiable=False,
    multiple_results=True,
    effect=True,
)

__all__ = ["Aval", "assign_variable_p", "read_variable_p"]
