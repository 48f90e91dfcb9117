"""Loading is bounded: what an archive declares is checked before it is read, a
config's layers are built without computing initial values the file overwrites,
weights stream into place, and damage is a ``WeightsFileError`` naming the file."""

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import numpy as np
import pytest

import nerve
from nerve import layers, saving

MiB = 1 << 20


def _small_model(compiled=True):
    model = nerve.models.Sequential([layers.Input((8,)), layers.Dense(4), layers.Dense(2)])
    if compiled:
        model.compile(optimizer="adam", loss="mse")
    return model


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rewrite(path, members, compressed=()):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            kind = zipfile.ZIP_DEFLATED if name in compressed else zipfile.ZIP_STORED
            archive.writestr(name, data, compress_type=kind)


def _peak_python_memory(action):
    """Peak bytes allocated through Python's allocators (NumPy's included) by ``action``."""
    tracemalloc.start()
    try:
        action()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("member", ["config.json", "model.weights.h5", "extra/asset.bin"])
def test_a_decompression_bomb_is_refused_without_allocating(tmp_path, member):
    path = tmp_path / "bomb.keras"
    saving.save_model(_small_model(), path)
    members = _members(path)
    members[member] = b"\0" * (64 * MiB)  # deflates to about 64 KB
    _rewrite(path, members, compressed={member})
    assert os.path.getsize(path) < MiB

    def load():
        with pytest.raises(saving.WeightsFileError, match="decompression bomb"):
            saving.load_model(path)

    assert _peak_python_memory(load) < 4 * MiB


