"""Image ops (``ops.image`` and the image functions of ``ops.nn``): one op-table row
per op and variant, against NumPy/SciPy references written here (per output pixel
where NumPy has no function), PyTorch's ``F.interpolate``, ``F.grid_sample``,
``F.unfold``, ``pixel_shuffle`` and convolutions, and Keras 3's NumPy backend
where neither has the function (``scale_and_translate``, ``perspective_transform``).
"""

import colorsys
import math

import numpy as np
import pytest
import scipy.ndimage

import nerve
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
        elif interpolation == "area":
            # The output pixel's box in input coordinates; each input pixel weighs its share.
            step = in_size / out_size
            lo, hi = i * step, (i + 1) * step
            for j in range(in_size):
                m[i, j] = max(0.0, min(hi, j + 1) - max(lo, j)) / step
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
    kwargs = {} if mode in ("nearest-exact", "area") else {"align_corners": False}
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


# -- references: sampling ---------------------------------------------------------------


def scipy_map_coordinates(x, coordinates, order, fill_mode="constant", fill_value=0.0):
    """SciPy's ``map_coordinates`` with the fill mode applied to every neighbour read:
    SciPy pads only by its spline's reach, so the array is first padded by NumPy far
    enough that SciPy never reads beyond it."""
    coordinates = [np.asarray(c, np.float64) for c in coordinates]
    margins = [
        (max(1 - math.floor(c.min()), 0), max(math.ceil(c.max()) + 1 - n, 0))
        for c, n in zip(coordinates, x.shape)
    ]
    numpy_mode = {"nearest": "edge", "mirror": "reflect", "reflect": "symmetric"}
    mode = numpy_mode.get(fill_mode, fill_mode)
    kw = {"constant_values": fill_value} if fill_mode == "constant" else {}
    padded = np.pad(x, margins, mode=mode, **kw)
    shifted = [c + lo for c, (lo, _) in zip(coordinates, margins)]
    return scipy.ndimage.map_coordinates(
        padded, shifted, order=order, mode=fill_mode, cval=fill_value
    )


def _source_grid(height, width, transform):
    """Where each output pixel of a projective ``transform`` reads: (rows, cols)."""
    a0, a1, a2, b0, b1, b2, c0, c1 = transform
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    k = c0 * x + c1 * y + 1
    return (b0 * x + b1 * y + b2) / k, (a0 * x + a1 * y + a2) / k


def np_affine(images, transforms, order, fill_mode, fill_value=0.0):
    out = np.empty_like(images)
    for i, (image, transform) in enumerate(zip(images, transforms)):
        rows, cols = _source_grid(*image.shape[:2], transform)
        for c in range(image.shape[-1]):
            out[i, ..., c] = scipy_map_coordinates(image[..., c], [rows, cols], order,
                                                   fill_mode, fill_value)  # fmt: skip
    return out


def torch_affine_bilinear(images, transforms):
    """``F.grid_sample`` (bilinear, zeros outside, corners at pixel centres) on the
    same sampling grid."""
    n, h, w, _ = images.shape
    grids = []
    for transform in transforms:
        rows, cols = _source_grid(h, w, transform)
        grids.append(np.stack([2 * cols / (w - 1) - 1, 2 * rows / (h - 1) - 1], axis=-1))
    grid = T.from_numpy(np.stack(grids)).to(images.dtype)
    y = T.nn.functional.grid_sample(
        images.movedim(-1, 1), grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )
    return y.movedim(1, -1)


def affine_case(name, shape, interpolation, fill_mode, torch=False, **kw):
    rng = np.random.default_rng(len(name))
    transforms = rng.uniform(-0.3, 0.3, (shape[0], 8))
    transforms[:, [0, 4]] += 1.0  # near the identity, so most pixels land inside
    transforms[:, [2, 5]] = rng.uniform(-1.5, 1.5, (shape[0], 2))
    transforms[:, 6:] = rng.uniform(-0.02, 0.02, (shape[0], 2))
    order = {"nearest": 0, "bilinear": 1}[interpolation]
    return OpCase(
        name,
        lambda x: ops.image.affine_transform(x, transforms, interpolation, fill_mode, **kw),
        [(Input(shape),)],
        numpy=lambda x: np_affine(x, transforms, order, fill_mode, kw.get("fill_value", 0.0)),
        torch=(lambda x: torch_affine_bilinear(x, transforms)) if torch else None,
        rtol=1e-4,
        atol=1e-5,
    )


def map_coordinates_case(name, shape, coordinate_shape, order, fill_mode, **kw):
    coords = Input((len(shape), *coordinate_shape), low=-2.6, high=max(shape) + 1.7,
                   differentiable=False)  # fmt: skip
    return OpCase(
        name,
        lambda x, c: ops.image.map_coordinates(x, c, order, fill_mode, **kw),
        [(Input(shape), coords)],
        numpy=lambda x, c: scipy_map_coordinates(
            x, list(c), order, fill_mode, kw.get("fill_value", 0.0)
        ),
        rtol=1e-4,
        atol=1e-5,
    )


