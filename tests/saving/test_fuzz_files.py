"""Fuzzing the loaders: Hypothesis mutates valid ``.keras`` archives, ``.weights.h5``
files and config JSON (truncation, flipped bytes, swapped members, size fields, deep
nesting, replaced values) and every outcome must be a successful load or one of
nerve's documented errors (``WeightsFileError``, which ``WeightsMismatchError``
subclasses, or ``SerializationError``), within bounds on memory and time.

The normal run tries ``NERVE_FUZZ_EXAMPLES`` examples per fuzzer (default 5, a few
seconds in all, derandomized so CI is reproducible); a long run sets it higher, e.g.
``NERVE_FUZZ_EXAMPLES=2000 pytest tests/saving/test_fuzz_files.py`` (then random).
"""

import functools
import io
import json
import os
import struct
import tempfile
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nerve
from nerve import layers, saving

EXAMPLES = int(os.environ.get("NERVE_FUZZ_EXAMPLES", "5"))
LONG = EXAMPLES > 5
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # time is bounded below, per example, with a generous hang guard
    derandomize=not LONG,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DOCUMENTED = (saving.WeightsFileError, saving.SerializationError)
# The valid files hold a few KB; a load must never need more than this, nor this long.
MEMORY_BOUND = 64 << 20
TIME_BOUND = 60.0


def _model():
    model = nerve.models.Sequential(
        [layers.Input((6,)), layers.Dense(5, activation="relu"), layers.Dense(3)]
    )
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(np.ones((4, 6), "float32"), np.ones((4, 3), "float32"), epochs=1, verbose=0)
    return model


@functools.cache
def _valid_files() -> dict:
    folder = tempfile.mkdtemp()
    model = _model()
    keras_path = os.path.join(folder, "model.keras")
    weights_path = os.path.join(folder, "model.weights.h5")
    saving.save_model(model, keras_path)
    saving.save_weights(model, weights_path)
    with zipfile.ZipFile(keras_path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with open(keras_path, "rb") as f, open(weights_path, "rb") as g:
        return {"keras": f.read(), "weights": g.read(), "members": members}


def _load(kind: str, data: bytes) -> str:
    """Load ``data`` as a ``kind`` file; the outcome's name. Anything but success or a
    documented error, or a load past the memory or time bound, fails the test."""
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "fuzz.keras" if kind == "keras" else "fuzz.weights.h5")
    with open(path, "wb") as f:
        f.write(data)
    start = time.monotonic()
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. optimizer state skipped: a fine outcome
            if kind == "keras":
                saving.load_model(path)
            else:
                saving.load_weights(_model_for_weights(), path)
        outcome = "loaded"
    except DOCUMENTED as error:
        assert "fuzz." in str(error), f"the error does not name the file: {error}"
        outcome = type(error).__name__
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)
    assert peak < MEMORY_BOUND, f"loading took {peak} bytes"
    assert time.monotonic() - start < TIME_BOUND, "loading took too long"
    return outcome


@functools.cache
def _weights_model():
    return _model()


def _model_for_weights():
    return _weights_model()


def _zip(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# -- byte-level mutations -----------------------------------------------------------------
def _flips(size):
    return st.lists(
        st.tuples(st.integers(0, size - 1), st.integers(1, 255)), min_size=1, max_size=8
    )


def _flip(data: bytes, flips) -> bytes:
    mutated = bytearray(data)
    for position, mask in flips:
        mutated[position] ^= mask
    return bytes(mutated)


@pytest.mark.parametrize("kind", ["keras", "weights"])
def test_fuzz_truncation(kind):
    data = _valid_files()[kind]

    @FUZZ
    @given(st.integers(0, len(data) - 1))
    def check(length):
        _load(kind, data[:length])

    check()


@pytest.mark.parametrize("kind", ["keras", "weights"])
def test_fuzz_flipped_bytes(kind):
    data = _valid_files()[kind]

    @FUZZ
    @given(_flips(len(data)))
    def check(flips):
        _load(kind, _flip(data, flips))

    check()


def test_fuzz_flipped_bytes_inside_a_valid_archive():
    """Flips inside the weights member of an archive whose checksums are recomputed:
    HDF5's own structures, not the zip's CRC, must catch the damage (or load)."""
    members = _valid_files()["members"]
    weights = members["model.weights.h5"]

    @FUZZ
    @given(_flips(len(weights)))
    def check(flips):
        _load("keras", _zip({**members, "model.weights.h5": _flip(weights, flips)}))

    check()


_CENTRAL = struct.Struct("<4s6H3L5H2L")  # a central directory entry's fixed part


def test_fuzz_size_fields():
    """Sizes, offsets and counts in the zip's headers replaced by arbitrary values."""
    data = _valid_files()["keras"]
    entries = [i for i in range(len(data) - 4) if data[i : i + 4] == b"PK\x01\x02"]
    end = data.rindex(b"PK\x05\x06")
    # (offset of a 4-byte field): compressed size, uncompressed size, local header
    # offset of each member; the directory's size and offset in the end record.
    fields = [e + o for e in entries for o in (20, 24, 42)] + [end + 12, end + 16]

    @FUZZ
    @given(st.sampled_from(fields), st.integers(0, 2**32 - 1))
    def check(field, value):
        mutated = bytearray(data)
        mutated[field : field + 4] = value.to_bytes(4, "little")
        _load("keras", bytes(mutated))

    check()


def test_fuzz_member_swaps():
    members = _valid_files()["members"]
    names = sorted(members)

    @FUZZ
    @given(
        st.permutations(names),
        st.lists(st.sampled_from(names), unique=True, max_size=len(names) - 1),
    )
    def check(order, dropped):
        contents = [members[name] for name in order]
        swapped = {n: c for n, c in zip(names, contents) if n not in dropped}
        _load("keras", _zip(swapped))

    check()


# -- config mutations ---------------------------------------------------------------------
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["Dense", "Sequential", "keras.layers", "__numpy__", "__lambda__"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["class_name", "config", "module", "units", "value", "dtype"])
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _paths(value, (*prefix, index))


def _replace(tree, path, make):
    if not path:
        return make(tree)
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[path[0]] = _replace(tree[path[0]], path[1:], make)
    return copy


def _nest(value, depth, in_list):
    for _ in range(depth):
        value = [value] if in_list else {"config": value}
    return value


def test_fuzz_config():
    members = _valid_files()["members"]
    config = json.loads(members["config.json"])
    paths = list(_paths(config))

    mutation = st.one_of(
        st.tuples(st.just("replace"), st.sampled_from(paths), _JSON),
        st.tuples(st.just("nest"), st.sampled_from(paths), st.integers(1, 400), st.booleans()),
        st.tuples(st.just("delete"), st.sampled_from([p for p in paths if p])),
    )

    @FUZZ
    @given(st.lists(mutation, min_size=1, max_size=3))
    def check(mutations):
        tree = config
        for mutation in mutations:
            try:
                tree = _mutate(tree, *mutation)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier mutation removed this path
        _load("keras", _zip({**members, "config.json": json.dumps(tree).encode()}))

    check()


def _mutate(tree, name, path, *args):
    if name == "replace":
        return _replace(tree, path, lambda _: args[0])
    if name == "nest":
        return _replace(tree, path, lambda v: _nest(v, args[0], args[1]))
    return _replace(tree, path[:-1], lambda v: _without(v, path[-1]))


def _without(container, key):
    copy = dict(container) if isinstance(container, dict) else list(container)
    del copy[key]
    return copy
