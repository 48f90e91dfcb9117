"""Convolution layers against PyTorch and Keras 3 (the ``LayerCase`` table), their
error messages, and weights files exchanged with Keras."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.testing.layer_harness import LayerCase, LazyKerasLayers, check_against_torch, layer_tests
from nerve.testing.op_harness import T

keras_layers = LazyKerasLayers()

# Keras's NumPy backend converts its own Variables with np.array(copy=False) inside its
# convolutions, which NumPy 2 warns about; the warning is Keras's, not nerve's.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

# -- the PyTorch oracle: Keras's layouts mapped onto torch.nn.functional ----------------------


def _to_torch_layout(x, rank, channels_first):
    return x if channels_first else x.permute(0, rank + 1, *range(1, rank + 1))


def _from_torch_layout(y, rank, channels_first):
    return y if channels_first else y.permute(0, *range(2, rank + 2), 1)


def _kernel_for_torch(kernel, rank):
    """Keras's ``(*window, a, b)`` as PyTorch's ``(b, a, *window)``."""
    return kernel.permute(rank + 1, rank, *range(rank))


def _forward_pads(sizes, window, strides, dilation, padding):
    """(before, after) per spatial axis: TensorFlow's "same" (the odd pad at the end),
    "causal" (all of it at the start)."""
    pads = []
    for n, k, s, d in zip(sizes, window, strides, dilation):
        span = (k - 1) * d + 1
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "causal":
            pads.append((span - 1, 0))
        else:
            total = max((-(-n // s) - 1) * s + span - n, 0)
            pads.append((total // 2, total - total // 2))
    return pads


def _pad_spatial(x, pads):
    flat = [p for pair in reversed(pads) for p in pair]  # torch pads the last axis first
    return T.nn.functional.pad(x, flat)


def _add_bias(y, ws, n_kernels):
    return y + ws[n_kernels].reshape(1, -1, *(1,) * (y.ndim - 2)) if len(ws) > n_kernels else y


_ACTIVATIONS = {None: lambda y: y, "tanh": T.tanh, "relu": T.relu, "sigmoid": T.sigmoid}


def torch_conv(kind, rank, args, xs, ws):
    """The layer ``kind`` with constructor ``args`` on ``xs[0]``, weights ``ws`` in
    Keras's layout, computed by PyTorch (channels first inside)."""
    F = T.nn.functional
    channels_first = args.get("data_format") == "channels_first"
    x = _to_torch_layout(xs[0], rank, channels_first)
    window = _tuple(args["kernel_size"], rank)
    strides = _tuple(args.get("strides", 1), rank)
    dilation = _tuple(args.get("dilation_rate", 1), rank)
    padding = args.get("padding", "valid")
    conv = getattr(F, f"conv{rank}d")
    if kind == "transpose":
        y = _torch_conv_transpose(x, ws[0], window, strides, dilation, padding, args, rank)
    else:
        x = _pad_spatial(x, _forward_pads(x.shape[2:], window, strides, dilation, padding))
        channels = x.shape[1]
        if kind == "conv":
            groups = channels // ws[0].shape[-2]
            y = conv(x, _kernel_for_torch(ws[0], rank), None, strides, 0, dilation, groups)
        else:  # depthwise (output channel c * multiplier + m), then pointwise if separable
            depthwise = ws[0].permute(rank, rank + 1, *range(rank))
            depthwise = depthwise.reshape(-1, 1, *window)
            y = conv(x, depthwise, None, strides, 0, dilation, channels)
            if kind == "separable":
                y = conv(y, _kernel_for_torch(ws[1], rank))
    y = _add_bias(y, ws, 2 if kind == "separable" else 1)
    y = _ACTIVATIONS[args.get("activation")](y)
    return _from_torch_layout(y, rank, channels_first)


