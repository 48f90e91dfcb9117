"""Testing utilities: the declarative op-test harness (``op_harness``)."""
