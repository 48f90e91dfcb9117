"""Sampling images at computed coordinates: ``map_coordinates`` and the warps built
on it (``affine_transform``, ``perspective_transform``, ``elastic_transform``).

One core, ``sample``, reads an array at fractional coordinates: order 0 takes
the nearest pixel (``floor(c + 0.5)``, SciPy's rounding), order 1 blends the
``2**k`` surrounding pixels with bilinear weights. Each neighbour's integer
index is first mapped through the fill mode (SciPy's names):

* ``"constant"``: outside pixels read ``fill_value``;
* ``"nearest"``: the edge pixel repeats (``aaa|abcd|ddd``);
* ``"wrap"``: the image tiles (``bcd|abcd|abc``);
* ``"mirror"``: reflected about the edge pixel's centre (``dcb|abcd|cba``);
* ``"reflect"``: reflected about the edge (``cba|abcd|dcb``).

The reads are gathers (``take``) from the flattened array and the blend is
arithmetic on the weights, so results are differentiable with respect to the
image and, for order 1, to the coordinates.

>>> from nerve import ops
>>> x = ops.reshape(ops.arange(4.0), (2, 2))
>>> ops.image.map_coordinates(x, [[0.5, 1.0], [0.5, 3.0]], order=1, fill_mode="nearest").numpy()
array([1.5, 3. ], dtype=float32)
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from nerve.core import dtypes
from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import cast, tensor
from nerve.ops.creation import arange
from nerve.ops.elementwise import (
    abs,
    add,
    clip,
    divide,
    floor,
    logical_and,
    mod,
    multiply,
    sign,
    where,
)
from nerve.ops.image._common import (
    FILL_MODES,
    SAMPLING_ORDERS,
    check_data_format,
    check_rank,
    choice,
    compute_dtype,
    static_number,
    to_batch,
)
from nerve.ops.image.filters import gaussian_blur
from nerve.ops.indexing import take
from nerve.ops.shape import expand_dims, reshape, unstack
from nerve.tensor import Tensor, convert_to_tensor

__all__ = [
    "affine_transform",
    "elastic_transform",
    "map_coordinates",
    "perspective_transform",
]


def _fold(index: Tensor, size: int, fill_mode: str) -> tuple[Tensor, Tensor | None]:
    """An integer index mapped into ``[0, size)`` by ``fill_mode``, and for
    ``"constant"`` the mask of indices that were inside."""
    if fill_mode == "constant":
        inside = logical_and(index >= 0, index < size)
        return clip(index, 0, size - 1), inside
    if fill_mode == "nearest":
        return clip(index, 0, size - 1), None
    if fill_mode == "wrap":
        return mod(index, size), None
    if fill_mode == "mirror":
        if size == 1:
            return index * 0, None
        period = 2 * size - 2
        folded = mod(index, period)
        return where(folded >= size, period - folded, folded), None
    period = 2 * size  # reflect
    folded = mod(index, period)
    return where(folded >= size, period - 1 - folded, folded), None


def sample(
    x: Tensor,
    coordinates: list[Tensor],
    order: int,
    fill_mode: str,
    fill_value: float,
    batch_index: Tensor | None = None,
) -> Tensor:
    """``x`` read at ``coordinates`` (one float tensor per leading axis of ``x`` that is
    sampled, all of one shape ``S``); the remaining axes of ``x`` come along, so the
    result has shape ``S + x.shape[k:]``. ``batch_index`` (int, broadcastable to
    ``S``) picks an exact index along one more axis in front of the sampled ones."""
    first = 0 if batch_index is None else 1
    k = len(coordinates)
    sizes = tuple(x.shape[first : first + k])
    strides = [math.prod(sizes[d + 1 :]) for d in range(k)]
    flat = reshape(x, (-1, *x.shape[first + k :]))
    trailing = (1,) * (x.ndim - first - k)
    base = None if batch_index is None else batch_index * math.prod(sizes)
    if order == 0:
        corners = [[(cast(floor(c + 0.5), "int32"), None)] for c in coordinates]
    else:
        corners = []
        for c in coordinates:
            low = floor(c)
            frac = c - low
            low = cast(low, "int32")
            corners.append([(low, 1 - frac), (low + 1, frac)])
    result = None
    for choice_ in itertools.product(*corners):
        flat_index = base
        weight = None
        valid = None
        for d, (index, w) in enumerate(choice_):
            folded, inside = _fold(index, sizes[d], fill_mode)
            term = folded * strides[d] if strides[d] != 1 else folded
            flat_index = term if flat_index is None else flat_index + term
            if w is not None:
                weight = w if weight is None else weight * w
            if inside is not None:
                valid = inside if valid is None else logical_and(valid, inside)
        assert flat_index is not None
        value = take(flat, flat_index, axis=0)
        if valid is not None:
            fill = convert_to_tensor(fill_value, dtype=value.dtype)
            value = where(reshape(valid, valid.shape + trailing), value, fill)
        if weight is not None:
            value = multiply(value, reshape(weight, weight.shape + trailing))
        result = value if result is None else add(result, value)
    assert result is not None
    return result


def _order(order: Any) -> int:
    if order not in (0, 1) or isinstance(order, bool):
        raise ValueError(
            with_location(
                f"map_coordinates: Invalid value for argument `order`. Expected one of [0, 1]. "
                f"Received: order={order!r}"
            )
        )
    return int(order)


def _to_input_dtype(y: Tensor, dtype: str) -> Tensor:
    """A float result cast back to the input's dtype; integers round half away from
    zero, as SciPy does when it writes an integer output."""
    if dtypes.is_float(dtype):
        return cast(y, dtype)
    if dtype != "bool":
        y = multiply(sign(y), floor(abs(y) + 0.5))
    return cast(y, dtype)


def map_coordinates(
    inputs: Any, coordinates: Any, order: int, fill_mode: str = "constant", fill_value: Any = 0
) -> Tensor:
    """``inputs`` read at ``coordinates``, a tensor of shape ``(inputs.ndim, *S)`` (or a
    list of ``inputs.ndim`` tensors of shape ``S``): ``order`` 0 takes the nearest
    value, 1 interpolates linearly; ``fill_mode`` says what lies outside (see the
    module docstring). The result has shape ``S`` and ``inputs``'s dtype.

    >>> from nerve import ops
    >>> ops.image.map_coordinates(ops.arange(3.0), [[0.25, 5.0]], order=1).numpy()
    array([0.25, 0.  ], dtype=float32)
    """
    x = tensor(inputs)
    coords = tensor(coordinates)
    if coords.ndim < 1 or coords.shape[0] != x.ndim:
        raise ShapeError(
            with_location(
                "map_coordinates: First dim of `coordinates` must be the same as the rank of "
                f"`inputs`. Received inputs with shape: {tuple(x.shape)} and coordinate "
                f"leading dim of {coords.shape[0] if coords.ndim else None}"
            )
        )
    if coords.ndim < 2:
        raise ShapeError(
            with_location(
                "map_coordinates: Invalid coordinates rank: expected at least rank 2. "
                f"Received input with shape: {tuple(coords.shape)}"
            )
        )
    choice("map_coordinates", "fill_mode", fill_mode, FILL_MODES)
    spline = _order(order)
    dtype = x.dtype
    work = compute_dtype(dtype)
    coords = cast(coords, work)
    y = sample(cast(x, work), unstack(coords, axis=0), spline, fill_mode, float(fill_value))
    return _to_input_dtype(y, dtype)


def _warp(
    op: str,
    images: Any,
    transform: Tensor,
    interpolation: str,
    fill_mode: str,
    fill_value: Any,
    data_format: str | None,
) -> Tensor:
    """Resample images through per-image projective transforms ``(batch or 1, 8)``:
    output pixel ``(x, y)`` reads the input at ``((a0 x + a1 y + a2) / k, (b0 x + b1 y +
    b2) / k)`` with ``k = c0 x + c1 y + 1``."""
    x = tensor(images)
    fmt = check_data_format(data_format, op)
    choice(op, "interpolation", interpolation, SAMPLING_ORDERS)
    choice(op, "fill_mode", fill_mode, FILL_MODES)
    check_rank(op, x)
    dtype = x.dtype
    work = compute_dtype(dtype)
    batch, restore = to_batch(cast(x, work), fmt)
    n, height, width, _ = batch.shape
    t = cast(transform, work)
    if t.shape[0] not in (1, n):
        raise ShapeError(
            with_location(
                f"{op}: got {t.shape[0]} transforms for a batch of {n} images; give one "
                "transform, or one per image."
            )
        )
    a0, a1, a2, b0, b1, b2, c0, c1 = (reshape(v, (-1, 1, 1)) for v in unstack(t, axis=1))
    rows = reshape(arange(height, dtype=work), (1, height, 1))
    cols = reshape(arange(width, dtype=work), (1, 1, width))
    k = c0 * cols + c1 * rows + 1
    source_cols = divide(a0 * cols + a1 * rows + a2, k)
    source_rows = divide(b0 * cols + b1 * rows + b2, k)
    shape = (n, height, width)
    source_rows = source_rows + _zeros(shape, work)
    source_cols = source_cols + _zeros(shape, work)
    images_index = reshape(arange(n, dtype="int32"), (n, 1, 1))
    y = sample(
        batch,
        [source_rows, source_cols],
        SAMPLING_ORDERS[interpolation],
        fill_mode,
        float(fill_value),
        batch_index=images_index,
    )
    return _to_input_dtype(restore(y), dtype)


def _zeros(shape: tuple, dtype: str) -> Tensor:
    return convert_to_tensor(np.zeros(shape, dtype=dtype))


def affine_transform(
    images: Any,
    transform: Any,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: Any = 0,
    data_format: str | None = None,
) -> Tensor:
    """Warp images by projective transforms ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (one of
    shape ``(8,)``, or ``(batch, 8)``): output pixel ``(x, y)`` reads the input at
    ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``, ``k = c0 x + c1 y + 1``.
    ``interpolation`` is ``"nearest"`` or ``"bilinear"``; ``fill_mode`` one of
    ``"constant"`` (with ``fill_value``), ``"nearest"``, ``"wrap"``, ``"mirror"``,
    ``"reflect"``. The projective terms ``c0, c1`` divide as Keras documents them
    (and TensorFlow computes); Keras's NumPy and JAX backends instead add ``c0`` and
    ``c1`` times the channel index to the row and column, which agrees only when
    both are 0.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(9.0), (3, 3, 1))
    >>> shift_right = [1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    >>> ops.image.affine_transform(x, shift_right)[..., 0].numpy()
    array([[0., 0., 1.],
           [0., 3., 4.],
           [0., 6., 7.]], dtype=float32)
    """
    check_rank("affine_transform", tensor(images))
    t = tensor(transform)
    if t.ndim not in (1, 2) or t.shape[-1] != 8:
        raise ShapeError(
            with_location(
                "affine_transform: Invalid transform rank: expected rank 1 (single transform) "
                "or rank 2 (batch of transforms) of 8 numbers. Received input with shape: "
                f"transform.shape={tuple(t.shape)}"
            )
        )
    if t.ndim == 1:
        t = expand_dims(t, 0)
    return _warp("affine_transform", images, t, interpolation, fill_mode, fill_value, data_format)


def _check_points(name: str, points: np.ndarray) -> None:
    if points.ndim not in (2, 3) or points.shape[-2:] != (4, 2):
        raise ShapeError(
            with_location(
                f"perspective_transform: Invalid {name} shape: expected (4,2) for a single "
                f"image or (N,4,2) for a batch. Received shape: {points.shape}"
            )
        )


def homography(start_points: np.ndarray, end_points: np.ndarray) -> np.ndarray:
    """The 8 numbers of the projective transforms that map each ``end_points``
    quadrilateral ``(batch, 4, 2)`` onto its ``start_points`` one, solved on the host."""
    rows = []
    targets = []
    for i in range(4):
        (sx, sy), (ex, ey) = start_points[:, i].T, end_points[:, i].T
        one, zero = np.ones_like(ex), np.zeros_like(ex)
        rows.append(np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1))
        rows.append(np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1))
        targets += [sx, sy]
    matrix = np.stack(rows, axis=1)
    return np.linalg.solve(matrix, np.stack(targets, axis=-1)[..., None])[..., 0]


def perspective_transform(
    images: Any,
    start_points: Any,
    end_points: Any,
    interpolation: str = "bilinear",
    fill_value: Any = 0,
    data_format: str | None = None,
) -> Tensor:
    """Warp images so that the quadrilateral ``start_points`` lands on ``end_points``
    (each ``(4, 2)`` corners as ``(x, y)``, or ``(batch, 4, 2)``); outside pixels read
    ``fill_value``. The points must be concrete: the homography is solved on the host.

    >>> from nerve import ops
    >>> corners = [[0, 0], [3, 0], [0, 3], [3, 3]]
    >>> x = ops.reshape(ops.arange(16.0), (4, 4, 1))
    >>> bool((ops.image.perspective_transform(x, corners, corners).numpy() == x.numpy()).all())
    True
    """
    check_rank("perspective_transform", tensor(images))
    choice("perspective_transform", "interpolation", interpolation, SAMPLING_ORDERS)
    start = np.asarray(start_points.numpy() if isinstance(start_points, Tensor) else start_points)
    end = np.asarray(end_points.numpy() if isinstance(end_points, Tensor) else end_points)
    _check_points("start_points", start)
    _check_points("end_points", end)
    if start.shape != end.shape:
        raise ShapeError(
            with_location(
                "perspective_transform: start_points and end_points must have the same shape. "
                f"Received start_points.shape={start.shape}, end_points.shape={end.shape}"
            )
        )
    start = start.reshape(-1, 4, 2).astype(np.float64)
    end = end.reshape(-1, 4, 2).astype(np.float64)
    transform = convert_to_tensor(homography(start, end))
    return _warp(
        "perspective_transform",
        images,
        transform,
        interpolation,
        "constant",
        fill_value,
        data_format,
    )


def elastic_transform(
    images: Any,
    alpha: float = 20.0,
    sigma: float = 5.0,
    interpolation: str = "bilinear",
    fill_mode: str = "reflect",
    fill_value: float = 0.0,
    seed: Any = None,
    data_format: str | None = None,
) -> Tensor:
    """Elastic distortion (Simard et al.): every pixel moves by ``alpha`` times a
    displacement field of standard normal noise times ``sigma``, blurred by a
    Gaussian of width ``sigma`` (window ``int(6 * sigma) | 1``); one field per image,
    shared by its channels. ``seed`` is as in ``nerve.random`` (an int, a
    ``SeedGenerator``, or ``None`` for the global generator).

    >>> from nerve import ops
    >>> x = ops.ones((8, 8, 3))
    >>> ops.image.elastic_transform(x, seed=1).shape
    (8, 8, 3)
    """
    # keras.ops.image takes keras.random's seeds: the one upward import of ops (see
    # tests/test_layering.py), made when the op runs.
    from nerve.random import normal

    x = tensor(images)
    fmt = check_data_format(data_format, "elastic_transform")
    choice("elastic_transform", "interpolation", interpolation, SAMPLING_ORDERS)
    choice("elastic_transform", "fill_mode", fill_mode, FILL_MODES)
    check_rank("elastic_transform", x)
    dtype = x.dtype
    work = compute_dtype(dtype)
    alpha = static_number(alpha, "elastic_transform", "alpha")
    sigma = static_number(sigma, "elastic_transform", "sigma")
    batch, restore = to_batch(cast(x, work), fmt)
    n, height, width, _ = batch.shape
    noise = normal((n, height, width, 2), dtype=work, seed=seed) * sigma
    window = int(6 * sigma) | 1
    field = gaussian_blur(noise, (window, window), (sigma, sigma), data_format="channels_last")
    dy, dx = unstack(field, axis=-1)
    rows = reshape(arange(height, dtype=work), (1, height, 1)) + alpha * dy
    cols = reshape(arange(width, dtype=work), (1, 1, width)) + alpha * dx
    images_index = reshape(arange(n, dtype="int32"), (n, 1, 1))
    y = sample(
        batch,
        [rows, cols],
        SAMPLING_ORDERS[interpolation],
        fill_mode,
        float(fill_value),
        batch_index=images_index,
    )
    return _to_input_dtype(restore(y), dtype)
