"""Reading NumPy ``.npz`` archives without ``allow_pickle`` (imdb, reuters, housing).

An ``.npz`` file is a zip archive of ``.npy`` members. ``np.load`` reads an object
array (the ragged word sequences of imdb and reuters) only with
``allow_pickle=True``, which runs whatever pickle the member holds. Here each member's
header is parsed with ``numpy.lib.format``, numeric data is taken as raw bytes, and an
object array's pickle goes to the restricted unpickler (``_safe_pickle.safe_load``),
which rebuilds only NumPy arrays and plain Python values.

Sizes are checked before anything is allocated: a member may not declare more than
deflate can expand its compressed bytes to, a numeric array's declared shape must
account for exactly the bytes that follow its header, and an object array may not
declare more elements than its pickle has bytes. A damaged archive or member is a
``ValueError`` naming the file and the member.

What this cannot bound: CPython's C unpickler sizes its memo table by the largest
index a pickle names, so five crafted bytes can make it allocate gigabytes (memory,
not code). The data-set loaders read only files whose SHA-256 matches the one Keras
publishes, so in practice only Keras's own files reach the unpickler.

>>> import io, os, tempfile
>>> import numpy as np
>>> ragged = np.empty(2, dtype=object)
>>> ragged[:] = [[1, 2, 3], [4]]
>>> path = os.path.join(tempfile.mkdtemp(), "example.npz")
>>> np.savez(path, x=ragged, y=np.array([0, 1]))
>>> arrays = load_npz(path, ("x", "y"), "example", allow_objects=True)
>>> arrays["x"], arrays["y"]
(array([list([1, 2, 3]), list([4])], dtype=object), array([0, 1]))
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from collections.abc import Sequence

import numpy as np

from nerve.datasets._safe_pickle import RefusedPickleError, safe_load

__all__ = ["load_npz"]

#: Deflate expands at most about 1032-fold; a member declaring more than this many
#: bytes per compressed byte (plus a little for tiny members) is refused as a zip bomb.
_MAX_EXPANSION = 1100
_SMALL_MEMBER = 1 << 16
#: What ``np.savez`` and ``np.savez_compressed`` write.
_COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


def load_npz(
    path: str, keys: Sequence[str], loader: str, *, allow_objects: bool = False
) -> dict[str, np.ndarray]:
    """The arrays named ``keys`` in the ``.npz`` file at ``path``.

    ``loader`` (for example ``"imdb.load_data"``) starts every error message. Object
    arrays are read (through the restricted unpickler) only with ``allow_objects``;
    otherwise a member holding one is refused before its pickle is looked at.

    Raises:
        ValueError: the file is not a readable ``.npz`` archive, lacks one of ``keys``,
            or a member is damaged or declares more data than the archive can hold.
        nerve.datasets._safe_pickle.RefusedPickleError: an object array's pickle names
            anything but NumPy's array rebuilders (a file that would run code).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = {
                info.filename[: -len(".npy")]: info
                for info in archive.infolist()
                if info.filename.endswith(".npy")
            }
            missing = [key for key in keys if key not in members]
            if missing:
                raise ValueError(
                    f"{loader}: {path} lacks the arrays {missing} (it has "
                    f"{sorted(members)}); delete it so that it is downloaded again."
                )
            return {
                key: _read_member(archive, members[key], path, loader, allow_objects)
                for key in keys
            }
    except (FileNotFoundError, PermissionError):
        raise
    # A damaged archive fails in zipfile's own ways: bad signatures or CRCs, impossible
    # versions or flags ("not implemented"), seeks to negative offsets (OSError).
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as error:
        raise ValueError(
            f"{loader}: {path} is not a readable .npz archive ({error}); delete it so "
            "that it is downloaded again."
        ) from error


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, loader: str, allow_objects: bool
) -> np.ndarray:
    where = f"{path}:{info.filename}"
    _check_member(info, os.path.getsize(path), where, loader)
    raw = archive.read(info)  # CRC-checked; never more than the declared size
    return _parse_npy(raw, where, loader, allow_objects)


