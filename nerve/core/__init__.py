"""The bottom layer: dtypes and promotion, config, errors, nested structures."""

__all__ = ["config", "dtypes", "errors", "global_state", "lookup", "object_registry", "tree"]
