"""Image ops: ``ops.image.resize`` against NumPy references written per output pixel,
PyTorch's ``F.interpolate`` and Keras 3's ``keras.ops.image.resize``."""

import math

import numpy as np
import pytest

from nerve import ops
from nerve.core.errors import ShapeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests

# -- references -------------------------------------------------------------------------


def _source(i, in_size, out_size):
    """Where output pixel ``i`` samples the input (half-pixel centers)."""
    return (i + 0.5) * in_size / out_size - 0.5


def _kernel(name, d):
    if name == "bicubic":
        a = -0.5
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a if d < 2 else 0.0
    radius = int(name[-1])  # lanczos3, lanczos5
    if d == 0:
        return 1.0
    if d >= radius:
        return 0.0
    return radius * math.sin(math.pi * d) * math.sin(math.pi * d / radius) / (math.pi * d) ** 2


def _axis_matrix(in_size, out_size, interpolation, antialias):
    """(out_size, in_size): row i holds the weight of every input pixel for output i."""
    m = np.zeros((out_size, in_size))
    for i in range(out_size):
        src = _source(i, in_size, out_size)
        if interpolation == "nearest":
            m[i, min(math.floor(src + 0.5), in_size - 1)] = 1.0
        elif interpolation == "bilinear" and not antialias:
            # The textbook form: clamp, then blend the two neighbours.
            src = min(max(src, 0.0), in_size - 1)
            lo = math.floor(src)
            hi = min(lo + 1, in_size - 1)
            m[i, lo] += 1 - (src - lo)
            m[i, hi] += src - lo
        else:
            widen = max(in_size / out_size, 1.0) if antialias else 1.0
            for j in range(in_size):
                d = abs(src - j) / widen
                m[i, j] = (
                    max(0.0, 1 - d) if interpolation == "bilinear" else _kernel(interpolation, d)
                )
            m[i] /= m[i].sum()
    return m


def np_resize(x, size, interpolation="bilinear", antialias=False, channels_first=False):
    if channels_first:
        x = np.moveaxis(x, -3, -1)
    rows = _axis_matrix(x.shape[-3], size[0], interpolation, antialias)
    cols = _axis_matrix(x.shape[-2], size[1], interpolation, antialias)
    y = np.einsum("ih,jw,...hwc->...ijc", rows, cols, x)
    return np.moveaxis(y, -1, -3) if channels_first else y


def torch_resize(x, size, interpolation="bilinear", antialias=False, channels_first=False):
    """PyTorch's modes that sample as Keras does: "nearest-exact" (half-pixel nearest),
    "bilinear" without corner alignment, and "bicubic" through its antialiasing path
    (Keys a = -0.5 with normalized weights, Keras's kernel at every scale)."""
    batched = x.dim() == 4
    if not batched:
        x = x.unsqueeze(0)
    if not channels_first:
        x = x.movedim(-1, 1)
    mode = {"nearest": "nearest-exact"}.get(interpolation, interpolation)
    kwargs = {} if mode == "nearest-exact" else {"align_corners": False}
    if interpolation == "bicubic":
        antialias = True
    y = T.nn.functional.interpolate(x, size=size, mode=mode, antialias=antialias, **kwargs)
    if not channels_first:
        y = y.movedim(1, -1)
    return y if batched else y[0]


def resize_case(name, shape, size, interpolation="bilinear", torch=True, **kw):
    channels_first = kw.get("data_format") == "channels_first"
    antialias = kw.get("antialias", False)
    args = (size, interpolation, antialias, channels_first)
    return OpCase(
        name,
        lambda x: ops.image.resize(x, size, interpolation=interpolation, **kw),
        [(Input(shape),)],
        numpy=lambda x: np_resize(x, *args),
        torch=(lambda x: torch_resize(x, *args)) if torch else None,
        rtol=1e-4,
        atol=1e-5,
    )


CASES = [
    resize_case("resize_bilinear_up", (2, 3, 4, 2), (6, 8)),
    resize_case("resize_bilinear_odd", (1, 5, 3, 2), (3, 7)),
    resize_case("resize_bilinear_down", (1, 7, 6, 1), (2, 4)),
    resize_case("resize_bilinear_antialias", (1, 8, 7, 2), (3, 3), antialias=True),
    resize_case("resize_bilinear_single_image", (3, 2, 2), (5, 4)),
    resize_case(
        "resize_bilinear_channels_first", (2, 3, 4, 5), (5, 3), data_format="channels_first"
    ),
    resize_case("resize_nearest_up", (2, 2, 3, 2), (4, 9), "nearest"),
    resize_case("resize_nearest_odd", (1, 5, 4, 1), (3, 7), "nearest"),
    resize_case("resize_bicubic_up", (1, 4, 3, 2), (8, 7), "bicubic"),
    resize_case("resize_bicubic_down_antialias", (1, 9, 8, 1), (4, 3), "bicubic", antialias=True),
    # PyTorch has no Lanczos: NumPy here, Keras below.
    resize_case("resize_lanczos3", (1, 4, 5, 1), (7, 3), "lanczos3", torch=False),
    resize_case("resize_lanczos5", (1, 6, 3, 1), (4, 6), "lanczos5", torch=False),
]

globals().update(op_tests(CASES))


@pytest.mark.parametrize(
    "interpolation", ["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"]
)
@pytest.mark.parametrize("antialias", [False, True])
def test_resize_matches_keras(interpolation, antialias):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    for shape, size in [((2, 3, 4, 2), (6, 8)), ((1, 5, 3, 1), (3, 7)), ((1, 8, 8, 2), (3, 2))]:
        x = rng.standard_normal(shape).astype("float32")
        ours = ops.image.resize(x, size, interpolation=interpolation, antialias=antialias)
        theirs = keras.ops.image.resize(x, size, interpolation=interpolation, antialias=antialias)
        np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), atol=1e-5)


def test_resize_integer_images_round_and_keep_their_dtype():
    x = ops.reshape(ops.arange(4, dtype="int32"), (2, 2, 1))
    out = ops.image.resize(x, (3, 3))
    assert out.dtype == "int32"
    # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2: half to even
    np.testing.assert_array_equal(out.numpy()[..., 0], [[0, 0, 1], [1, 2, 2], [2, 2, 3]])
    overshoot = np.array([[0, 255, 0, 255]] * 4, dtype="uint8")[..., None]
    out = ops.image.resize(overshoot, (8, 8), interpolation="bicubic").numpy()
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255  # clipped, no wrap


def test_resize_errors():
    with pytest.raises(ValueError, match=r"resize: interpolation must be one of .*'area'"):
        ops.image.resize(ops.ones((1, 2, 2, 1)), (3, 3), interpolation="area")
    with pytest.raises(ShapeError, match=r"resize: images must have rank 3 .* \(2, 2\)"):
        ops.image.resize(ops.ones((2, 2)), (3, 3))
    with pytest.raises(ValueError, match=r"resize: size must be two positive ints.*\(3, 0\)"):
        ops.image.resize(ops.ones((2, 2, 1)), (3, 0))
    with pytest.raises(ValueError, match=r"resize: data_format must be .* 'NHWC'"):
        ops.image.resize(ops.ones((2, 2, 1)), (3, 3), data_format="NHWC")
    with pytest.raises(NotImplementedError, match=r"crop_to_aspect_ratio"):
        ops.image.resize(ops.ones((2, 2, 1)), (3, 4), crop_to_aspect_ratio=True)