_CORNERS = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 4.0], [6.0, 4.0]])
_MOVED = np.array([[0.5, 0.3], [5.2, -0.4], [-0.3, 4.4], [6.1, 3.6]])


def keras_numpy(name):
    """A function of Keras 3's NumPy backend, the reference where neither NumPy nor
    PyTorch has one (imported when the row runs)."""

    def call(*args, **kwargs):
        keras = pytest.importorskip("keras")
        return keras.ops.convert_to_numpy(getattr(keras.ops.image, name)(*args, **kwargs))

    return call


# -- references: filters, colour, patches -----------------------------------------------


def _gaussian(size, sigma):
    k = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
    return k / k.sum()


def np_correlate(images, kernel, pads, mode="constant"):
    """Every channel of ``(batch, h, w, c)`` images correlated with a 2-D kernel after
    padding ``pads = ((top, bottom), (left, right))``."""
    padded = np.pad(images, ((0, 0), *pads, (0, 0)), mode=mode)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape, axis=(1, 2))
    return np.einsum("bhwcij,ij->bhwc", windows, kernel)


def np_gaussian_blur(images, kernel_size, sigma):
    kernel = np.outer(_gaussian(kernel_size[1], sigma[1]), _gaussian(kernel_size[0], sigma[0]))
    kh, kw = kernel.shape
    pads = (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))
    return np_correlate(images, kernel, pads)


def torch_depthwise(images, kernel, pads, mode="constant"):
    x = images.movedim(-1, 1)
    (top, bottom), (left, right) = pads
    x = T.nn.functional.pad(x, (left, right, top, bottom), mode=mode)
    channels = x.shape[1]
    w = T.from_numpy(np.ascontiguousarray(kernel)).to(x.dtype).expand(channels, 1, *kernel.shape)
    return T.nn.functional.conv2d(x, w, groups=channels).movedim(1, -1)


def torch_gaussian_blur(images, kernel_size, sigma):
    kernel = np.outer(_gaussian(kernel_size[1], sigma[1]), _gaussian(kernel_size[0], sigma[0]))
    kh, kw = kernel.shape
    return torch_depthwise(images, kernel, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))


def np_sobel(images):
    out = np.empty((*images.shape, 2))
    for b, c in np.ndindex(images.shape[0], images.shape[-1]):
        for k in range(2):
            out[b, :, :, c, k] = scipy.ndimage.sobel(images[b, :, :, c], axis=k)
    return out


_SOBEL = np.outer([-1.0, 0.0, 1.0], [1.0, 2.0, 1.0])


def torch_sobel(images):
    # With one pixel of padding, repeating the edge ("replicate") is SciPy's "reflect".
    pads = ((1, 1), (1, 1))
    return T.stack([torch_depthwise(images, k, pads, "replicate") for k in (_SOBEL, _SOBEL.T)], -1)


def np_ssim(a, b, max_val=1.0, size=11, sigma=1.5, k1=0.01, k2=0.03):
    kernel = np.outer(_gaussian(size, sigma), _gaussian(size, sigma))
    single = a.ndim == 3
    a, b = (np.atleast_3d(v)[None] if single else v for v in (a, b))
    no_pad = ((0, 0), (0, 0))
    mu1, mu2 = np_correlate(a, kernel, no_pad), np_correlate(b, kernel, no_pad)
    var1 = np_correlate(a * a, kernel, no_pad) - mu1**2
    var2 = np_correlate(b * b, kernel, no_pad) - mu2**2
    cov = np_correlate(a * b, kernel, no_pad) - mu1 * mu2
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    s = (2 * mu1 * mu2 + c1) * (2 * cov + c2) / ((mu1**2 + mu2**2 + c1) * (var1 + var2 + c2))
    per_image = s.mean(axis=(1, 2, 3))
    return per_image[0] if single else per_image


def np_colorsys(convert, images):
    """A colour conversion applied pixel by pixel with Python's ``colorsys``."""
    flat = images.reshape(-1, 3)
    return np.array([convert(*pixel) for pixel in flat]).reshape(images.shape)


def np_patches(images, size, strides, dilation=1, padding=((0, 0), (0, 0))):
    """Patches written per output position: window pixels in row-major order, the
    channels of each pixel together."""
    x = np.pad(images, ((0, 0), *padding, (0, 0)))
    ph, pw = size
    span_h, span_w = (ph - 1) * dilation + 1, (pw - 1) * dilation + 1
    rows = (x.shape[1] - span_h) // strides[0] + 1
    cols = (x.shape[2] - span_w) // strides[1] + 1
    out = np.empty((x.shape[0], rows, cols, ph * pw * x.shape[-1]))
    for i, j in np.ndindex(rows, cols):
        top, left = i * strides[0], j * strides[1]
        window = x[:, top : top + span_h : dilation, left : left + span_w : dilation]
        out[:, i, j] = window.reshape(x.shape[0], -1)
    return out