def _torch_conv_transpose(x, kernel, window, strides, dilation, padding, args, rank):
    """The transposed convolution as the adjoint of a convolution from the output size
    Keras defines, padded (total // 2 before, the rest after): PyTorch's full
    transposed convolution, cut (or zero-extended at the end) to that window."""
    F = T.nn.functional
    extras = args.get("output_padding")
    extras = _tuple(extras, rank) if extras is not None else (None,) * rank
    full = getattr(F, f"conv_transpose{rank}d")(
        x, _kernel_for_torch(kernel, rank), None, strides, dilation=dilation
    )
    index = [slice(None), slice(None)]
    for axis, (n, k, s, d, extra) in enumerate(zip(x.shape[2:], window, strides, dilation, extras)):
        span = (k - 1) * d + 1
        if padding == "valid":
            out = (n - 1) * s + (max(span, s) if extra is None else span + extra)
        else:
            out = n * s if extra is None else (n - 1) * s + span % 2 + extra
        grow = max(out - full.shape[axis + 2], 0)
        if grow:
            pads = [(0, 0)] * rank
            pads[axis] = (0, grow)
            full = _pad_spatial(full, pads)
        start = max((n - 1) * s + span - out, 0) // 2
        index.append(slice(start, start + out))
    return full[tuple(index)]


def _tuple(value, rank):
    return (value,) * rank if isinstance(value, int) else tuple(value)


# -- the table ------------------------------------------------------------------------------


def _kind(cls):
    if cls.endswith("Transpose"):
        return "transpose"
    for prefix in ("Depthwise", "Separable"):
        if cls.startswith(prefix):
            return prefix.lower()
    return "conv"


def conv_case(name, cls, input_shape, **args):
    """A row for ``layers.<cls>(**args)``: PyTorch and Keras with the same weights."""
    rank, kind = len(input_shape) - 2, _kind(cls)
    return LayerCase(
        name,
        lambda **kw: getattr(layers, cls)(**args, **kw),
        input_shape,
        torch=lambda xs, ws: torch_conv(kind, rank, args, xs, ws),
        keras=lambda **kw: getattr(keras_layers, cls)(**args, **kw),
    )


