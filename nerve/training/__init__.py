"""The training loop: ``Trainer`` (compile/fit/evaluate/predict) and data adapters."""