def torch_patches(images, size, strides, dilation=1):
    n, h, w, c = images.shape
    cols = T.nn.functional.unfold(images.movedim(-1, 1), size, dilation=dilation, stride=strides)
    span = [(k - 1) * dilation + 1 for k in size]
    rows_out = (h - span[0]) // strides[0] + 1
    cols_out = (w - span[1]) // strides[1] + 1
    cols = cols.reshape(n, c, size[0] * size[1], rows_out, cols_out)
    return cols.permute(0, 3, 4, 2, 1).reshape(n, rows_out, cols_out, -1)


def np_patches_3d(volumes, size, strides):
    n, d, h, w, c = volumes.shape
    out_shape = [(s - k) // st + 1 for s, k, st in zip((d, h, w), size, strides)]
    out = np.empty((n, *out_shape, math.prod(size) * c))
    for i, j, k in np.ndindex(*out_shape):
        a, b, e = i * strides[0], j * strides[1], k * strides[2]
        out[:, i, j, k] = volumes[:, a : a + size[0], b : b + size[1], e : e + size[2]].reshape(
            n, -1
        )
    return out


def np_depth_to_space(x, b):
    """Channels-last: output pixel ``(i * b + di, j * b + dj)`` holds input ``(i, j)``'s
    channels ``(di * b + dj) * C' ...``."""
    n, h, w, c = x.shape
    new = c // (b * b)
    out = np.empty((n, h * b, w * b, new))
    for i, j, di, dj in np.ndindex(h, w, b, b):
        start = (di * b + dj) * new
        out[:, i * b + di, j * b + dj] = x[:, i, j, start : start + new]
    return out


def np_space_to_depth(x, b):
    n, h, w, c = x.shape
    out = np.empty((n, h // b, w // b, c * b * b))
    for i, j, di, dj in np.ndindex(h // b, w // b, b, b):
        start = (di * b + dj) * c
        out[:, i, j, start : start + c] = x[:, i * b + di, j * b + dj]
    return out


def np_psnr(a, b, max_val):
    return 20 * np.log10(max_val) - 10 * np.log10(np.mean((a - b) ** 2))


CHANNELS_FIRST = {"data_format": "channels_first"}


def resize_adjoint(g, in_shape, interpolation="bilinear"):
    """The transpose of ``resize`` applied to ``g`` (its input-gradient for the output
    cotangent ``g``): what the ``resample_transpose`` primitive computes."""
    x = ops.zeros(in_shape, dtype=g.dtype)
    with nerve.GradientTape() as tape:
        tape.watch(x)
        y = ops.image.resize(x, tuple(g.shape[-3:-1]), interpolation=interpolation)
        total = ops.sum(y * g)
    return tape.gradient(total, x)


def np_resize_adjoint(g, in_shape, interpolation="bilinear"):
    rows = _axis_matrix(in_shape[-3], g.shape[-3], interpolation, False)
    cols = _axis_matrix(in_shape[-2], g.shape[-2], interpolation, False)
    return np.einsum("ih,jw,...ijc->...hwc", rows, cols, g)


def _cf(fn):
    """A channels-last reference applied to channels-first images."""
    return lambda x: np.moveaxis(fn(np.moveaxis(x, 1, -1)), -1, 1)


CASES = [
    resize_case("resize_bilinear_up", (2, 3, 4, 2), (6, 8)),
    resize_case("resize_bilinear_odd", (1, 5, 3, 2), (3, 7)),
    resize_case("resize_bilinear_down", (1, 7, 6, 1), (2, 4)),
    resize_case("resize_bilinear_antialias", (1, 8, 7, 2), (3, 3), antialias=True),
    resize_case("resize_bilinear_single_image", (3, 2, 2), (5, 4)),
    # One axis kept: resample along the other only; 3, 4 and 5 channels: the C loops'
    # fixed and general channel counts.
    resize_case("resize_bilinear_one_axis", (1, 4, 5, 2), (4, 8)),
    resize_case("resize_bilinear_rgb", (2, 5, 4, 3), (3, 6)),
    resize_case("resize_bilinear_rgba", (1, 4, 6, 4), (7, 3)),
    resize_case("resize_bilinear_five_channels", (1, 3, 4, 5), (5, 2)),
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
    resize_case("resize_area_down", (1, 8, 6, 2), (4, 3), "area"),
    OpCase(
        "resize_adjoint",
        lambda g: resize_adjoint(g, (2, 4, 5, 2), "bicubic"),
        [(Input((2, 7, 3, 2)),)],
        numpy=lambda g: np_resize_adjoint(g, (2, 4, 5, 2), "bicubic"),
        rtol=1e-4,
        atol=1e-5,
        symbolic=False,  # a gradient taken with a tape, not one op
    ),
    resize_case("resize_area_fraction", (1, 7, 5, 1), (3, 4), "area", torch=False),
    OpCase(
        "resize_crop_to_aspect_ratio",
        lambda x: ops.image.resize(x, (3, 3), crop_to_aspect_ratio=True),
        [(Input((2, 5, 8, 2)),)],
        numpy=lambda x: np_resize(x[:, :, 1:6], (3, 3)),
        rtol=1e-4,
        atol=1e-5,
    ),
    OpCase(
        "resize_pad_to_aspect_ratio",
        lambda x: ops.image.resize(x, (4, 4), pad_to_aspect_ratio=True, fill_value=0.5),
        [(Input((1, 6, 4, 2)),)],
        numpy=lambda x: np_resize(
            np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)), constant_values=0.5), (4, 4)
        ),
        rtol=1e-4,
        atol=1e-5,
    ),
    OpCase(
        "scale_and_translate_cubic",
        lambda x: ops.image.scale_and_translate(
            x, (2, 5, 9, 2), [0.7, 1.6], [0.4, -1.1], (1, 2), "cubic"
        ),
        [(Input((2, 6, 5, 2)),)],
        numpy=lambda x: keras_numpy("scale_and_translate")(
            x, (2, 5, 9, 2), np.array([0.7, 1.6]), np.array([0.4, -1.1]), (1, 2), "cubic"
        ),
        rtol=1e-4,
        atol=1e-5,
    ),
    *(
        map_coordinates_case(f"map_coordinates_{mode}_order{order}", shape, (3, 4), order, mode)
        for mode in ("constant", "nearest", "wrap", "mirror", "reflect")
        for order, shape in ((0, (4, 5)), (1, (3, 4, 5)))
    ),
    map_coordinates_case("map_coordinates_fill_value", (6,), (7,), 1, "constant", fill_value=2.5),
    *(
        affine_case(f"affine_transform_{interp}_{mode}", (2, 5, 6, 2), interp, mode)
        for interp in ("nearest", "bilinear")
        for mode in ("nearest", "wrap", "mirror", "reflect")
    ),
    affine_case(
        "affine_transform_bilinear_constant", (2, 5, 6, 2), "bilinear", "constant", torch=True
    ),
    affine_case(
        "affine_transform_nearest_fill", (1, 4, 5, 1), "nearest", "constant", fill_value=0.5
    ),
    OpCase(
        "perspective_transform",
        lambda x: ops.image.perspective_transform(x, _CORNERS, _MOVED),
        [(Input((2, 5, 7, 2)),)],
        numpy=lambda x: keras_numpy("perspective_transform")(x, _CORNERS, _MOVED),
        rtol=1e-4,
        atol=1e-5,
    ),
    OpCase(
        "elastic_transform",
        lambda x: ops.image.elastic_transform(x, alpha=2.0, sigma=1.0, seed=3),
        [(Input((2, 6, 5, 2)),)],
        # Random: checked for gradients and compiled runs here, for what it computes below.
    ),
    OpCase(
        "crop_images",
        lambda x: ops.image.crop_images(x, 1, 2, target_height=3, right_cropping=1),
        [(Input((2, 6, 7, 2)),), (Input((6, 7, 2)),)],
        numpy=lambda x: x[..., 1:4, 2:6, :],
        torch=lambda x: x[..., 1:4, 2:6, :],
    ),
    OpCase(
        "pad_images",
        lambda x: ops.image.pad_images(x, 1, None, 2, 0, target_width=5, **CHANNELS_FIRST),
        [(Input((2, 2, 3, 4)),)],
        numpy=lambda x: np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 0))),
        torch=lambda x: T.nn.functional.pad(x, (1, 0, 1, 2)),
    ),
    OpCase(
        "extract_patches",
        lambda x: ops.image.extract_patches(x, (2, 3), strides=(1, 2)),
        [(Input((2, 5, 7, 3)),)],
        numpy=lambda x: np_patches(x, (2, 3), (1, 2)),
        torch=lambda x: torch_patches(x, (2, 3), (1, 2)),
    ),
    OpCase(
        "extract_patches_dilated",
        lambda x: ops.image.extract_patches(x, 2, strides=1, dilation_rate=2),
        [(Input((1, 6, 5, 2)),)],
        numpy=lambda x: np_patches(x, (2, 2), (1, 1), dilation=2),
        torch=lambda x: torch_patches(x, (2, 2), (1, 1), dilation=2),
    ),
    OpCase(
        "extract_patches_same",
        lambda x: ops.image.extract_patches(x, 3, strides=2, padding="same"),
        [(Input((1, 6, 5, 2)),)],
        numpy=lambda x: np_patches(x, (3, 3), (2, 2), padding=((0, 1), (1, 1))),
    ),
    OpCase(
        "extract_patches_channels_first",
        lambda x: ops.image.extract_patches(x, 2, **CHANNELS_FIRST),
        [(Input((2, 3, 4, 6)),)],
        numpy=_cf(lambda x: np_patches(x, (2, 2), (2, 2))),
    ),
    OpCase(
        "extract_patches_3d",
        lambda x: ops.image.extract_patches_3d(x, (2, 2, 3), strides=(1, 2, 1)),
        [(Input((1, 3, 5, 4, 2)),)],
        numpy=lambda x: np_patches_3d(x, (2, 2, 3), (1, 2, 1)),
    ),
    OpCase(
        "rgb_to_grayscale",
        ops.image.rgb_to_grayscale,
        [(Input((2, 3, 4, 3), low=0.0, high=1.0),)],
        numpy=lambda x: x @ np.array([[0.2989], [0.5870], [0.1140]]),
        torch=lambda x: x @ T.tensor([[0.2989], [0.5870], [0.1140]], dtype=x.dtype),
    ),
    OpCase(
        "rgb_to_hsv",
        ops.image.rgb_to_hsv,
        [(Input((3, 4, 3), low=0.05, high=1.0),)],
        numpy=lambda x: np_colorsys(colorsys.rgb_to_hsv, x),
        rtol=1e-5,
        atol=1e-6,
    ),
    OpCase(
        "hsv_to_rgb",
        lambda x: ops.image.hsv_to_rgb(x, **CHANNELS_FIRST),
        [(Input((2, 3, 4, 3), low=0.05, high=0.95),)],
        numpy=_cf(lambda x: np_colorsys(colorsys.hsv_to_rgb, x)),
        rtol=1e-5,
        atol=1e-6,
    ),
    OpCase(
        "gaussian_blur",
        lambda x: ops.image.gaussian_blur(x, (3, 4), (1.0, 0.7)),
        [(Input((2, 5, 6, 2)),)],
        numpy=lambda x: np_gaussian_blur(x, (3, 4), (1.0, 0.7)),
        torch=lambda x: torch_gaussian_blur(x, (3, 4), (1.0, 0.7)),
    ),
    OpCase(
        "gaussian_blur_channels_first",
        lambda x: ops.image.gaussian_blur(x, 5, 1.5, **CHANNELS_FIRST),
        [(Input((3, 6, 5)),)],
        numpy=lambda x: np_gaussian_blur(np.moveaxis(x, 0, -1)[None], (5, 5), (1.5, 1.5))[
            0
        ].transpose(2, 0, 1),
    ),
    OpCase(
        "sobel_edges",
        ops.image.sobel_edges,
        [(Input((2, 4, 5, 2)),)],
        numpy=np_sobel,
        torch=torch_sobel,
    ),
    OpCase(
        "ssim",
        lambda a, b: ops.image.ssim(a, b, filter_size=3, filter_sigma=1.0),
        [
            (Input((2, 5, 6, 2), low=0.0, high=1.0), Input((2, 5, 6, 2), low=0.0, high=1.0)),
            (Input((5, 5, 1), low=0.0, high=1.0), Input((5, 5, 1), low=0.0, high=1.0)),
        ],
        numpy=lambda a, b: np_ssim(a, b, size=3, sigma=1.0),
        rtol=1e-4,
        atol=1e-6,
    ),
    OpCase(
        "depth_to_space",
        lambda x: ops.depth_to_space(x, 2),
        [(Input((2, 2, 3, 8)),)],
        numpy=lambda x: np_depth_to_space(x, 2),
    ),
    OpCase(
        "depth_to_space_channels_first",
        lambda x: ops.depth_to_space(x, 2, "channels_first"),
        [(Input((2, 8, 2, 3)),)],
        torch=lambda x: T.nn.functional.pixel_shuffle(x, 2),
    ),
    OpCase(
        "space_to_depth",
        lambda x: ops.space_to_depth(x, 2),
        [(Input((2, 4, 6, 3)),)],
        numpy=lambda x: np_space_to_depth(x, 2),
    ),
    OpCase(
        "space_to_depth_channels_first",
        lambda x: ops.space_to_depth(x, 2, "channels_first"),
        [(Input((2, 3, 4, 6)),)],
        torch=lambda x: T.nn.functional.pixel_unshuffle(x, 2),
    ),
    OpCase(
        "psnr",
        lambda a, b: ops.psnr(a, b, 2.0),
        [(Input((2, 3, 4)), Input((2, 3, 4)))],
        numpy=lambda a, b: np_psnr(a, b, 2.0),
        torch=lambda a, b: 20 * math.log10(2.0) - 10 * T.log10(T.mean((a - b) ** 2)),
    ),
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