CASES = [
    # Conv1D: valid, same with strides, causal (dilated; channels first), groups
    conv_case("conv1d_valid", "Conv1D", (2, 9, 3), filters=4, kernel_size=3),
    conv_case(
        "conv1d_same_strided", "Conv1D", (2, 9, 2), filters=3, kernel_size=4, strides=2,
        padding="same",
    ),
    conv_case(
        "conv1d_causal_dilated_tanh", "Conv1D", (2, 10, 2), filters=3, kernel_size=3,
        padding="causal", dilation_rate=2, activation="tanh",
    ),
    conv_case(
        "conv1d_causal_channels_first", "Conv1D", (1, 3, 7), filters=2, kernel_size=2,
        padding="causal", data_format="channels_first",
    ),
    conv_case(
        "conv1d_groups_no_bias", "Conv1D", (2, 7, 6), filters=6, kernel_size=3, groups=3,
        use_bias=False,
    ),
    # Conv2D: odd sizes, same with unequal strides, dilation, groups channels-first, 1x1
    conv_case("conv2d_valid_odd", "Conv2D", (2, 7, 5, 3), filters=4, kernel_size=(3, 2)),
    conv_case(
        "conv2d_same_strided_relu", "Conv2D", (2, 7, 8, 2), filters=3, kernel_size=3,
        strides=(2, 3), padding="same", activation="relu",
    ),
    conv_case(
        "conv2d_dilated_same", "Conv2D", (1, 7, 6, 2), filters=2, kernel_size=3,
        dilation_rate=(2, 1), padding="same",
    ),
    conv_case(
        "conv2d_groups_channels_first", "Conv2D", (2, 4, 6, 5), filters=4, kernel_size=3,
        groups=2, data_format="channels_first",
    ),
    conv_case(
        "conv2d_batch1_1x1_no_bias", "Conv2D", (1, 4, 4, 5), filters=3, kernel_size=1,
        use_bias=False,
    ),
    # Conv3D
    conv_case(
        "conv3d_same_strided", "Conv3D", (1, 4, 5, 3, 2), filters=2, kernel_size=(2, 3, 2),
        strides=2, padding="same",
    ),
    conv_case(
        "conv3d_channels_first", "Conv3D", (2, 2, 3, 4, 3), filters=3, kernel_size=2,
        data_format="channels_first",
    ),
    # depthwise: multipliers, strides, dilation, channels first
    conv_case(
        "depthwise1d_multiplier_strided", "DepthwiseConv1D", (2, 9, 3), kernel_size=3,
        depth_multiplier=2, strides=2,
    ),
    conv_case(
        "depthwise2d_same_dilated", "DepthwiseConv2D", (1, 7, 6, 3), kernel_size=3,
        padding="same", dilation_rate=2,
    ),
    conv_case(
        "depthwise2d_channels_first_no_bias", "DepthwiseConv2D", (2, 2, 5, 5),
        kernel_size=(3, 2), depth_multiplier=3, data_format="channels_first", use_bias=False,
    ),
    # Keras lets depthwise and separable layers (only) combine strides and dilation
    conv_case(
        "depthwise2d_strided_dilated", "DepthwiseConv2D", (1, 9, 8, 2), kernel_size=3,
        strides=2, dilation_rate=2, padding="same",
    ),
    conv_case(
        "separable1d_strided_dilated", "SeparableConv1D", (2, 11, 2), filters=3, kernel_size=3,
        strides=2, dilation_rate=2,
    ),
    # separable
    conv_case(
        "separable1d_same_multiplier", "SeparableConv1D", (2, 8, 3), filters=4, kernel_size=3,
        depth_multiplier=2, padding="same",
    ),
    conv_case(
        "separable2d_strided_sigmoid", "SeparableConv2D", (2, 7, 7, 3), filters=5,
        kernel_size=3, strides=2, activation="sigmoid",
    ),
    conv_case(
        "separable2d_channels_first_dilated", "SeparableConv2D", (1, 2, 6, 7), filters=3,
        kernel_size=(2, 3), dilation_rate=(1, 2), data_format="channels_first", use_bias=False,
    ),
    # transposed: valid and same, output_padding, stride wider than the kernel, dilation
    conv_case("conv1d_transpose_strided", "Conv1DTranspose", (2, 5, 4), filters=3, kernel_size=3,
              strides=2),
    conv_case(
        "conv1d_transpose_same_output_padding", "Conv1DTranspose", (2, 4, 3), filters=2,
        kernel_size=4, strides=3, padding="same", output_padding=2,
    ),
    conv_case(
        "conv2d_transpose_same", "Conv2DTranspose", (2, 4, 5, 2), filters=3, kernel_size=3,
        strides=2, padding="same",
    ),
    conv_case(
        "conv2d_transpose_output_padding_channels_first", "Conv2DTranspose", (1, 3, 4, 3),
        filters=2, kernel_size=(3, 2), strides=(2, 3), output_padding=(1, 0),
        data_format="channels_first",
    ),
    conv_case(
        "conv2d_transpose_dilated_same", "Conv2DTranspose", (1, 5, 4, 2), filters=2,
        kernel_size=3, dilation_rate=2, padding="same",
    ),
    conv_case(
        "conv2d_transpose_stride_wider_than_kernel", "Conv2DTranspose", (1, 3, 3, 2),
        filters=2, kernel_size=2, strides=3,
    ),
    conv_case(
        "conv3d_transpose_same_no_bias", "Conv3DTranspose", (1, 2, 3, 2, 3), filters=2,
        kernel_size=2, strides=2, padding="same", use_bias=False,
    ),
    conv_case(
        "conv3d_transpose_output_padding_channels_first", "Conv3DTranspose", (1, 2, 2, 3, 2),
        filters=2, kernel_size=3, strides=2, output_padding=1, data_format="channels_first",
    ),
]  # fmt: skip

globals().update(layer_tests(CASES))


def test_the_oracle_can_fail():
    # The same row with a kernel read the wrong way round (no transpose) must fail.
    wrong = conv_case("conv2d_wrong", "Conv2D", (1, 5, 5, 2), filters=3, kernel_size=(3, 2))
    wrong.torch = lambda xs, ws: torch_conv("conv", 2, {"kernel_size": (2, 3)}, xs,
                                            [ws[0].transpose(0, 1), ws[1]])  # fmt: skip
    with pytest.raises(AssertionError, match="conv2d_wrong forward"):
        check_against_torch(wrong, "float64")


