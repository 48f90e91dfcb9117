"""Neural-network primitives: sliding-window patches and their adjoint.

Convolution and pooling are composites over two linear primitives that are each
other's vector-Jacobian product, so every order of gradient comes for free:

* ``extract_patches``: a channels-last input ``(N, *spatial, C)`` becomes
  ``(N, *out, *window, C)``, every window of the (padded) input laid out whole.
  The NumPy kernel returns a strided view, so no data is copied until a
  consumer (a matmul, a reduction) reads it.
* ``patches_transpose``: adds each window back where it came from and crops the
  padding: ``(N, *out, *window, C)`` becomes ``(N, *spatial, C)``.

Params (all tuples with one entry per spatial axis): ``window``, ``strides``,
``dilation`` and ``padding`` (``(before, after)`` pairs of explicit padding).
"""

from __future__ import annotations

from nerve.core.errors import ShapeError, with_location
from nerve.primitives import elementwise as ew
from nerve.primitives import rules
from nerve.primitives.registry import Aval, Primitive

__all__ = [
    "extract_patches",
    "extract_patches_p",
    "patches_transpose",
    "patches_transpose_p",
    "relu_p",
    "window_output_size",
]


def window_output_size(size: int, window: int, stride: int, dilation: int, pad: tuple) -> int:
    """How many windows fit along one padded axis (0 when not even one does)."""
    span = (window - 1) * dilation + 1
    padded = size + pad[0] + pad[1]
    return max((padded - span) // stride + 1, 0)


def _check_geometry(op: str, shape: tuple, window, strides, dilation, padding) -> tuple:
    rank = len(window)
    if len(shape) != rank + 2 or not (len(strides) == len(dilation) == len(padding) == rank):
        raise ShapeError(
            with_location(
                f"{op}: a {rank}-D window needs an input of rank {rank + 2} "
                f"(batch, *spatial, channels) and {rank} strides, dilations and padding "
                f"pairs; got input shape {tuple(shape)}, strides {strides}, "
                f"dilation {dilation}, padding {padding}."
            )
        )
    return tuple(
        window_output_size(s, k, st, d, p)
        for s, k, st, d, p in zip(shape[1:-1], window, strides, dilation, padding)
    )


# -- extract_patches ------------------------------------------------------------------


def _extract_patches_rule(x: Aval, *, window, strides, dilation, padding, pad_value) -> Aval:
    out = _check_geometry("extract_patches", tuple(x.shape), window, strides, dilation, padding)
    return Aval((x.shape[0], *out, *window, x.shape[-1]), x.dtype)


def _extract_patches_vjp(g, inputs, out, needs, window, strides, dilation, padding, pad_value):
    spatial = tuple(inputs[0].shape[1:-1])
    return (
        patches_transpose_p.bind(
            g,
            spatial_shape=spatial,
            window=window,
            strides=strides,
            dilation=dilation,
            padding=padding,
        ),
    )


extract_patches_p = Primitive(
    "extract_patches", shape_rule=_extract_patches_rule, vjp=_extract_patches_vjp
)


# -- patches_transpose ------------------------------------------------------------------


def _patches_transpose_rule(p: Aval, *, spatial_shape, window, strides, dilation, padding) -> Aval:
    rank = len(window)
    shape = (p.shape[0], *spatial_shape, p.shape[-1]) if len(p.shape) >= 2 else ()
    expected = _check_geometry("patches_transpose", shape, window, strides, dilation, padding)
    if len(p.shape) != 2 * rank + 2 or tuple(p.shape[1 : 2 * rank + 1]) != (*expected, *window):
        raise ShapeError(
            with_location(
                f"patches_transpose: patches of shape {tuple(p.shape)} do not match a "
                f"{rank}-D window {window} over spatial shape {tuple(spatial_shape)} "
                f"(expected {(p.shape[0] if p.shape else 'N', *expected, *window, 'C')})."
            )
        )
    return Aval(shape, p.dtype)


def _patches_transpose_vjp(
    g, inputs, out, needs, spatial_shape, window, strides, dilation, padding
):
    return (
        extract_patches_p.bind(
            g, window=window, strides=strides, dilation=dilation, padding=padding, pad_value=0.0
        ),
    )


patches_transpose_p = Primitive(
    "patches_transpose", shape_rule=_patches_transpose_rule, vjp=_patches_transpose_vjp
)


def extract_patches(
    x, window: tuple, strides: tuple, dilation: tuple, padding: tuple, pad_value=0.0
):
    return extract_patches_p.bind(
        x,
        window=tuple(window),
        strides=tuple(strides),
        dilation=tuple(dilation),
        padding=tuple(tuple(p) for p in padding),
        pad_value=float(pad_value),
    )


def patches_transpose(
    p, spatial_shape: tuple, window: tuple, strides: tuple, dilation: tuple, padding: tuple
):
    return patches_transpose_p.bind(
        p,
        spatial_shape=tuple(spatial_shape),
        window=tuple(window),
        strides=tuple(strides),
        dilation=tuple(dilation),
        padding=tuple(tuple(p) for p in padding),
    )


# -- relu -------------------------------------------------------------------------------
# A primitive, not where(x > 0, x, 0): measured on the MLP benchmark, NumPy's where
# with a broadcast scalar is 5x slower than maximum, and relu runs in every layer.


def _relu_vjp(g, inputs, out, needs):
    positive = ew.cast(ew.greater_p.bind(out, ew.scalar(0, out)), out.dtype)
    return (ew.mul(g, positive),)


relu_p = Primitive("relu", shape_rule=rules.unary("relu"), vjp=_relu_vjp, elementwise=True)