_FOLLOW_FORMAT = {
    "resize": lambda x, **kw: ops.image.resize(x, (3, 5), **kw),
    "affine_transform": lambda x, **kw: ops.image.affine_transform(
        x, [1.1, 0.2, 0.3, -0.1, 0.9, 0.5, 0.0, 0.0], **kw
    ),
    "gaussian_blur": lambda x, **kw: ops.image.gaussian_blur(x, (3, 3), (1.0, 0.5), **kw),
    "elastic_transform": lambda x, **kw: ops.image.elastic_transform(x, seed=3, **kw),
    "sobel_edges": lambda x, **kw: ops.image.sobel_edges(x, **kw),
    "rgb_to_hsv": lambda x, **kw: ops.image.rgb_to_hsv(x, **kw),
    "extract_patches": lambda x, **kw: ops.image.extract_patches(x, 2, **kw),
    "crop_images": lambda x, **kw: ops.image.crop_images(x, 1, 1, 3, 4, **kw),
    "ssim": lambda x, **kw: ops.image.ssim(x, x[::-1], max_val=1.0, filter_size=3, **kw),
}


@pytest.mark.parametrize("name", sorted(_FOLLOW_FORMAT))
def test_image_ops_follow_the_global_image_data_format(name):
    """``data_format=None`` means ``config.image_data_format()``, as in Keras (and an op
    that works internally on channels-last batches is not confused by the setting)."""
    call = _FOLLOW_FORMAT[name]
    x = np.random.default_rng(2).random((2, 3, 6, 7)).astype("float32")  # channels first
    explicit = call(x, data_format="channels_first").numpy()
    nerve.config.set_image_data_format("channels_first")
    try:
        implicit = call(x).numpy()
    finally:
        nerve.config.set_image_data_format("channels_last")
    np.testing.assert_allclose(implicit, explicit, rtol=1e-6, atol=1e-6)
    if name in ("resize", "affine_transform", "gaussian_blur", "elastic_transform"):
        channels_last = call(np.moveaxis(x, 1, -1)).numpy()
        np.testing.assert_allclose(np.moveaxis(explicit, 1, -1), channels_last, atol=1e-5)


