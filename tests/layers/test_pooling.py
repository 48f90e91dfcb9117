"""Pooling layers against PyTorch's pooling kernels (TensorFlow's asymmetric "same"
padding applied with ``F.pad``) and Keras 3, plus their error messages."""

import math

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.core.errors import ShapeError
from nerve.testing.layer_harness import LayerCase, LazyKerasLayers, layer_tests
from nerve.testing.op_harness import T
from tests.layers._keras_config import config_test

keras_layers = LazyKerasLayers()

# -- PyTorch references -----------------------------------------------------------------------


def _tuple(value, rank):
    return (value,) * rank if isinstance(value, int) else tuple(value)


def same_pads(sizes, window, strides):
    """TensorFlow's "same": ceil(size / stride) windows, the odd extra pad at the end."""
    pads = []
    for n, k, s in zip(sizes, window, strides):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def torch_pool(x, kind, pool_size, strides=None, padding="valid", data_format="channels_last"):
    F = T.nn.functional
    rank = x.dim() - 2
    channels_last = data_format == "channels_last"
    if channels_last:
        x = x.movedim(-1, 1)
    window = _tuple(pool_size, rank)
    strides = window if strides is None else _tuple(strides, rank)
    pads = same_pads(x.shape[2:], window, strides) if padding == "same" else [(0, 0)] * rank
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad: last axis first
    if kind == "max":
        y = getattr(F, f"max_pool{rank}d")(F.pad(x, flat, value=-math.inf), window, strides)
    else:
        # Keras averages over the window's positions inside the input; with asymmetric
        # padding PyTorch's count_include_pad can't say that, so divide by the count.
        average = getattr(F, f"avg_pool{rank}d")
        y = average(F.pad(x, flat), window, strides) / average(
            F.pad(T.ones_like(x), flat), window, strides
        )
    return y.movedim(1, -1) if channels_last else y


def torch_global(x, kind, data_format="channels_last", keepdims=False):
    first = 2 if data_format == "channels_first" else 1
    axes = tuple(range(first, first + x.dim() - 2))
    return (
        x.amax(dim=axes, keepdim=keepdims) if kind == "max" else x.mean(axis=axes, keepdim=keepdims)
    )


# -- the table ----------------------------------------------------------------------------------


def pool_row(cls, shape, *args, **kwargs):
    """A row for ``layers.<cls>(*args, **kwargs)`` on inputs of ``shape``."""
    kind = "max" if cls.startswith("Max") else "avg"
    rank = len(shape) - 2
    pool_size = args[0] if args else kwargs.get("pool_size", 2)
    options = {k: kwargs[k] for k in ("strides", "padding", "data_format") if k in kwargs}
    name = "_".join([cls, *map(str, args), *(f"{k}={v}" for k, v in kwargs.items())])
    return LayerCase(
        name.replace(" ", "").replace("data_format=", ""),
        lambda **kw: getattr(layers, cls)(*args, **kwargs, **kw),
        shape,
        torch=lambda xs, ws: torch_pool(xs[0], kind, _tuple(pool_size, rank), **options),
        keras=lambda **kw: getattr(keras_layers, cls)(*args, **kwargs, **kw),
    )


def global_row(cls, shape, **kwargs):
    kind = "max" if "Max" in cls else "avg"
    name = "_".join([cls, *(f"{k}={v}" for k, v in kwargs.items())])
    return LayerCase(
        name.replace("data_format=", ""),
        lambda **kw: getattr(layers, cls)(**kwargs, **kw),
        shape,
        torch=lambda xs, ws: torch_global(xs[0], kind, **kwargs),
        keras=lambda **kw: getattr(keras_layers, cls)(**kwargs, **kw),
    )


MASK = np.array([[True, True, False, True, False], [False, True, True, True, True]])


