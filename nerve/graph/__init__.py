"""The graph compiler: IR, tracing, optimization passes, executor, ``nerve.function``."""

from nerve.graph.function import Function, RetracingWarning, TensorSpec, function
from nerve.graph.ir import Graph, Node, Value

__all__ = ["Function", "Graph", "Node", "RetracingWarning", "TensorSpec", "Value", "function"]
