"""keras.backend's functions on nerve.backend: settings round-trip, bad values are named,
image_data_format reaches layers and ops, clear_session restarts automatic names."""

import numpy as np
import pytest

from nerve import backend, layers, ops


@pytest.mark.parametrize(
    "getter, setter, value, bad",
    [
        (backend.floatx, backend.set_floatx, "float64", "int32"),
        (backend.image_data_format, backend.set_image_data_format, "channels_first", "nchw"),
    ],
)
def test_setting_round_trips_and_rejects_bad_values(getter, setter, value, bad):
    before = getter()
    try:
        setter(value)
        assert getter() == value
        with pytest.raises(ValueError, match=repr(bad)):
            setter(bad)
        assert getter() == value
    finally:
        setter(before)


def test_epsilon_round_trips():
    before = backend.epsilon()
    try:
        backend.set_epsilon(1e-5)
        assert backend.epsilon() == 1e-5
    finally:
        backend.set_epsilon(before)


def test_image_data_format_is_the_default_for_layers_and_ops():
    x = np.ones((1, 3, 8, 8), "float32")  # channels first
    backend.set_image_data_format("channels_first")
    try:
        conv = layers.Conv2D(4, 3)
        assert conv.data_format == "channels_first"
        assert tuple(conv(x).shape) == (1, 4, 6, 6)
        assert tuple(ops.max_pool(x, 2).shape) == (1, 3, 4, 4)
    finally:
        backend.set_image_data_format("channels_last")
    assert layers.Conv2D(4, 3).data_format == "channels_last"


def test_clear_session_restarts_automatic_names():
    backend.clear_session()
    first = layers.Dense(1).name
    assert layers.Dense(1).name == f"{first}_1"
    backend.clear_session()
    assert layers.Dense(1).name == first
    assert backend.get_uid("some_prefix") == 1


@pytest.mark.parametrize(
    "dtype, is_float, is_int",
    [
        ("float16", True, False),
        ("bfloat16", True, False),
        ("uint8", False, True),
        ("bool", False, False),
    ],
)
def test_dtype_predicates(dtype, is_float, is_int):
    assert backend.is_float_dtype(dtype) is is_float
    assert backend.is_int_dtype(dtype) is is_int


def test_backend_names_the_framework():
    assert backend.backend() == "nerve"
