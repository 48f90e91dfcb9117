"""``nerve.dtype_policies``: Keras 3's ``keras.dtype_policies`` — which dtype a layer
computes in and which it keeps its variables in.

>>> from nerve import dtype_policies
>>> policy = dtype_policies.get("mixed_float16")
>>> policy.compute_dtype, policy.variable_dtype
('float16', 'float32')
>>> dtype_policies.deserialize(dtype_policies.serialize(policy)) == policy
True
"""

from __future__ import annotations

from typing import Any

from nerve.layers.base import DTypePolicy

__all__ = ["DTypePolicy", "FloatDTypePolicy", "deserialize", "get", "serialize"]

#: Keras 3 keeps ``FloatDTypePolicy`` as another name of ``DTypePolicy``.
FloatDTypePolicy = DTypePolicy


def serialize(dtype_policy: DTypePolicy) -> dict:
    """``dtype_policy`` as Keras's serialized dict.

    >>> serialize(DTypePolicy("float32"))["config"]
    {'name': 'float32'}
    """
    if not isinstance(dtype_policy, DTypePolicy):
        raise ValueError(f"serialize expects a DTypePolicy; got {type(dtype_policy).__name__}.")
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": dtype_policy.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> DTypePolicy:
    """The policy a ``serialize`` dict describes.

    >>> deserialize({"class_name": "DTypePolicy", "config": {"name": "bfloat16"}}).name
    'bfloat16'
    """
    if not isinstance(config, dict) or config.get("class_name") not in (
        "DTypePolicy",
        "FloatDTypePolicy",
    ):
        raise ValueError(
            f"deserialize expects a serialized DTypePolicy (class_name 'DTypePolicy'); "
            f"got {config!r}."
        )
    return DTypePolicy.from_config(config.get("config", {}))


def get(identifier: Any) -> DTypePolicy | None:
    """A policy from a name (``"float32"``, ``"mixed_bfloat16"``...), a ``serialize``
    dict or a policy (returned as is); ``None`` gives ``None``.

    >>> get("float16").variable_dtype
    'float16'
    """
    if identifier is None or isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    raise ValueError(
        f"Could not interpret a dtype policy from {identifier!r}; expected a name such as "
        "'mixed_float16', a DTypePolicy or its serialized dict."
    )