# -- names, configs, shapes and FLOPs -------------------------------------------------------

CLASSES = [
    "Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
    "DepthwiseConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
]  # fmt: skip


def _make(module, cls, **kw):
    args = {} if cls.startswith("Depthwise") else {"filters": 4}
    return getattr(module, cls)(kernel_size=2, **args, **kw)


@pytest.mark.parametrize("cls", CLASSES)
def test_config_keys_and_values_match_keras(cls):
    keras = pytest.importorskip("keras")
    kw = {"strides": 2, "padding": "SAME", "activation": "relu", "use_bias": False}
    if cls.endswith("Transpose"):
        kw["output_padding"] = 1
    ours, theirs = (
        _make(layers, cls, **kw).get_config(),
        _make(keras.layers, cls, **kw).get_config(),
    )
    assert set(ours) == set(theirs)
    plain = ("kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
             "filters", "depth_multiplier", "output_padding", "use_bias", "activation")  # fmt: skip
    assert {k: ours[k] for k in plain if k in ours} == {k: theirs[k] for k in plain if k in theirs}


def test_default_names_and_keras_aliases():
    assert [_make(layers, cls).name.rstrip("_0123456789") for cls in ("Conv2D", "Conv3DTranspose")]
    assert layers.Conv2D(1, 1, name=None).name.startswith(
        "conv2d"
    )  # Keras's "conv2d", not "conv2_d"
    assert layers.SeparableConv1D(1, 1).name.startswith("separable_conv1d")
    aliases = {"Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
               "Convolution1DTranspose": "Conv1DTranspose", "Convolution2DTranspose":
               "Conv2DTranspose", "Convolution3DTranspose": "Conv3DTranspose",
               "SeparableConvolution1D": "SeparableConv1D",
               "SeparableConvolution2D": "SeparableConv2D"}  # fmt: skip
    for alias, name in aliases.items():
        assert getattr(layers, alias) is getattr(layers, name)
    keras = pytest.importorskip("keras")
    ours = {n for n in dir(layers) if "Conv" in n and "LSTM" not in n}
    assert ours == {n for n in dir(keras.layers) if "Conv" in n and "LSTM" not in n}


def test_conv3d_transpose_takes_data_format_before_output_padding():
    layer = layers.Conv3DTranspose(2, 3, 2, "valid", "channels_first", 1)
    assert layer.data_format == "channels_first" and layer.output_padding == (1, 1, 1)


@pytest.mark.parametrize(
    "layer,input_shape,output_shape",
    [
        (layers.Conv1D(4, 3, padding="causal", strides=2), (None, 9, 3), (None, 5, 4)),
        (layers.Conv2D(4, 3, data_format="channels_first"), (None, 2, None, 7), (None, 4, None, 5)),
        (layers.DepthwiseConv2D(3, depth_multiplier=2), (None, 5, 5, 3), (None, 3, 3, 6)),
        (layers.SeparableConv2D(4, 3, strides=2, padding="same"), (None, 7, 8, 3), (None, 4, 4, 4)),
        (layers.Conv2DTranspose(3, 3, strides=2), (None, 4, None, 2), (None, 9, None, 3)),
        (layers.Conv3DTranspose(3, 2, strides=3), (None, 2, 2, 2, 1), (None, 6, 6, 6, 3)),
    ],
)  # fmt: skip
def test_compute_output_shape_with_unknown_sizes(layer, input_shape, output_shape):
    assert layer.compute_output_shape(input_shape) == output_shape
    assert not layer.built