def test_resize_integer_images_round_and_keep_their_dtype():
    x = ops.reshape(ops.arange(4, dtype="int32"), (2, 2, 1))
    out = ops.image.resize(x, (3, 3))
    assert out.dtype == "int32"
    # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2: half to even
    np.testing.assert_array_equal(out.numpy()[..., 0], [[0, 0, 1], [1, 2, 2], [2, 2, 3]])
    overshoot = np.array([[0, 255, 0, 255]] * 4, dtype="uint8")[..., None]
    out = ops.image.resize(overshoot, (8, 8), interpolation="bicubic").numpy()
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255  # clipped, no wrap


def test_elastic_transform_moves_pixels_by_a_blurred_noise_field():
    x = np.random.default_rng(0).random((2, 8, 9, 3)).astype("float32")
    a = ops.image.elastic_transform(x, seed=5).numpy()
    np.testing.assert_array_equal(a, ops.image.elastic_transform(x, seed=5).numpy())
    assert not np.array_equal(a, ops.image.elastic_transform(x, seed=6).numpy())
    # alpha = 0: no displacement, every pixel read where it is.
    np.testing.assert_allclose(ops.image.elastic_transform(x, alpha=0.0, seed=5).numpy(), x)
    # Every channel of an image moves alike: constant channels stay equal.
    same = np.repeat(x[..., :1], 3, axis=-1)
    out = ops.image.elastic_transform(same, seed=5, data_format="channels_last").numpy()
    np.testing.assert_allclose(out[..., 0], out[..., 2])


