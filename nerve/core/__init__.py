"""The bottom layer: dtypes and promotion, config, errors, nested structures."""
