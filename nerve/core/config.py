"""Global settings, held in context variables so threads and tasks can differ.

>>> floatx()
'float32'
>>> with floatx_scope("float64"):
...     floatx()
'float64'
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator

__all__ = [
    "DATA_CHECKS",
    "backend",
    "data_checks",
    "enable_shape_rule_checks",
    "epsilon",
    "floatx",
    "floatx_scope",
    "flush_denormals",
    "image_data_format",
    "on_shape_rule_checks",
    "set_data_checks",
    "set_epsilon",
    "set_floatx",
    "set_flush_denormals",
    "set_image_data_format",
    "shape_rule_checks_enabled",
]

_FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
_floatx: contextvars.ContextVar[str] = contextvars.ContextVar("nerve_floatx", default="float32")
_epsilon: contextvars.ContextVar[float] = contextvars.ContextVar("nerve_epsilon", default=1e-7)
_DATA_FORMATS = ("channels_last", "channels_first")
_image_data_format: contextvars.ContextVar[str] = contextvars.ContextVar(
    "nerve_image_data_format", default="channels_last"
)


def backend() -> str:
    """The name of the running framework, ``"nerve"`` (Keras's ``backend()`` answers
    ``"jax"``, ``"torch"``...; which array library nerve runs on is a device matter,
    see ``nerve.backend.get_backend``).

    >>> backend()
    'nerve'
    """
    return "nerve"


def floatx() -> str:
    """The default floating-point type (Keras's ``floatx``)."""
    return _floatx.get()


def set_floatx(value: str) -> None:
    """Set the default floating-point type for this context."""
    if value not in _FLOAT_TYPES:
        raise ValueError(f"floatx must be one of {_FLOAT_TYPES}, got {value!r}.")
    _floatx.set(value)


@contextlib.contextmanager
def floatx_scope(value: str) -> Iterator[None]:
    """Temporarily set the default float type."""
    if value not in _FLOAT_TYPES:
        raise ValueError(f"floatx must be one of {_FLOAT_TYPES}, got {value!r}.")
    token = _floatx.set(value)
    try:
        yield
    finally:
        _floatx.reset(token)


def epsilon() -> float:
    """The fuzz factor used to avoid division by zero (Keras's ``epsilon``)."""
    return _epsilon.get()


def set_epsilon(value: float) -> None:
    """Set the fuzz factor."""
    _epsilon.set(float(value))


def image_data_format() -> str:
    """What ``data_format=None`` means for image layers and ops (Keras's
    ``image_data_format``): ``"channels_last"`` (the default) or ``"channels_first"``.

    >>> image_data_format()
    'channels_last'
    """
    return _image_data_format.get()


def set_image_data_format(data_format: str) -> None:
    """Set what ``data_format=None`` means for image layers and ops in this context.

    >>> set_image_data_format("channels_first"); image_data_format()
    'channels_first'
    >>> set_image_data_format("channels_last")
    """
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in _DATA_FORMATS:
        raise ValueError(f"image_data_format must be one of {_DATA_FORMATS}, got {data_format!r}.")
    _image_data_format.set(value)


#: How much of the data ``fit`` checks before training on it (see ``set_data_checks``).
DATA_CHECKS = ("first_batch", "every_batch", "off")
_data_checks: contextvars.ContextVar[str] = contextvars.ContextVar(
    "nerve_data_checks", default="first_batch"
)


def data_checks() -> str:
    """How much of its data ``fit`` checks: ``"first_batch"`` (the default),
    ``"every_batch"`` or ``"off"`` (see ``set_data_checks``)."""
    return _data_checks.get()


def set_data_checks(mode: str) -> None:
    """Choose how much of the data ``fit`` checks on the host before a step runs:
    inputs, targets and sample weights free of NaN and infinity (the error names the
    input holding them), and integer class labels in range for sparse losses and
    metrics. ``"first_batch"`` (the default) checks the first batch of each ``fit``
    call, a cheap guard against wrong data; ``"every_batch"`` checks them all (a full
    pass over the data, at some cost per step); ``"off"`` checks nothing. ``evaluate``
    (and fit's validation) check class labels on every batch whatever the mode.

    >>> set_data_checks("every_batch"); data_checks()
    'every_batch'
    >>> set_data_checks("first_batch")
    """
    if mode not in DATA_CHECKS:
        raise ValueError(f"data checks must be one of {DATA_CHECKS}; received {mode!r}.")
    _data_checks.set(mode)


_flush_denormals: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "nerve_flush_denormals", default=os.environ.get("NERVE_FLUSH_DENORMALS", "0") == "1"
)


def flush_denormals() -> bool:
    """Whether compiled runs flush denormal floats to zero (see
    ``set_flush_denormals``).

    >>> flush_denormals()
    False
    """
    return _flush_denormals.get()


def set_flush_denormals(enabled: bool) -> None:
    """Flush denormal floats (magnitudes below ~1.2e-38 in float32) to zero in compiled
    runs (``nerve.function``, and so ``fit``/``evaluate``/``predict``): a result that
    would be denormal becomes 0, and a denormal operand counts as 0. Off by default,
    because it changes results (eager ops keep IEEE arithmetic); the environment
    variable ``NERVE_FLUSH_DENORMALS=1`` turns it on at import.

    Why turn it on: a CPU computes on denormals ~100x slower, and the optimizer state
    of a dead ReLU unit decays into that range and stays there (``0.9 * m`` rounds back
    to ``m``), so each training step pays; an MLP step with Adam ran 1.37x slower for
    it. JAX (XLA's CPU runtime) and TensorFlow always flush. Where the backend cannot
    (a machine other than x86, no C compiler) it computes as before.

    >>> set_flush_denormals(True); flush_denormals()
    True
    >>> set_flush_denormals(False)
    """
    _flush_denormals.set(bool(enabled))


_shape_rule_checks = False
_shape_rule_check_hooks: list[Callable[[bool], None]] = []


def enable_shape_rule_checks(enabled: bool = True) -> None:
    """Debugging: compare every eager op's result with its primitive's shape rule and
    raise on a difference (the graph compiler trusts the rules). Off by default; the
    environment variable ``NERVE_CHECK_SHAPE_RULES=1`` turns it on at import."""
    global _shape_rule_checks
    _shape_rule_checks = bool(enabled)
    for hook in _shape_rule_check_hooks:
        hook(_shape_rule_checks)


def shape_rule_checks_enabled() -> bool:
    """Whether ``enable_shape_rule_checks`` is on."""
    return _shape_rule_checks


def on_shape_rule_checks(hook: Callable[[bool], None]) -> None:
    """Call ``hook(enabled)`` now and whenever the setting changes: the eager
    interpreter (a layer above) installs its checking variant this way, so the
    unchecked hot path never tests a flag."""
    _shape_rule_check_hooks.append(hook)
    hook(_shape_rule_checks)