def masked_mean_row(data_format):
    steps = 1 if data_format == "channels_last" else 2
    shape = (2, 5, 3) if data_format == "channels_last" else (2, 3, 5)

    def torch(xs, ws):
        weights = T.from_numpy(MASK).to(xs[0].dtype).unsqueeze(3 - steps)
        return (xs[0] * weights).sum(steps) / weights.sum(steps)

    return LayerCase(
        f"GlobalAveragePooling1D_mask_{data_format}",
        lambda **kw: layers.GlobalAveragePooling1D(data_format=data_format, **kw),
        shape,
        torch=torch,
        keras=lambda **kw: keras_layers.GlobalAveragePooling1D(data_format=data_format, **kw),
        call_kwargs={"mask": MASK},
    )


CF = {"data_format": "channels_first"}

CASES = [
    # windows: default pool, odd sizes, strides, "same" (asymmetric pads), both formats
    pool_row("MaxPooling1D", (2, 7, 3)),
    pool_row("MaxPooling1D", (1, 6, 2), 3, strides=1, padding="same"),
    pool_row("MaxPooling1D", (2, 3, 7), 2, strides=3, **CF),
    pool_row("MaxPooling2D", (2, 5, 6, 3)),
    pool_row("MaxPooling2D", (1, 7, 7, 2), 3, strides=2),
    pool_row("MaxPooling2D", (2, 3, 5, 6), (3, 2), strides=(2, 1), padding="same", **CF),
    pool_row("MaxPooling3D", (1, 4, 5, 3, 2), padding="same"),
    pool_row("MaxPooling3D", (2, 2, 4, 4, 5), 2, strides=(1, 2, 2), **CF),
    pool_row("AveragePooling1D", (2, 7, 3), 2),
    pool_row("AveragePooling1D", (2, 3, 7), 3, strides=2, padding="same", **CF),
    pool_row("AveragePooling2D", (2, 5, 5, 2), 2, strides=1),
    pool_row("AveragePooling2D", (1, 5, 6, 2), 3, strides=2, padding="same"),
    pool_row("AveragePooling2D", (2, 3, 5, 5), 2, padding="same", **CF),
    pool_row("AveragePooling3D", (1, 4, 4, 3, 2), (2, 2, 3)),
    pool_row("AveragePooling3D", (1, 2, 3, 5, 4), 2, strides=(1, 2, 3), padding="same", **CF),
    # global: every rank, keepdims, both formats, batch 1
    global_row("GlobalMaxPooling1D", (2, 5, 3)),
    global_row("GlobalMaxPooling1D", (1, 3, 5), keepdims=True, **CF),
    global_row("GlobalMaxPooling2D", (2, 4, 3, 2)),
    global_row("GlobalMaxPooling2D", (2, 2, 4, 3), **CF),
    global_row("GlobalMaxPooling3D", (1, 3, 2, 4, 2), keepdims=True),
    global_row("GlobalAveragePooling1D", (2, 5, 3), keepdims=True),
    global_row("GlobalAveragePooling2D", (2, 4, 3, 2)),
    global_row("GlobalAveragePooling2D", (1, 2, 4, 3), keepdims=True, **CF),
    global_row("GlobalAveragePooling3D", (2, 2, 3, 2, 4), **CF),
    masked_mean_row("channels_last"),
    masked_mean_row("channels_first"),
]

globals().update(layer_tests(CASES))
test_config_matches_keras = config_test(CASES)


def test_keras_names_are_all_here():
    keras = pytest.importorskip("keras")
    names = [n for n in dir(keras.layers) if "Pool" in n and not n.startswith("Adaptive")]
    assert len(names) == 24
    missing = [n for n in names if not hasattr(layers, n)]
    assert not missing
    assert layers.MaxPool2D is layers.MaxPooling2D
    assert layers.GlobalAvgPool1D is layers.GlobalAveragePooling1D


def test_output_shapes_with_unknown_sizes():
    assert layers.MaxPooling2D(3, padding="same").compute_output_shape((None, None, 7, 2)) == (
        None,
        None,
        3,
        2,
    )
    assert layers.AveragePooling1D(2).compute_output_shape((None, None, 4)) == (None, None, 4)
    assert layers.GlobalMaxPooling2D(keepdims=True).compute_output_shape((None, None, None, 3)) == (
        None,
        1,
        1,
        3,
    )