def test_perspective_transform_is_the_homography_as_an_affine_transform():
    x = np.random.default_rng(1).random((1, 5, 7, 1)).astype("float32")
    from nerve.ops.image.sampling import homography

    h = homography(_CORNERS[None], _MOVED[None])
    for corner, moved in zip(_CORNERS, _MOVED):
        a0, a1, a2, b0, b1, b2, c0, c1 = h[0]
        k = c0 * moved[0] + c1 * moved[1] + 1
        np.testing.assert_allclose(
            [(a0 * moved[0] + a1 * moved[1] + a2) / k, (b0 * moved[0] + b1 * moved[1] + b2) / k],
            corner,
            atol=1e-9,
        )
    np.testing.assert_allclose(
        ops.image.perspective_transform(x, _CORNERS, _MOVED).numpy(),
        ops.image.affine_transform(x, h.astype("float32")).numpy(),
        atol=1e-6,
    )


@pytest.mark.parametrize("dtype", ["uint8", "int32"])
@pytest.mark.parametrize("order", [0, 1])
def test_map_coordinates_integer_images_round_like_scipy(dtype, order):
    x = np.arange(60, dtype=dtype).reshape(3, 4, 5)
    coords = np.random.default_rng(2).uniform(-1, 5, (3, 4, 6))
    out = ops.image.map_coordinates(x, coords, order, "reflect")
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), scipy_map_coordinates(x, coords, order, "reflect"))


