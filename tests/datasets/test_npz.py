"""nerve.datasets._npz (the .npz reader imdb, reuters and the housing sets share) and
the array-state checks of the restricted unpickler it hands object arrays to."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from nerve.datasets import _npz, _safe_pickle
from nerve.datasets._safe_pickle import RefusedPickleError
from tests.datasets._loaders import (
    RunsCode,
    RunsShell,
    npy_bytes,
    npz_bytes,
    object_array,
    patch_central_directory,
    python2_npy,
    zip_bytes,
)

RAGGED = object_array([[1, 2, 3], [], [40000, 5]])


def _load(tmp_path, body: bytes, keys=("a",), allow_objects=True) -> dict[str, np.ndarray]:
    path = tmp_path / "file.npz"
    path.write_bytes(body)
    return _npz.load_npz(str(path), keys, "test.load", allow_objects=allow_objects)


# --- what is read -----------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.asfortranarray(np.linspace(0, 1, 12).reshape(3, 4)),
        np.array([1.5, -2.0], dtype=">f8"),
        np.zeros((0, 13)),
        np.array(7, dtype=np.uint8),
        np.array([(1, 2.0)], dtype=[("i", "<i2"), ("f", "<f4")]),
        RAGGED,
        object_array([np.arange(3), np.arange(2, dtype=np.uint8)]),
    ],
    ids=["int32", "fortran", "big-endian", "empty", "0-d", "structured", "lists", "arrays"],
)
def test_reads_what_numpy_writes(tmp_path, array, compressed):
    got = _load(tmp_path, npz_bytes(compressed, a=array, b=np.ones(2)))["a"]
    assert got.dtype == array.dtype and got.shape == array.shape
    assert got.flags.writeable and type(got) is np.ndarray
    if array.dtype == object:
        for got_item, want_item in zip(got, array):
            assert type(got_item) is type(want_item)
            np.testing.assert_array_equal(got_item, want_item)
    else:
        np.testing.assert_array_equal(got, array)
        assert got.flags.f_contiguous == array.flags.f_contiguous


def test_reads_only_the_keys_asked_for(tmp_path):
    # "b" would be refused; it is never unpickled.
    body = npz_bytes(a=np.ones(2), b=object_array([RunsCode(str(tmp_path / "m"))]))
    assert list(_load(tmp_path, body)) == ["a"]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_reads_every_npy_header_version(tmp_path, version):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, RAGGED, version=version, allow_pickle=True)
    got = _load(tmp_path, zip_bytes({"a.npy": buffer.getvalue()}))["a"]
    assert got.tolist() == RAGGED.tolist()


def test_reads_python2_object_arrays(tmp_path):
    got = _load(tmp_path, zip_bytes({"a.npy": python2_npy(RAGGED)}))["a"]
    assert got.tolist() == RAGGED.tolist()
    # The same bytes are what NumPy itself reads (the test file is a faithful one).
    path = tmp_path / "file.npz"
    with np.load(path, allow_pickle=True, encoding="latin1") as npz:
        assert npz["a"].tolist() == RAGGED.tolist()


# --- damaged or lying archives -------------------------------------------------------------


def _stored(member: bytes) -> bytes:
    return zip_bytes({"a.npy": member})


HEADER = npy_bytes(np.arange(4, dtype=np.int64))[:-32]  # the header alone


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not a zip at all", "not a readable .npz archive"),
        (npz_bytes(a=np.ones(1000))[:500], "not a readable .npz archive"),
        (npz_bytes(b=np.ones(3)), r"lacks the arrays \['a'\] \(it has \['b'\]\)"),
        (_stored(b"\x93NUMPY"), "not a valid .npy array"),
        (_stored(b"PK\x03\x04 and so on"), "not a valid .npy array"),
        (_stored(HEADER + b"\x00" * 31), r"shape \(4,\) \(32 bytes\) but holds 31"),
        (_stored(HEADER + b"\x00" * 33), r"shape \(4,\) \(32 bytes\) but holds 33"),
        (_stored(HEADER.replace(b"(4,), }", b"(-4,)} ")), "negative"),
        (_stored(npy_bytes(RAGGED)[:-5]), "damaged pickle"),
        (
            _stored(npy_bytes(RAGGED).replace(b"(3,)", b"(4,)")),
            r"declares a object array of shape \(4,\) but its pickle holds .* shape \(3,\)",
        ),
        (
            _stored(npy_bytes(RAGGED).replace(b"(3,)", b"(9999,)")),
            r"shape \(9999,\) in a \d+-byte pickle",
        ),
        (
            _stored(npy_bytes(np.array([(1,)], dtype=[("o", "O")]))),
            "only plain object arrays",
        ),
    ],
    ids=[
        "not-zip",
        "truncated-zip",
        "missing-key",
        "short-magic",
        "not-npy",
        "short-data",
        "long-data",
        "negative-shape",
        "cut-pickle",
        "pickle-shape",
        "object-count",
        "structured-objects",
    ],
)
def test_damaged_archives_are_clear_errors(tmp_path, body, message):
    with pytest.raises(ValueError, match=message) as info:
        _load(tmp_path, body)
    assert str(info.value).startswith("test.load: ")
    assert str(tmp_path / "file.npz") in str(info.value)


def test_crc_mismatch_is_refused(tmp_path):
    member = npy_bytes(np.arange(100, dtype=np.int64))
    body = bytearray(_stored(member))
    body[body.index(member) + len(member) - 8] = 100  # the stored 99 becomes 100
    with pytest.raises(ValueError, match=r"not a readable \.npz archive.*CRC"):
        _load(tmp_path, bytes(body))


@pytest.mark.parametrize(
    "offset, fmt, value, message",
    [
        (24, "<I", 10**9, "declares 1000000000 bytes from"),  # uncompressed size: a bomb
        (20, "<I", 10**9, "more than compression can give"),  # compressed size > archive
        (8, "<H", 1, "encrypted"),  # general-purpose flag bit 0
        (10, "<H", 12, "compression method 12"),  # bzip2
    ],
    ids=["bomb", "compressed-size", "encrypted", "bzip2"],
)
def test_member_sizes_and_methods_are_checked_before_reading(tmp_path, offset, fmt, value, message):
    body = npz_bytes(True, a=np.zeros(10000))
    with pytest.raises(ValueError, match=message) as info:
        _load(tmp_path, patch_central_directory(body, offset, fmt, value))
    assert "file.npz:a.npy" in str(info.value)


def test_a_large_honest_expansion_is_read(tmp_path):
    # Zeros compress about 1000-fold with deflate; that is still a valid archive.
    zeros = np.zeros(2_000_000, dtype=np.uint8)
    body = npz_bytes(True, a=zeros)
    assert len(body) < 5000
    assert _load(tmp_path, body)["a"].shape == zeros.shape


# --- pickles that would run code or crash ----------------------------------------------


def test_object_arrays_are_refused_unless_allowed(tmp_path):
    marker = tmp_path / "pwned"
    body = npz_bytes(a=object_array([[1], RunsCode(str(marker))]))
    with pytest.raises(ValueError, match="array of Python objects"):
        _load(tmp_path, body, allow_objects=False)
    assert not marker.exists()
    assert _load(tmp_path, npz_bytes(a=np.ones(2)), allow_objects=False)["a"].shape == (2,)


@pytest.mark.parametrize("payload", [RunsCode, RunsShell], ids=["open", "os.system"])
def test_object_array_that_runs_code_is_refused(tmp_path, payload):
    marker = tmp_path / "pwned"
    body = npz_bytes(a=object_array([[1, 2], payload(str(marker))]))
    with pytest.raises(RefusedPickleError, match=f"refusing to load {payload.pickled_as}") as info:
        _load(tmp_path, body)
    assert "file.npz:a.npy" in str(info.value)
    assert not marker.exists()
    if payload is RunsCode:  # the same file does run code through np.load
        with np.load(tmp_path / "file.npz", allow_pickle=True) as npz:
            npz["a"][1].close()
        assert marker.exists()


def _array_pickle(state: tuple, *, args: tuple = (np.ndarray, (0,), b"b")) -> bytes:
    """A pickle that rebuilds an ndarray from ``args`` and sets ``state`` on it, as
    NumPy writes them but with any values."""

    class Forged:
        def __reduce__(self):
            return (np.zeros(0).__reduce__()[0], args, state)

    return pickle.dumps(Forged(), protocol=3)


@pytest.mark.parametrize(
    "body, message",
    [
        (_array_pickle((1, (5,), np.dtype("O"), False, [1, 2])), "comes with 2 elements"),
        (_array_pickle((1, (2,), np.dtype("O"), False, b"ab")), "comes with bytes elements"),
        (_array_pickle((1, (1,), np.dtype([("o", "O")]), False, [1])), "only plain dtypes"),
        (_array_pickle((1, (5,), np.dtype("u1"), False, b"ab")), "needs 5 bytes but comes with 2"),
        (
            _array_pickle((1, (2**62, 4), np.dtype("u1"), False, b"")),
            "needs 18446744073709551616 bytes",
        ),
        (_array_pickle((1, (-1,), np.dtype("u1"), False, b"")), "expected a tuple of sizes"),
        (_array_pickle((1, (1,), "u1", False, b"a")), "expected a tuple of sizes, a dtype"),
        (_array_pickle("state"), "state is not NumPy's"),
        (
            _array_pickle((), args=(np.ndarray, (10**12,), b"b")),
            r"_reconstruct with .*\(1000000000000,\)",
        ),
    ],
    ids=[
        "short-object-list",
        "object-bytes",
        "structured-objects",
        "short-bytes",
        "overflowing-shape",
        "negative-shape",
        "dtype-not-dtype",
        "not-a-state",
        "huge-reconstruct",
    ],
)
def test_array_states_are_checked_before_numpy_sees_them(body, message):
    with pytest.raises(RefusedPickleError, match=message) as info:
        _safe_pickle.safe_load(io.BytesIO(body), source="forged")
    assert "(forged)" in str(info.value)


def _dtype_pickle(typestr: str, state: tuple) -> bytes:
    class Forged:
        def __reduce__(self):
            return (np.dtype, (typestr, False, True), state)

    return pickle.dumps(Forged(), protocol=3)


PLAIN_STATE = (3, "|", None, None, None, -1, -1, 63)


@pytest.mark.parametrize(
    "body, message",
    [
        # Found by fuzzing: NumPy 2.4 crashes on this field table.
        (_dtype_pickle("O8", (3, "|", None, (None, None), -1, -1, 63)), "not NumPy's"),
        (_dtype_pickle("O8", (3, "|", None, None, (None, None), -1, -1, 63)), "only plain"),
        (_dtype_pickle("V8", (3, "|", None, ("a",), {"a": 1}, 8, 1, 0)), "only plain dtypes"),
        (_dtype_pickle("S5", (3, "|", None, None, None, 7, 1, 0)), "of their own size"),
        (_dtype_pickle("O8", (3, "!", None, None, None, -1, -1, 63)), "only plain dtypes"),
        (_dtype_pickle("O8", (*PLAIN_STATE, None)), "not NumPy's"),
        (_dtype_pickle("i4,i4", PLAIN_STATE), r"numpy.dtype\('i4,i4'\)"),
        (_dtype_pickle("(2,)i4", PLAIN_STATE), r"numpy.dtype\('\(2,\)i4'\)"),
        (_dtype_pickle("M8", PLAIN_STATE), r"numpy.dtype\('M8'\)"),
        (_dtype_pickle("nonsense", PLAIN_STATE), r"numpy.dtype\('nonsense'\)"),
    ],
    ids=[
        "fields-crash",
        "fields-tuple",
        "structured",
        "itemsize",
        "byteorder",
        "version-4",
        "comma-string",
        "sub-array",
        "datetime",
        "unknown",
    ],
)
def test_dtype_states_are_checked(body, message):
    with pytest.raises(RefusedPickleError, match=message):
        _safe_pickle.safe_load(io.BytesIO(body))


@pytest.mark.parametrize("dtype", [">i4", "<f2", "c16", "?", "S5", "U3", "V4", "O"])
def test_plain_dtypes_load_as_with_the_standard_unpickler(dtype):
    array = np.arange(6).astype(dtype).reshape(2, 3)
    body = pickle.dumps({b"a": array, b"dtype": array.dtype}, protocol=3)
    want = pickle.loads(body)  # (NumPy swaps a big-endian array to native order)
    loaded = _safe_pickle.safe_load(io.BytesIO(body))
    assert isinstance(loaded, dict)
    assert loaded[b"a"].dtype == want[b"a"].dtype and loaded[b"a"].shape == (2, 3)
    np.testing.assert_array_equal(loaded[b"a"], want[b"a"])
    assert loaded[b"dtype"] == want[b"dtype"] == array.dtype
    assert loaded[b"dtype"].byteorder == want[b"dtype"].byteorder


def test_numpy_ndarray_is_a_name_that_cannot_allocate():
    class CallsNdarray:
        def __reduce__(self):
            return (np.ndarray, ((10**12,), "O"))

    # np.ndarray((10**12,), "O") would try to fill 8 TB with None.
    with pytest.raises(TypeError, match="not callable"):
        _safe_pickle.safe_load(io.BytesIO(pickle.dumps(CallsNdarray(), protocol=3)))


def test_short_object_list_would_crash_numpy_but_is_refused():
    # NumPy's ndarray.__setstate__ reads past a short list (a segmentation fault on
    # NumPy 2.4), so both sides run in their own processes.
    body = _array_pickle((1, (100_000,), np.dtype("O"), False, [1, 2]))
    script = (
        "import io, pickle, sys\n"
        "from nerve.datasets._safe_pickle import safe_load, RefusedPickleError\n"
        "body = sys.stdin.buffer.read()\n"
        "try:\n"
        "    safe_load(io.BytesIO(body))\n"
        "except RefusedPickleError as error:\n"
        "    print('refused:', error)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], input=body, capture_output=True, timeout=60
    )
    assert run.returncode == 0, run.stderr.decode()
    assert b"refused: a pickled object array of shape (100000,) comes with 2" in run.stdout


def test_pending_arrays_are_resolved_in_nested_containers():
    array = np.arange(3)
    shared = [array]
    value = {b"a": (array, [shared, shared]), b"b": {b"c": array}}
    loaded = _safe_pickle.safe_load(io.BytesIO(pickle.dumps(value, protocol=3)))
    assert isinstance(loaded, dict)
    first, pair = loaded[b"a"]
    assert type(first) is np.ndarray and pair[0] is pair[1]
    assert type(pair[0][0]) is np.ndarray and type(loaded[b"b"][b"c"]) is np.ndarray
    looped: list = [np.arange(2)]
    looped.append(looped)
    loaded = _safe_pickle.safe_load(io.BytesIO(pickle.dumps(looped, protocol=3)))
    assert type(loaded[0]) is np.ndarray and loaded[1] is loaded


def test_zip_members_that_are_not_arrays_are_ignored(tmp_path):
    body = zip_bytes({"a.npy": npy_bytes(np.ones(2)), "README": b"text"})
    assert list(_load(tmp_path, body)) == ["a"]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == ["a.npy", "README"]