def test_in_a_functional_model_and_saved(tmp_path):
    inputs = nerve.Input(shape=(8, 8, 3))
    x = layers.MaxPooling2D()(inputs)
    x = layers.AveragePooling2D(2, padding="same")(x)
    outputs = layers.GlobalAveragePooling2D()(x)
    model = nerve.Model(inputs, outputs)
    assert model.output.shape == (None, 3)
    data = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    model.save(tmp_path / "pool.keras")
    restored = nerve.saving.load_model(tmp_path / "pool.keras")
    np.testing.assert_allclose(restored.predict(data, verbose=0), model.predict(data, verbose=0))


# -- errors -------------------------------------------------------------------------------------


def test_wrong_rank_names_the_layer_the_shape_and_the_layout():
    pool = layers.MaxPooling2D(name="pool")
    with pytest.raises(
        ShapeError,
        match=r"MaxPooling2D 'pool' expects inputs of rank 4, \(batch, height, width, channels\) "
        r"with data_format='channels_last', but received inputs of shape \(1, 5, 3\)",
    ):
        pool(ops.ones((1, 5, 3)))
    with pytest.raises(ShapeError, match=r"\(batch, channels, steps\).*\(2, 3\)"):
        layers.GlobalAveragePooling1D(data_format="channels_first")(ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"GlobalMaxPooling3D .* rank 5.*\(2, 3, 4, 5\)"):
        layers.GlobalMaxPooling3D().compute_output_shape((2, 3, 4, 5))


def test_pool_larger_than_the_input():
    pool = layers.AveragePooling2D(3, name="avg")
    message = (
        r"AveragePooling2D 'avg': pool_size \(3, 3\) is larger than the spatial shape \(2, 4\) "
        r"of inputs of shape \(1, 2, 4, 1\) \(data_format='channels_last'\); use a smaller "
        r"pool_size or padding='same'"
    )
    with pytest.raises(ShapeError, match=message):
        pool(ops.ones((1, 2, 4, 1)))
    with pytest.raises(ShapeError, match=r"larger than the spatial shape \(2, 4\)"):
        pool.compute_output_shape((None, 2, 4, 1))
    # "same" pads instead
    assert layers.AveragePooling2D(3, padding="same")(ops.ones((1, 2, 4, 1))).shape == (1, 1, 2, 1)


def test_bad_arguments():
    message = r"MaxPooling2D: pool_size must be a positive integer or a tuple of 2 positive "
    with pytest.raises(ValueError, match=message + r"integers .*got pool_size=0"):
        layers.MaxPooling2D(0)
    with pytest.raises(ValueError, match=r"AveragePooling3D: strides must be .*\(1, -1, 1\)"):
        layers.AveragePooling3D(2, strides=(1, -1, 1))
    with pytest.raises(ValueError, match=r"MaxPooling1D: pool_size .*\(2, 2\)"):
        layers.MaxPooling1D((2, 2))
    message = r"MaxPooling2D: padding must be 'valid' or 'same', got padding='causal'"
    with pytest.raises(ValueError, match=message):
        layers.MaxPooling2D(padding="causal")
    message = r"GlobalMaxPooling2D: data_format must be 'channels_last' or 'channels_first', "
    with pytest.raises(ValueError, match=message + "got data_format='NHWC'"):
        layers.GlobalMaxPooling2D(data_format="NHWC")
    with pytest.raises(TypeError, match=r"required positional argument: 'pool_size'"):
        layers.AveragePooling2D()  # no default pool_size, as in Keras


def test_mask_of_the_wrong_shape():
    pool = layers.GlobalAveragePooling1D(name="gap")
    message = (
        r"GlobalAveragePooling1D 'gap': the mask must have shape \(batch, steps\) = \(2, 5\) "
        r"for inputs of shape \(2, 5, 3\) .* but it has shape \(2, 3\)"
    )
    with pytest.raises(ShapeError, match=message):
        pool(ops.ones((2, 5, 3)), mask=np.ones((2, 3), bool))


def test_padding_is_case_insensitive_and_saved_lowercase():
    assert layers.MaxPooling1D(padding="SAME").get_config()["padding"] == "same"
