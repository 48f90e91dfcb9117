"""Reshaping layers (Permute, RepeatVector, Cropping, UpSampling, ZeroPadding, Flatten)
against PyTorch (``permute``, slicing, ``F.interpolate``, ``F.pad``) and Keras 3, plus
their error messages."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.core.errors import ShapeError
from nerve.testing.layer_harness import LayerCase, LazyKerasLayers, layer_tests
from nerve.testing.op_harness import T
from tests.layers._keras_config import config_test

keras_layers = LazyKerasLayers()

# -- PyTorch references: in channels-first layout, as PyTorch's ops want ----------------------


def channels_first(fn):
    """``fn`` on channels-first tensors, applied to inputs laid out by ``data_format``."""

    def apply(x, data_format="channels_last"):
        if data_format == "channels_first":
            return fn(x)
        return fn(x.movedim(-1, 1)).movedim(1, -1)

    return apply


def _pairs(value, rank):
    if isinstance(value, int):
        return [(value, value)] * rank
    if rank == 1:
        return [tuple(value)]
    return [(v, v) if isinstance(v, int) else tuple(v) for v in value]


def torch_crop(x, cropping, data_format="channels_last"):
    def crop(y):
        index = [slice(None), slice(None)]
        for size, (start, end) in zip(y.shape[2:], _pairs(cropping, y.dim() - 2)):
            index.append(slice(start, size - end))
        return y[tuple(index)]

    return channels_first(crop)(x, data_format)


def torch_pad(x, padding, data_format="channels_last"):
    def pad(y):
        pairs = _pairs(padding, y.dim() - 2)
        return T.nn.functional.pad(y, [p for pair in reversed(pairs) for p in pair])

    return channels_first(pad)(x, data_format)


def torch_upsample(x, size, data_format="channels_last", interpolation="nearest"):
    def upsample(y):
        factors = (size,) * (y.dim() - 2) if isinstance(size, int) else tuple(size)
        options = {}
        if interpolation != "nearest":
            # Keras's bicubic is PyTorch's antialiased one (Keys a = -0.5, normalized).
            options = {"align_corners": False, "antialias": interpolation == "bicubic"}
        return T.nn.functional.interpolate(y, scale_factor=factors, mode=interpolation, **options)

    return channels_first(upsample)(x, data_format)


# -- the table ----------------------------------------------------------------------------------


def row(cls, shape, torch, *args, **kwargs):
    """A row for ``layers.<cls>(*args, **kwargs)``; ``torch(x)`` is its reference."""
    name = "_".join([cls, *map(str, args), *(f"{k}={v}" for k, v in kwargs.items())])
    for long, short in (("data_format=", ""), ("interpolation=", ""), (" ", "")):
        name = name.replace(long, short)
    return LayerCase(
        name,
        lambda **kw: getattr(layers, cls)(*args, **kwargs, **kw),
        shape,
        torch=None if torch is None else lambda xs, ws: torch(xs[0]),
        keras=lambda **kw: getattr(keras_layers, cls)(*args, **kwargs, **kw),
    )


CF = "channels_first"

CASES = [
    row("Permute", (2, 3, 4), lambda x: x.permute(0, 2, 1), (2, 1)),
    row("Permute", (2, 3, 4, 5), lambda x: x.permute(0, 3, 1, 2), (3, 1, 2)),
    row("RepeatVector", (3, 4), lambda x: x.unsqueeze(1).expand(-1, 3, -1), 3),
    row("RepeatVector", (1, 2), lambda x: x.unsqueeze(1).expand(-1, 1, -1), 1),
    row("Cropping1D", (2, 6, 3), lambda x: torch_crop(x, 1)),
    row("Cropping1D", (1, 5, 2), lambda x: torch_crop(x, (0, 2)), (0, 2)),
    row("Cropping2D", (2, 5, 6, 3), lambda x: torch_crop(x, ((1, 2), (0, 1))), ((1, 2), (0, 1))),
    row("Cropping2D", (2, 3, 5, 4), lambda x: torch_crop(x, 1, CF), 1, data_format=CF),
    row("Cropping2D", (1, 5, 7, 2), lambda x: torch_crop(x, (2, 1)), (2, 1)),
    row("Cropping3D", (1, 4, 5, 6, 2), lambda x: torch_crop(x, 1)),
    row(
        "Cropping3D",
        (2, 2, 3, 4, 5),
        lambda x: torch_crop(x, ((0, 1), (1, 2), (2, 1)), CF),
        ((0, 1), (1, 2), (2, 1)),
        data_format=CF,
    ),
    row("UpSampling1D", (2, 3, 4), lambda x: torch_upsample(x, 2)),
    row("UpSampling1D", (1, 4, 2), lambda x: torch_upsample(x, 3), 3),
    row("UpSampling2D", (2, 3, 4, 2), lambda x: torch_upsample(x, 2)),
    row(
        "UpSampling2D",
        (2, 3, 2, 4),
        lambda x: torch_upsample(x, (2, 3), CF),
        (2, 3),
        data_format=CF,
    ),
    row(
        "UpSampling2D",
        (2, 3, 4, 2),
        lambda x: torch_upsample(x, 2, interpolation="bilinear"),
        interpolation="bilinear",
    ),
    row(
        "UpSampling2D",
        (1, 2, 3, 5),
        lambda x: torch_upsample(x, (3, 2), CF, "bilinear"),
        (3, 2),
        data_format=CF,
        interpolation="bilinear",
    ),
    row(
        "UpSampling2D",
        (1, 3, 3, 2),
        lambda x: torch_upsample(x, 2, interpolation="bicubic"),
        interpolation="bicubic",
    ),
    row("UpSampling2D", (1, 3, 4, 1), None, (2, 3), interpolation="lanczos3"),  # no PyTorch Lanczos
    row("UpSampling3D", (1, 2, 3, 2, 2), lambda x: torch_upsample(x, 2)),
    row(
        "UpSampling3D",
        (2, 2, 2, 3, 2),
        lambda x: torch_upsample(x, (1, 2, 3), CF),
        (1, 2, 3),
        data_format=CF,
    ),
    row("ZeroPadding1D", (2, 4, 3), lambda x: torch_pad(x, 1)),
    row("ZeroPadding1D", (1, 3, 4), lambda x: torch_pad(x, (1, 2), CF), (1, 2), data_format=CF),
    row("ZeroPadding2D", (2, 3, 4, 2), lambda x: torch_pad(x, 1)),
    row("ZeroPadding2D", (1, 3, 4, 2), lambda x: torch_pad(x, (2, 1)), (2, 1)),
    row(
        "ZeroPadding2D",
        (2, 2, 3, 4),
        lambda x: torch_pad(x, ((1, 0), (2, 3)), CF),
        ((1, 0), (2, 3)),
        data_format=CF,
    ),
    row("ZeroPadding3D", (1, 2, 3, 2, 2), lambda x: torch_pad(x, 1)),
    row(
        "ZeroPadding3D",
        (2, 2, 2, 3, 2),
        lambda x: torch_pad(x, ((0, 1), (2, 0), (1, 1)), CF),
        ((0, 1), (2, 0), (1, 1)),
        data_format=CF,
    ),
    row("Flatten", (2, 3, 4, 5), lambda x: x.movedim(1, -1).reshape(2, -1), data_format=CF),
    row("Flatten", (1, 3, 2), lambda x: x.reshape(1, -1), data_format="channels_last"),
]

globals().update(layer_tests(CASES))
test_config_matches_keras = config_test(CASES)


def test_keras_names_are_all_here():
    keras = pytest.importorskip("keras")
    prefixes = ("Cropping", "UpSampling", "ZeroPadding")
    names = [n for n in dir(keras.layers) if n.startswith(prefixes)]
    assert len(names) == 9
    assert not [n for n in [*names, "Permute", "RepeatVector", "Flatten"] if not hasattr(layers, n)]


def test_output_shapes_with_unknown_sizes():
    assert layers.Permute((2, 1)).compute_output_shape((None, 3, None)) == (None, None, 3)
    assert layers.RepeatVector(4).compute_output_shape((None, 3)) == (None, 4, 3)
    assert layers.Cropping2D(1).compute_output_shape((None, None, 5, 2)) == (None, None, 3, 2)
    shape = layers.UpSampling3D(2, data_format=CF).compute_output_shape((None, 2, 3, None, 1))
    assert shape == (None, 2, 6, None, 2)
    assert layers.ZeroPadding1D(2).compute_output_shape((None, None, 3)) == (None, None, 3)
    assert layers.Flatten(data_format=CF).compute_output_shape((None, 2, None)) == (None, None)


def test_in_a_functional_model_and_saved(tmp_path):
    inputs = nerve.Input(shape=(6, 6, 2))
    x = layers.ZeroPadding2D(1)(inputs)
    x = layers.Cropping2D(((2, 0), (0, 2)))(x)
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = layers.Permute((3, 1, 2))(x)
    outputs = layers.Flatten()(x)
    model = nerve.Model(inputs, outputs)
    assert model.output.shape == (None, 2 * 12 * 12)
    data = np.random.default_rng(0).standard_normal((2, 6, 6, 2)).astype("float32")
    model.save(tmp_path / "reshape.keras")
    restored = nerve.saving.load_model(tmp_path / "reshape.keras")
    np.testing.assert_allclose(restored.predict(data, verbose=0), model.predict(data, verbose=0))


# -- errors -------------------------------------------------------------------------------------


def test_wrong_rank_names_the_layer_and_the_shape():
    message = (
        r"Cropping3D 'crop' expects inputs of rank 5, \(batch, channels, depth, height, width\) "
        r"with data_format='channels_first', but received inputs of shape \(1, 2, 3, 4\)"
    )
    with pytest.raises(ShapeError, match=message):
        layers.Cropping3D(data_format=CF, name="crop")(ops.ones((1, 2, 3, 4)))
    with pytest.raises(ShapeError, match=r"UpSampling1D .* rank 3, \(batch, steps, channels\)"):
        layers.UpSampling1D()(ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"ZeroPadding2D .* rank 4.*\(None, 3, 3\)"):
        layers.ZeroPadding2D().compute_output_shape((None, 3, 3))
    message = r"Permute 'perm' with dims=\(2, 1\) expects inputs of rank 3 .*\(1, 2, 3, 4\)"
    with pytest.raises(ShapeError, match=message):
        layers.Permute((2, 1), name="perm")(ops.ones((1, 2, 3, 4)))
    message = r"RepeatVector 'rep' expects inputs of rank 2, \(batch, features\), .*\(1, 2, 3\)"
    with pytest.raises(ShapeError, match=message):
        layers.RepeatVector(2, name="rep")(ops.ones((1, 2, 3)))


def test_cropping_that_leaves_nothing():
    crop = layers.Cropping2D(((1, 1), (0, 0)), name="crop")
    message = (
        r"Cropping2D 'crop': cropping \(\(1, 1\), \(0, 0\)\) leaves nothing of the spatial shape "
        r"\(2, 5\) of inputs of shape \(1, 2, 5, 1\) \(data_format='channels_last'\)"
    )
    with pytest.raises(ShapeError, match=message):
        crop(ops.ones((1, 2, 5, 1)))
    with pytest.raises(ShapeError, match=r"leaves nothing of the spatial shape \(2, 5\)"):
        crop.compute_output_shape((None, 2, 5, 1))
    with pytest.raises(ShapeError, match=r"Cropping1D .*\(\(3, 3\),\) leaves nothing.*\(6,\)"):
        layers.Cropping1D(3)(ops.ones((1, 6, 1)))


def test_bad_arguments():
    message = r"Cropping1D: cropping must be an int or a pair \(before, after\), all non-negative"
    with pytest.raises(ValueError, match=message + ", got cropping=-1"):
        layers.Cropping1D(-1)
    with pytest.raises(ValueError, match=r"ZeroPadding2D: padding must be .*non-negative.*-1"):
        layers.ZeroPadding2D(((1, -1), (0, 0)))
    with pytest.raises(ValueError, match=r"ZeroPadding3D: padding must be .*\(1, 2\)"):
        layers.ZeroPadding3D((1, 2))
    with pytest.raises(ValueError, match=r"Cropping2D: cropping .*\(1, 2, 3\)"):
        layers.Cropping2D((1, 2, 3))
    with pytest.raises(ValueError, match=r"UpSampling2D: size must be a positive integer.*size=0"):
        layers.UpSampling2D(0)
    with pytest.raises(ValueError, match=r"UpSampling2D: interpolation must be one of .*'area'"):
        layers.UpSampling2D(interpolation="area")
    with pytest.raises(ValueError, match=r"UpSampling3D: data_format must be .*'NDHWC'"):
        layers.UpSampling3D(data_format="NDHWC")
    with pytest.raises(ValueError, match=r"Flatten: data_format must be .*'channels_middle'"):
        layers.Flatten(data_format="channels_middle")
    with pytest.raises(ValueError, match=r"Permute: dims must be a permutation .*\(0, 1\)"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match=r"Permute: dims .*\(1, 1\)"):
        layers.Permute((1, 1))
    with pytest.raises(ValueError, match=r"RepeatVector: n must be a positive integer; .*n=0"):
        layers.RepeatVector(0)
    with pytest.raises(TypeError):  # no data_format for Cropping1D or UpSampling1D, as in Keras
        layers.Cropping1D(data_format=CF)


def test_flatten_channels_first_keeps_channels_last_order():
    x = ops.reshape(ops.arange(12.0), (1, 2, 3, 2))  # (batch, channels, height, width)
    expected = np.moveaxis(np.arange(12.0).reshape(1, 2, 3, 2), 1, -1).reshape(1, -1)
    np.testing.assert_array_equal(layers.Flatten(data_format=CF)(x).numpy(), expected)


def test_unknown_spatial_sizes_in_a_functional_model():
    inputs = nerve.Input(shape=(None, None, 3))
    x = layers.MaxPooling2D(3)(inputs)
    x = layers.Cropping2D(2)(x)
    x = layers.UpSampling2D(interpolation="bilinear")(x)
    x = layers.ZeroPadding2D()(x)
    assert x.shape == (None, None, None, 3)
    model = nerve.Model(inputs, layers.GlobalAveragePooling2D()(x))
    assert model.output.shape == (None, 3)
    assert model.predict(np.ones((2, 20, 17, 3), "float32"), verbose=0).shape == (2, 3)