def test_declared_sizes_are_checked_against_the_archive(tmp_path):
    path = tmp_path / "liar.keras"
    saving.save_model(_small_model(), path)
    data = bytearray(path.read_bytes())
    # The central directory's uncompressed size of the first member (offset 24 of its
    # entry) now claims 2 GiB, which a stored member cannot hold in its bytes.
    entry = data.index(b"PK\x01\x02")
    data[entry + 24 : entry + 28] = (2**31 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(saving.WeightsFileError, match=str(path.name)):
        saving.load_model(path)


def test_a_huge_declared_layer_is_checked_before_anything_is_allocated(tmp_path):
    """A small config declaring a 10**9-parameter layer must fail on the weights check,
    without allocating the layer's initial values (4 GB) first."""
    path = tmp_path / "huge.keras"
    saving.save_model(_small_model(), path)
    members = _members(path)
    config = members["config.json"].decode()
    members["config.json"] = (
        config.replace('"units": 4', '"units": 100000').replace("8]", "10000]").encode()
    )
    _rewrite(path, members)

    def load():
        with pytest.raises(saving.WeightsMismatchError, match=r"\(10000, 100000\)"):
            saving.load_model(path)

    assert _peak_python_memory(load) < 16 * MiB


def test_state_the_file_does_not_hold_gets_its_initial_values(tmp_path):
    """Variables built without initial values and not set by the file (an optimizer
    whose state is skipped) get real values after loading, and training works."""
    model = _small_model()
    path = tmp_path / "m.keras"
    saving.save_model(model, path)  # the optimizer has no slots yet
    with zipfile.ZipFile(path) as archive:
        assert "optimizer" in archive.read("config.json").decode()
    restored = saving.load_model(path)
    for variable in restored.weights + restored.optimizer.variables:
        value = variable.numpy()
        assert value.size <= 1 or 0 not in value.strides, variable.path
    for saved, loaded in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    restored.fit(np.ones((4, 8), "float32"), np.ones((4, 2), "float32"), epochs=1, verbose=0)


@pytest.mark.parametrize("depth", [200, 100_000])
def test_a_deeply_nested_config_is_a_clean_error(tmp_path, depth):
    path = tmp_path / "deep.keras"
    saving.save_model(_small_model(), path)
    members = _members(path)
    members["config.json"] = (
        '{"class_name": "Sequential", "config": ' + "[" * depth + "]" * depth + "}"
    ).encode()
    _rewrite(path, members)
    with pytest.raises(saving.WeightsFileError, match="nests"):
        saving.load_model(path)


def test_nested_objects_beyond_the_stack_are_a_clean_error(tmp_path):
    """Object nesting within the JSON depth limit still cannot exhaust the stack."""
    path = tmp_path / "deep_objects.keras"
    saving.save_model(_small_model(), path)
    members = _members(path)
    inner: dict = {"class_name": "Dense", "config": {"units": 1}}
    for _ in range(60):
        inner = {"class_name": "Dense", "config": {"units": 1, "kernel_initializer": inner}}
    members["config.json"] = json.dumps(inner).encode()
    _rewrite(path, members)
    with pytest.raises((saving.WeightsFileError, saving.SerializationError), match="config"):
        saving.load_model(path)


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_damage_is_a_weights_file_error_naming_the_file(tmp_path, suffix):
    model = _small_model(compiled=False)
    path = tmp_path / f"model{suffix}"
    (saving.save_model if suffix == ".keras" else saving.save_weights)(model, path)
    data = path.read_bytes()
    load = (
        (lambda p: saving.load_model(p))
        if suffix == ".keras"
        else (lambda p: saving.load_weights(_small_model(compiled=False), p))
    )
    damaged = tmp_path / f"damaged{suffix}"
    # Truncations and flipped bytes all over the file, including the weights' values.
    cuts = [len(data) // 8 * i for i in range(1, 8)]
    flips = [len(data) // 13 * i for i in range(1, 13)] + [len(data) - 30]
    outcomes = set()
    for kind, position in [("cut", c) for c in cuts] + [("flip", f) for f in flips]:
        mutated = bytearray(data[:position] if kind == "cut" else data)
        if kind == "flip":
            mutated[position] ^= 0xFF
        damaged.write_bytes(bytes(mutated))
        try:
            load(damaged)
            outcomes.add("loaded")
        except (saving.WeightsFileError, saving.SerializationError) as error:
            assert damaged.name in str(error), (kind, position, error)
            outcomes.add("error")
    assert "error" in outcomes


def test_a_flipped_byte_in_the_weights_values_is_detected(tmp_path):
    path = tmp_path / "m.keras"
    model = _small_model(compiled=False)
    saving.save_model(model, path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("model.weights.h5")
    kernel = np.asarray(model.weights[0].numpy()).tobytes()
    start = data.index(kernel, info.header_offset)
    data[start + 5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(saving.WeightsFileError, match="checksum"):
        saving.load_model(path)


# -- memory ------------------------------------------------------------------------------
_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import nerve
    from nerve import saving

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    def peak():
        # VmHWM, not ru_maxrss: ru_maxrss keeps the parent's size across fork and exec.
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    path, warm = sys.argv[1], sys.argv[2]
    saving.load_model(warm)  # imports and first-use caches, outside the measurement
    base = rss()
    model = saving.load_model(path)
    weights = sum(v.numpy().nbytes for v in model.weights)
    print(weights, peak() - base)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's /proc")
def test_loading_n_bytes_of_weights_stays_under_one_and_a_half_n(tmp_path):
    model = nerve.models.Sequential(
        [layers.Input((1024,)), layers.Dense(3072), layers.Dense(2048), layers.Dense(8)]
    )
    path, warm = tmp_path / "big.keras", tmp_path / "warm.keras"
    saving.save_model(model, path)
    saving.save_model(_small_model(compiled=False), warm)
    del model
    # The subprocess imports this nerve, wherever the test runs from.
    root = os.path.dirname(os.path.dirname(nerve.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *sys.path]))
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(path), str(warm)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    weights, growth = map(int, result.stdout.split())
    assert weights > 32 * MiB
    # The model's own N bytes, plus at most half of N for everything loading needs.
    print("load memory / weights:", growth / weights)
    assert growth < 1.5 * weights, (growth / weights, result.stdout)


def test_an_archive_with_compressed_members_loads(tmp_path):
    """Another writer may deflate the members: the weights then stream through an
    anonymous temporary file, and load like the uncompressed ones."""
    model = _small_model()
    path = tmp_path / "deflated.keras"
    saving.save_model(model, path)
    members = _members(path)
    _rewrite(path, members, compressed=set(members))
    with zipfile.ZipFile(path) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    restored = saving.load_model(path)
    for saved, loaded in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