def test_compute_flops_counts_two_per_multiply_add():
    conv = layers.Conv2D(8, 3, padding="same", groups=2)  # 3*3*(4/2) MACs per output value
    assert conv.compute_flops((None, 10, 10, 4), (None, 10, 10, 8)) == 2 * 100 * 8 * 9 * 2
    assert conv.compute_flops((None, 10, 10, 4), None) == 2 * 100 * 8 * 9 * 2
    assert conv.compute_flops((None, None, 10, 4), None) is None
    channels_first = layers.Conv1D(5, 3, data_format="channels_first")
    assert channels_first.compute_flops((None, 2, 12), (None, 5, 10)) == 2 * 10 * 5 * 3 * 2
    depthwise = layers.DepthwiseConv2D(3, depth_multiplier=2)
    assert depthwise.compute_flops((None, 6, 6, 3), None) == 2 * 16 * 6 * 9
    separable = layers.SeparableConv1D(4, 3, depth_multiplier=2)
    assert separable.compute_flops((None, 10, 3), None) == 2 * 8 * (6 * 3 + 6 * 4)
    transpose = layers.Conv2DTranspose(4, 3, strides=2)  # each input pixel: 3*3*4*2 MACs
    assert transpose.compute_flops((None, 5, 5, 2), (None, 11, 11, 4)) == 2 * 25 * 9 * 4 * 2
    transpose(ops.ones((1, 5, 5, 2)))
    assert transpose.compute_flops((None, 5, 5, 2), None) == 2 * 25 * 9 * 4 * 2


def test_functional_model_with_unknown_spatial_sizes():
    inputs = nerve.Input(shape=(None, None, 3))
    x = layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    x = layers.SeparableConv2D(4, 3, padding="same")(x)
    outputs = layers.Conv2DTranspose(2, 3, strides=2, padding="same")(x)
    assert outputs.shape == (None, None, None, 2)
    model = nerve.Model(inputs, outputs)
    assert model.predict(np.ones((1, 9, 11, 3), "float32"), verbose=0).shape == (1, 8, 10, 2)
    assert model(ops.ones((2, 5, 5, 3))).shape == (2, 4, 4, 2)


def test_regularizers_constraints_and_mixed_precision():
    conv = layers.SeparableConv1D(
        2, 3, depthwise_regularizer="l2", pointwise_regularizer="l1", bias_regularizer="l2",
        activity_regularizer="l2", pointwise_constraint="non_neg",
    )  # fmt: skip
    y = conv(ops.ones((2, 6, 3)))
    assert len(conv.losses) == 4
    # The optimizer applies a weight's constraint after each update.
    assert isinstance(conv.pointwise_kernel.constraint, nerve.constraints.NonNeg)
    assert conv.depthwise_kernel.constraint is None
    half = layers.Conv2D(2, 3, dtype="mixed_float16")
    assert half(ops.ones((1, 4, 4, 1))).dtype == "float16" and half.kernel.dtype == "float32"
    assert y.shape == (2, 4, 2)


