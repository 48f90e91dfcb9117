"""The graph compiler: IR, tracing, optimization passes, executor, ``nerve.function``."""

from nerve.graph.function import Function, RetracingWarning, TensorSpec, function
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.trace import init_scope

__all__ = [
    "Function",
    "Graph",
    "Node",
    "RetracingWarning",
    "TensorSpec",
    "Value",
    "function",
    "init_scope",
]