@pytest.mark.parametrize("dtype", ["float16", "float32", "int32", "uint8"])
@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: m.affine_transform(x, [1.0, 0.1, 0.5, 0.0, 1.0, -0.3, 0.0, 0.0]),
        lambda m, x: m.crop_images(x, 1, 1, target_height=2, target_width=2),
        lambda m, x: m.pad_images(x, 1, 1, target_height=6, target_width=7),
        lambda m, x: m.extract_patches(x, 2),
        lambda m, x: m.gaussian_blur(x),
        lambda m, x: m.resize(x, (3, 5)),
        lambda m, x: m.rgb_to_grayscale(x),
        lambda m, x: m.perspective_transform(x, _CORNERS, _MOVED),
    ],
    ids=["affine", "crop", "pad", "patches", "blur", "resize", "gray", "perspective"],
)
def test_image_ops_keep_the_images_dtype_as_keras(call, dtype, request):
    keras = pytest.importorskip("keras")
    if "blur" in request.node.name and "int" in dtype:
        pytest.skip("Keras's NumPy backend builds the blur kernel in the images' integer dtype")
    x = (np.random.default_rng(3).random((4, 5, 3)) * 100).astype(dtype)
    ours = call(ops.image, x)
    theirs = keras.ops.convert_to_numpy(call(keras.ops.image, x))
    assert ours.dtype == theirs.dtype
    tolerance = 1 if dtype in ("int32", "uint8") else 1e-2 * 100
    np.testing.assert_allclose(ours.numpy().astype(float), theirs.astype(float), atol=tolerance)