def test_training_a_convnet_lowers_the_loss():
    # Seeded: the weights must not depend on what earlier tests drew from the global
    # seed generator.
    nerve.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 8, 8, 1)).astype("float32")
    y = (x[:, :4].sum(axis=(1, 2, 3)) > 0).astype("int64")  # top half brighter or not
    model = nerve.Sequential(
        [nerve.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
         layers.DepthwiseConv2D(3, strides=2), layers.Flatten(), layers.Dense(2)]
    )  # fmt: skip
    model.compile(
        optimizer=nerve.optimizers.Adam(0.01),
        loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


# -- errors: the layer, the shape received and what was expected -----------------------------


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: layers.Conv2D(0, 3), r"Conv2D: filters must be a positive integer; .*=0"),
        (lambda: layers.Conv1D(4, 0), r"Conv1D: kernel_size must be a positive integer or a "
                                      r"tuple of 1 positive"),
        (lambda: layers.Conv2D(4, (3, 3, 3)), r"kernel_size must be .* tuple of 2 .* got "
                                              r"kernel_size=\(3, 3, 3\)"),
        (lambda: layers.Conv2D(4, 3, strides=(1, 0)), r"strides must be a positive integer"),
        (lambda: layers.Conv3D(4, 3, dilation_rate=-1), r"dilation_rate must be a positive"),
        (lambda: layers.Conv2D(4, 2.5), r"kernel_size must be"),
        (lambda: layers.Conv2D(4, 3, groups=0), r"groups must be a positive integer"),
        (lambda: layers.Conv2D(6, 3, groups=4), r"filters must be divisible by groups, got "
                                                r"filters=6 and groups=4"),
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), r"depth_multiplier must be a "
                                                                r"positive integer"),
        (lambda: layers.Conv2D(4, 3, padding="full"), r"Conv2D: padding must be one of 'valid', "
                                                      r"'same', got 'full'"),
        (lambda: layers.Conv2D(4, 3, padding="causal"), r"padding must be one of 'valid', 'same'"),
        (lambda: layers.SeparableConv1D(4, 3, padding="causal"), r"padding must be one of"),
        (lambda: layers.Conv2D(4, 3, data_format="NHWC"), r"data_format must be one of "
                                                          r"'channels_last', 'channels_first'"),
        (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), r"strides > 1 cannot be "
                                                                  r"combined with dilation_rate"),
        (lambda: layers.Conv2DTranspose(4, 3, output_padding=-1), r"output_padding must be a "
                                                                  r"non-negative integer"),
        (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=(1, 2)),
         r"each output_padding must be smaller than the stride .* output_padding=\(1, 2\) and "
         r"strides=\(2, 2\)"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_rank_names_layer_shape_and_layout():
    conv = layers.Conv2D(4, 3, name="stem")
    with pytest.raises(
        ValueError,
        match=r"Conv2D 'stem' expects inputs of rank 4, laid out "
        r"\(batch, \*spatial, channels\) .* received inputs of shape \(2, 5, 5\)",
    ):
        conv(ops.ones((2, 5, 5)))  # fmt: skip
    cf = layers.Conv1D(4, 3, data_format="channels_first", name="cf")
    with pytest.raises(
        ValueError,
        match=r"\(batch, channels, \*spatial\) for "
        r"data_format='channels_first'.*\(2, 3, 5, 5\) \(rank 4\)",
    ):
        cf(ops.ones((2, 3, 5, 5)))  # fmt: skip


