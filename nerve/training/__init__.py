"""The training loop: ``Trainer`` (compile/fit/evaluate/predict) and data adapters."""

__all__ = ["compile_utils", "data_adapters", "trainer"]
