"""Host-side decoding kernels for input pipelines: ``png_unfilter`` undoes PNG's
scanline filters (PNG specification, section 9), a C loop where nerve has a compiler
(``native.png``), else the NumPy kernel here (row by row; the Average and Paeth types
byte by byte, slow but exact).
"""

from __future__ import annotations

__all__ = [
    "kernels",
]


def kernels(xp) -> dict:
    resolved: list = []

    def _native():
        # Resolved on first use (compiling it, or finding native kernels off), then kept.
        if not resolved:
            if xp.__name__ == "numpy":
                from nerve.backend.numpy_backend.native.png import unfilter_function

                resolved.append(unfilter_function())
            else:
                resolved.append(None)
        return resolved[0]

    def _unfilter_row(kind: int, line, previous, bpp: int):
        if kind == 0:
            return line.copy()
        if kind == 1:
            # Each byte adds the decoded byte bpp to its left: a running sum per channel.
            return xp.cumsum(line.reshape(-1, bpp), axis=0, dtype=xp.uint8).reshape(-1)
        if kind == 2:
            return line + previous
        out = xp.zeros_like(line)
        for i in range(line.shape[0]):
            left = int(out[i - bpp]) if i >= bpp else 0
            above = int(previous[i])
            if kind == 3:
                predicted = (left + above) >> 1
            else:
                corner = int(previous[i - bpp]) if i >= bpp else 0
                estimate = left + above - corner
                distances = (abs(estimate - left), abs(estimate - above), abs(estimate - corner))
                predicted = (left, above, corner)[distances.index(min(distances))]
            out[i] = (int(line[i]) + predicted) & 0xFF
        return out

    def png_unfilter(data, height: int, row_bytes: int, bpp: int, images: int = 1):
        """The ``(images, height, row_bytes)`` ``uint8`` rows of ``images`` 8-bit,
        non-interlaced PNG images of one geometry from their inflated data, one image
        after another in ``data`` (``bytes`` of ``images * height * (row_bytes + 1)``;
        ``row_bytes`` a multiple of the ``bpp`` bytes per pixel). A ``ValueError``
        names the first image and row whose filter type is not one of PNG's five."""
        if len(data) != images * height * (row_bytes + 1) or row_bytes % bpp:
            raise ValueError(
                f"png_unfilter: expected {images} image(s) of {height} rows of 1 + "
                f"{row_bytes} bytes ({bpp} per pixel), got {len(data)} bytes."
            )
        native = _native()
        if native is not None:
            rows, bad = native(data, images, height, row_bytes, bpp)
        else:
            raw = xp.frombuffer(data, dtype=xp.uint8).reshape(images * height, row_bytes + 1)
            rows = xp.empty((images * height, row_bytes), dtype=xp.uint8)
            bad = 0
            for y in range(images * height):
                kind = int(raw[y, 0])
                if kind > 4:
                    bad = y + 1
                    break
                previous = rows[y - 1] if y % height else xp.zeros(row_bytes, dtype=xp.uint8)
                rows[y] = _unfilter_row(kind, raw[y, 1:], previous, bpp)
            rows = rows.reshape(images, height, row_bytes)
        if bad:
            image, row = divmod(bad - 1, height)
            raise ValueError(
                f"png_unfilter: row {row} of image {image} has filter type "
                f"{data[(bad - 1) * (row_bytes + 1)]}; PNG defines types 0 to 4."
            )
        return rows

    return {"png_unfilter": png_unfilter}