def test_resize_errors():
    image = ops.ones((2, 2, 1))
    with pytest.raises(ValueError, match=r"resize: Invalid value for argument `interpolation`"):
        ops.image.resize(image, (3, 3), interpolation="gaussian")
    with pytest.raises(
        ShapeError, match=r"resize: Invalid images rank: expected rank 3 .*\(2, 2\)"
    ):
        ops.image.resize(ops.ones((2, 2)), (3, 3))
    with pytest.raises(ValueError, match=r"`size` must have positive height and width"):
        ops.image.resize(image, (3, 0))
    with pytest.raises(ValueError, match=r"Expected `size` to be a tuple of 2 integers"):
        ops.image.resize(image, (3,))
    with pytest.raises(ValueError, match=r"Expected `size` to be a tuple of 2 integers"):
        ops.image.resize(image, (3.0, 2.0))
    # Sizes as arrays and tensors, as Keras takes them.
    assert ops.image.resize(image, np.array([3, 4])).shape == (3, 4, 1)
    assert ops.image.resize(image, ops.convert_to_tensor([3, 4])).shape == (3, 4, 1)
    with pytest.raises(ValueError, match=r"data_format must be .* 'NHWC'"):
        ops.image.resize(image, (3, 3), data_format="NHWC")
    with pytest.raises(ValueError, match=r"Only one of `pad_to_aspect_ratio`"):
        ops.image.resize(image, (3, 4), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match=r"Only `'constant'` is supported"):
        ops.image.resize(image, (3, 4), pad_to_aspect_ratio=True, fill_mode="reflect")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ops.image.map_coordinates(ops.ones((2, 3)), ops.ones((3, 4)), 1), ShapeError,
         r"First dim of `coordinates` must be the same as the rank of `inputs`"),
        (lambda: ops.image.map_coordinates(ops.ones((2,)), ops.ones((1,)), 1), ShapeError,
         r"Invalid coordinates rank: expected at least rank 2"),
        (lambda: ops.image.map_coordinates(ops.ones((2,)), ops.ones((1, 2)), 3), ValueError,
         r"Invalid value for argument `order`"),
        (lambda: ops.image.map_coordinates(ops.ones((2,)), ops.ones((1, 2)), 1, "edge"),
         ValueError, r"Invalid value for argument `fill_mode`.*'wrap'"),
        (lambda: ops.image.affine_transform(ops.ones((3, 3, 1)), ops.ones((2, 3, 8))), ShapeError,
         r"Invalid transform rank"),
        (lambda: ops.image.affine_transform(ops.ones((3, 3)), ops.ones((6,))), ShapeError,
         r"Invalid images rank"),
        (lambda: ops.image.perspective_transform(ops.ones((3, 3)), np.ones(6), np.ones(6)),
         ShapeError, r"Invalid images rank"),
        (lambda: ops.image.affine_transform(ops.ones((3, 3, 1)), ops.ones((8,)), "bicubic"),
         ValueError, r"Invalid value for argument `interpolation`"),
        (lambda: ops.image.perspective_transform(ops.ones((3, 3, 1)), np.ones((3, 2)),
                                                 np.ones((3, 2))), ShapeError,
         r"Invalid start_points shape: expected \(4,2\)"),
        (lambda: ops.image.perspective_transform(ops.ones((3, 3, 1)), np.ones((4, 2)),
                                                 np.ones((1, 4, 2))), ShapeError,
         r"start_points and end_points must have the same shape"),
        (lambda: ops.image.extract_patches(ops.ones((4, 4, 1)), "2"), TypeError,
         r"Invalid `size` argument. Expected an int or a tuple"),
        (lambda: ops.image.extract_patches(ops.ones((4, 4, 1)), (2, 2, 2, 2)), ValueError,
         r"Expected a tuple of length 2 or 3"),
        (lambda: ops.image.extract_patches(ops.ones((1, 2, 2, 1)), 3), ShapeError,
         r"window \(3, 3\) .* is larger than"),
        (lambda: ops.image.extract_patches_3d(ops.ones((4, 4, 4, 1)), (2, 2)), TypeError,
         r"Expected an int or a tuple of length 3"),
        (lambda: ops.image.extract_patches_3d(ops.ones((4, 4, 4, 1)), 2, strides=(1, 1)),
         ValueError, r"Invalid `strides` argument"),
        (lambda: ops.image.pad_images(ops.ones((3, 3, 1)), 1, 1, 1, 1, target_height=6),
         ValueError, r"Must specify exactly two of top_padding, bottom_padding, target_height"),
        (lambda: ops.image.pad_images(ops.ones((3, 3, 1)), -1, 1, 1, 1), ValueError,
         r"top_padding must be >= 0"),
        (lambda: ops.image.pad_images(ops.ones((3, 3, 1)), 1, 1, target_height=2,
                                      target_width=5), ValueError, r"bottom_padding must be >= 0"),
        (lambda: ops.image.crop_images(ops.ones((3, 3, 1)), 2, 0, 2, 0), ValueError,
         r"leaves nothing"),
        (lambda: ops.image.crop_images(ops.ones((3, 3)), 0, 0, 1, 1), ShapeError,
         r"Invalid images rank"),
        (lambda: ops.image.rgb_to_grayscale(ops.ones((3, 3, 2))), ShapeError,
         r"Invalid channel size: expected 3 \(RGB\) or 1"),
        (lambda: ops.image.rgb_to_hsv(ops.ones((3, 3, 3), dtype="int32")), ValueError,
         r"Invalid images dtype: expected float dtype"),
        (lambda: ops.image.hsv_to_rgb(ops.ones((3, 3, 4))), ShapeError,
         r"must have 3 channels, but received images with 4 channels"),
        (lambda: ops.image.sobel_edges(ops.ones((3, 3, 1))), ShapeError,
         r"expected rank 4 \(batch of images\)"),
        (lambda: ops.image.ssim(ops.ones((3, 3, 1)), ops.ones((3, 4, 1))), ShapeError,
         r"must have the same shape"),
        (lambda: ops.image.scale_and_translate(ops.ones((3, 3)), (3, 3), [1.0], [0.0], [0],
                                               "area"), ValueError,
         r"Invalid value for argument `method`"),
        (lambda: ops.depth_to_space(ops.ones((1, 2, 2, 4)), 1), ValueError,
         r"`block_size` must be at least 2"),
        (lambda: ops.depth_to_space(ops.ones((1, 2, 2, 6)), 2), ShapeError,
         r"must be divisible by block_size\*\*2"),
        (lambda: ops.space_to_depth(ops.ones((1, 3, 2, 1)), 2), ShapeError,
         r"Height \(3\) must be divisible by block_size \(2\)"),
        (lambda: ops.space_to_depth(ops.ones((2, 2, 1)), 2), ShapeError,
         r"requires a 4D input tensor"),
        (lambda: ops.psnr(ops.ones((2, 3)), ops.ones((3, 2)), 1.0), ShapeError,
         r"Input shapes \(2, 3\) and \(3, 2\) must match"),
    ],
)  # fmt: skip
def test_image_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_gaussian_blur_takes_sizes_and_sigmas_as_arrays():
    x = np.random.default_rng(4).random((6, 5, 2)).astype("float32")
    expected = ops.image.gaussian_blur(x, (3, 5), (0.5, 0.8)).numpy()
    given = ops.image.gaussian_blur(x, np.array([3, 5]), ops.convert_to_tensor([0.5, 0.8]))
    np.testing.assert_allclose(given.numpy(), expected, rtol=1e-6)
