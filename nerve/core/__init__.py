"""The bottom layer: dtypes and promotion, config, errors, nested structures."""

__all__ = ["config", "dtypes", "errors", "lookup", "object_registry", "tree"]
