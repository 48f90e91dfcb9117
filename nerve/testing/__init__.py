"""Testing utilities: the declarative op-test harness (``op_harness``) and the layer
test harness (``layer_harness``)."""

__all__ = ["layer_harness", "op_harness"]