def test_channels_mismatch_with_the_built_kernel():
    conv = layers.Conv2D(4, 3, name="c")
    conv(ops.ones((1, 5, 5, 3)))
    with pytest.raises(
        ValueError,
        match=r"Conv2D 'c' was built for inputs with 3 channels "
        r"\(axis -1, data_format='channels_last'\), but received inputs of "
        r"shape \(1, 5, 5, 2\), with 2 channels",
    ):
        conv(ops.ones((1, 5, 5, 2)))  # fmt: skip
    up = layers.Conv2DTranspose(4, 3, data_format="channels_first", name="up")
    up(ops.ones((1, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"'up' was built for inputs with 2 channels \(axis 1"):
        up(ops.ones((1, 3, 3, 3)))


def test_groups_must_divide_the_input_channels():
    with pytest.raises(
        ValueError,
        match=r"Conv2D 'g': the number of input channels must be "
        r"divisible by groups=2, but inputs of shape \(1, 5, 5, 3\) have 3",
    ):
        layers.Conv2D(4, 3, groups=2, name="g")(ops.ones((1, 5, 5, 3)))  # fmt: skip


def test_unknown_channels_at_build():
    with pytest.raises(
        ValueError,
        match=r"DepthwiseConv2D 'd' needs inputs whose channel axis "
        r"is known, got shape \(None, 5, 5, None\)",
    ):
        layers.DepthwiseConv2D(3, name="d").build((None, 5, 5, None))  # fmt: skip


def test_kernel_larger_than_the_input():
    message = (r"Conv2D 'big': kernel_size \(5, 5\) with dilation_rate \(1, 1\) spans \(5, 5\), "
               r"larger than the spatial shape \(3, 7\) of its inputs of shape \(1, 3, 7, 2\) "
               r"\(padding='valid'.*Use padding='same'")  # fmt: skip
    with pytest.raises(ValueError, match=message):
        layers.Conv2D(4, 5, name="big")(ops.ones((1, 3, 7, 2)))
    dilated = layers.Conv1D(2, 3, dilation_rate=3, name="dil")  # spans 7
    dilated(ops.ones((1, 7, 1)))
    with pytest.raises(
        ValueError,
        match=r"'dil': .* spans \(7,\), larger than the spatial "
        r"shape \(6,\)",
    ):
        dilated(ops.ones((1, 6, 1)))  # fmt: skip
    with pytest.raises(ValueError, match=r"SeparableConv2D 's': .* spans \(3, 3\)"):
        layers.SeparableConv2D(2, 3, name="s").compute_output_shape((None, 2, 9, 1))
    # "same" pads whatever the window: no error, and an output of the input's size.
    assert layers.Conv2D(1, 5, padding="same")(ops.ones((1, 3, 3, 1))).shape == (1, 3, 3, 1)


def test_functional_connection_error_names_the_conv_problem():
    inputs = nerve.Input(shape=(2, 2, 3))
    with pytest.raises(
        ValueError,
        match=r"(?s)Layer 'late' \(Conv2D\) cannot be connected .*"
        r"spans \(3, 3\), larger than the spatial shape \(2, 2\)",
    ):
        layers.Conv2D(4, 3, name="late")(inputs)  # fmt: skip


# -- weights files exchanged with Keras ------------------------------------------------------


def _convnet(module, input_layer):
    """The same small convnet in Keras or nerve: every kind of convolution layer."""
    L = module.layers
    return module.Sequential(
        [input_layer(shape=(6, 6, 4)),
         L.Conv2D(4, 3, padding="same", activation="relu"),
         L.DepthwiseConv2D(3, depth_multiplier=2),
         L.SeparableConv2D(6, 3, padding="same", depth_multiplier=2),
         L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1),
         L.Reshape((8, 8, 4, 1)),
         L.Conv3D(2, 2, data_format="channels_last"),
         L.Conv3DTranspose(1, 2),
         L.Reshape((64, 4)),
         L.Conv1D(5, 3, padding="causal", groups=1),
         L.DepthwiseConv1D(3, data_format="channels_first"),
         L.SeparableConv1D(3, 3),
         L.Conv1DTranspose(2, 3, strides=2),
         L.Flatten(),
         L.Dense(3)]
    )  # fmt: skip


def _random_weights(model, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(w.shape)).astype("float32") * 0.3 for w in model.weights]


@pytest.fixture
def keras_module():
    keras = pytest.importorskip("keras")
    return keras


def test_nerve_reads_a_keras_convnet(tmp_path, keras_module):
    keras = keras_module
    theirs = _convnet(keras, keras.Input)
    theirs.set_weights(_random_weights(theirs, 1))
    x = np.random.default_rng(2).standard_normal((3, 6, 6, 4)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs.predict(x, verbose=0))
    theirs.save_weights(tmp_path / "k.weights.h5")
    theirs.save(tmp_path / "k.keras")
    for path in ("k.weights.h5", "k.keras"):
        ours = _convnet(nerve, nerve.Input)
        nerve.saving.load_weights(ours, tmp_path / path)
        for a, b in zip(theirs.get_weights(), ours.get_weights(), strict=True):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), b)
        np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_keras_reads_a_nerve_convnet(tmp_path, keras_module):
    keras = keras_module
    ours = _convnet(nerve, nerve.Input)
    ours.set_weights(_random_weights(ours, 3))
    x = np.random.default_rng(4).standard_normal((3, 6, 6, 4)).astype("float32")
    expected = ours.predict(x, verbose=0)
    nerve.saving.save_weights(ours, tmp_path / "n.weights.h5")
    nerve.saving.save_model(ours, tmp_path / "n.keras")
    for path in ("n.weights.h5", "n.keras"):
        theirs = _convnet(keras, keras.Input)
        theirs.load_weights(tmp_path / path)
        predicted = keras.ops.convert_to_numpy(theirs.predict(x, verbose=0))
        np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-5)
    restored = nerve.saving.load_model(tmp_path / "n.keras")
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