def _check_member(info: zipfile.ZipInfo, archive_size: int, where: str, loader: str) -> None:
    if info.flag_bits & 0x1:
        raise ValueError(f"{loader}: {where} is encrypted; data set archives are not.")
    if info.compress_type not in _COMPRESSIONS:
        raise ValueError(
            f"{loader}: {where} uses zip compression method {info.compress_type}; "
            f"only {sorted(_COMPRESSIONS.values())} (what NumPy writes) are read."
        )
    limit = _MAX_EXPANSION * info.compress_size + _SMALL_MEMBER
    if info.compress_size > archive_size or info.file_size > limit:
        raise ValueError(
            f"{loader}: {where} declares {info.file_size} bytes from {info.compress_size} "
            f"compressed bytes in an archive of {archive_size}; that is more than "
            "compression can give. The file is damaged or not a data set archive; "
            "delete it so that it is downloaded again."
        )


def _parse_npy(raw: bytes, where: str, loader: str, allow_objects: bool) -> np.ndarray:
    """One ``.npy`` member: its header, then raw data or an object array's pickle."""
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            # 3.0 differs from 2.0 only in encoding the header as UTF-8 rather than
            # latin-1, which is the same for the ASCII headers NumPy writes for
            # numbers and objects.
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unknown .npy format version {version}")
    except Exception as error:  # numpy's header parser fails in many ways on bad input
        raise ValueError(
            f"{loader}: {where} is not a valid .npy array ({type(error).__name__}: "
            f"{error}); delete the archive so that it is downloaded again."
        ) from error
    if any(size < 0 for size in shape):
        raise ValueError(f"{loader}: {where} declares the negative shape {shape}.")
    body = raw[stream.tell() :]
    count = math.prod(shape)
    if dtype.hasobject:
        if not allow_objects:
            raise ValueError(
                f"{loader}: {where} holds an array of Python objects ({dtype}); this data "
                "set has only numbers, so it is not read (that would run a pickle)."
            )
        return _object_array(body, shape, dtype, count, where, loader)
    if count * dtype.itemsize != len(body):
        raise ValueError(
            f"{loader}: {where} declares a {dtype} array of shape {shape} "
            f"({count * dtype.itemsize} bytes) but holds {len(body)} bytes of data; the "
            "file is damaged, delete it so that it is downloaded again."
        )
    flat = np.frombuffer(bytearray(body), dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran_order else "C")


def _object_array(
    body: bytes, shape: tuple[int, ...], dtype: np.dtype, count: int, where: str, loader: str
) -> np.ndarray:
    # Every element takes at least one byte of pickle, so a larger count is a lie.
    if dtype != np.dtype(object) or count > len(body):
        raise ValueError(
            f"{loader}: {where} declares a {dtype} array of shape {shape} in a "
            f"{len(body)}-byte pickle; only plain object arrays with at most one element "
            "per byte are read. The file is damaged or not a data set archive."
        )
    try:
        # latin-1, as np.load advises, for object arrays pickled by Python 2.
        loaded = safe_load(io.BytesIO(body), encoding="latin1", source=where)
    except RefusedPickleError:
        raise
    except Exception as error:  # any failure of a damaged pickle is the file's fault
        raise ValueError(
            f"{loader}: {where} holds a damaged pickle ({type(error).__name__}: {error}); "
            "delete the archive so that it is downloaded again."
        ) from error
    if not isinstance(loaded, np.ndarray) or loaded.dtype != dtype or loaded.shape != shape:
        described = (
            f"a {loaded.dtype} array of shape {loaded.shape}"
            if isinstance(loaded, np.ndarray)
            else f"a {type(loaded).__name__}"
        )
        raise ValueError(
            f"{loader}: {where} declares a {dtype} array of shape {shape} but its pickle "
            f"holds {described}."
        )
    return loaded
