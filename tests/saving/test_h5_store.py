"""Loading never reads outside the file it was given, and never changes a value by a
cast: hostile ``.weights.h5`` files (alone and inside a ``.keras`` archive) built with
h5py are refused with ``WeightsFileError`` before any outside file is opened."""

import os
import threading
import zipfile

import h5py
import numpy as np
import pytest

from nerve import layers, ops, saving


def _dense():
    layer = layers.Dense(2, name="dense")
    _ = layer(ops.ones((1, 3)))
    return layer


def _write(path, build):
    """A weights file for ``_dense()`` whose ``vars/0`` (the kernel) is made by
    ``build(file, group)``; the bias is an ordinary dataset."""
    with h5py.File(path, "w") as f:
        group = f.create_group("vars")
        build(f, group)
        group.create_dataset("1", data=np.zeros(2, "float32"))


def _outside(tmp_path):
    """A file outside the weights file holding 24 bytes that would make a kernel."""
    path = tmp_path / "secret.bin"
    path.write_bytes(np.arange(6, dtype="float32").tobytes())
    return str(path)


def _external_storage(tmp_path):
    secret = _outside(tmp_path)
    return lambda f, g: g.create_dataset(
        "0", shape=(3, 2), dtype="float32", external=[(secret, 0, 24)]
    )


def _soft_link(tmp_path):
    def build(f, g):
        f.create_dataset("elsewhere", data=np.ones((3, 2), "float32"))
        g["0"] = h5py.SoftLink("/elsewhere")

    return build


def _external_link(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as o:
        o.create_dataset("kernel", data=np.ones((3, 2), "float32"))
    return lambda f, g: g.__setitem__("0", h5py.ExternalLink(str(other), "/kernel"))


def _virtual(tmp_path):
    other = tmp_path / "source.h5"
    with h5py.File(other, "w") as o:
        o.create_dataset("kernel", data=np.ones((3, 2), "float32"))

    def build(f, g):
        layout = h5py.VirtualLayout(shape=(3, 2), dtype="float32")
        layout[:] = h5py.VirtualSource(str(other), "kernel", shape=(3, 2))
        g.create_virtual_dataset("0", layout)

    return build


def _linked_group(tmp_path):
    """The whole ``vars`` group reached through an external link."""
    other = tmp_path / "group.h5"
    with h5py.File(other, "w") as o:
        vars_ = o.create_group("vars")
        vars_.create_dataset("0", data=np.ones((3, 2), "float32"))
        vars_.create_dataset("1", data=np.ones(2, "float32"))

    def build(f, g):
        del f["vars"]
        f["vars"] = h5py.ExternalLink(str(other), "/vars")

    return build


HOSTILE = {
    "external storage": (_external_storage, "external storage"),
    "soft link": (_soft_link, "soft link"),
    "external link": (_external_link, "external link"),
    "virtual dataset": (_virtual, "virtual dataset"),
    "linked group": (_linked_group, "external link"),
}


def _as_keras(tmp_path, weights_path):
    """A .keras archive of ``_dense()`` whose weights member is ``weights_path``."""
    archive = tmp_path / "model.keras"
    saving.save_model(_dense(), archive)
    with zipfile.ZipFile(archive) as src:
        members = {n: src.read(n) for n in src.namelist()}
    members["model.weights.h5"] = weights_path.read_bytes()
    with zipfile.ZipFile(archive, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    return archive


@pytest.mark.parametrize("container", ["weights.h5", "keras"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_nothing_outside_the_file_is_read(tmp_path, case, container):
    make, message = HOSTILE[case]
    path = tmp_path / "hostile.weights.h5"
    if case == "linked group":
        with h5py.File(path, "w") as f:
            f.create_group("vars")
            make(tmp_path)(f, None)
    else:
        _write(path, make(tmp_path))
    layer = _dense()
    before = [w.numpy().copy() for w in layer.weights]
    target = path if container == "weights.h5" else _as_keras(tmp_path, path)
    with pytest.raises(saving.WeightsFileError, match=message):
        saving.load_weights(layer, target)
    if container == "keras":
        with pytest.raises(saving.WeightsFileError, match=message):
            saving.load_model(target)
    for weight, old in zip(layer.weights, before):
        np.testing.assert_array_equal(weight.numpy(), old)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_external_storage_on_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    path = tmp_path / "fifo.weights.h5"
    _write(
        path,
        lambda f, g: g.create_dataset(
            "0", shape=(3, 2), dtype="float32", external=[(str(fifo), 0, 24)]
        ),
    )
    outcome = []

    def load():
        try:
            saving.load_weights(_dense(), path)
        except saving.WeightsFileError as error:
            outcome.append(error)

    # Opening a FIFO for reading blocks until a writer comes; a load that opened it
    # would hang, so the load runs in a thread and a writer unblocks it if needed.
    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(30)
    opened = thread.is_alive()
    if opened:
        with open(fifo, "wb") as writer:
            writer.write(b"\0" * 24)
        thread.join(30)
    assert not opened, "load_weights opened the FIFO named by external storage"
    assert outcome and "external storage" in str(outcome[0])


@pytest.mark.parametrize(
    ("stored", "dtype", "message"),
    [
        (np.full((3, 2), 1e300), "float32", "overflows float32"),
        (np.full((3, 2), -1e39), "float32", "overflows float32"),
        (np.full((3, 2), 70000.0, "float32"), "float16", "overflows float16"),
        (np.full((3, 2), 2**40, "int64"), "int32", "do not fit int32"),
        (np.full((3, 2), -1, "int64"), "uint8", "do not fit uint8"),
        (np.full((3, 2), np.nan), "int32", "non-finite"),
    ],
)
def test_a_value_a_cast_would_change_is_an_error(tmp_path, stored, dtype, message):
    layer = layers.Dense(2, dtype=dtype if dtype.startswith("float") else "float32")
    _ = layer(ops.ones((1, 3), dtype=layer.dtype))
    path = tmp_path / "cast.weights.h5"
    if not dtype.startswith("float"):
        # An integer variable: a layer holding one int weight of the stored shape.
        layer = _IntHolder(dtype)
    _write(path, lambda f, g: g.create_dataset("0", data=stored))
    if isinstance(layer, _IntHolder):
        with h5py.File(path, "a") as f:
            del f["vars/1"]
    with pytest.raises(saving.WeightsFileError, match=message):
        saving.load_weights(layer, path)


class _IntHolder(layers.Layer):
    def __init__(self, dtype):
        super().__init__()
        self.count = self.add_weight(shape=(3, 2), dtype=dtype, trainable=False, name="count")


@pytest.mark.parametrize(
    ("stored", "dtype"),
    [
        (np.full((3, 2), 1e30), "float32"),  # finite and in range: rounds, loads
        (np.full((3, 2), np.inf), "float32"),  # already non-finite: kept as is
        (np.full((3, 2), 7, "int64"), "int32"),
    ],
)
def test_casts_that_keep_values_load(tmp_path, stored, dtype):
    layer = _IntHolder(dtype) if dtype.startswith("int") else layers.Dense(2)
    if not isinstance(layer, _IntHolder):
        _ = layer(ops.ones((1, 3)))
    path = tmp_path / "ok.weights.h5"
    _write(path, lambda f, g: g.create_dataset("0", data=stored))
    if isinstance(layer, _IntHolder):
        with h5py.File(path, "a") as f:
            del f["vars/1"]
    saving.load_weights(layer, path)
    np.testing.assert_array_equal(layer.weights[0].numpy(), stored.astype(dtype))


def test_values_stored_past_the_end_of_the_file_are_refused(tmp_path):
    layer = _dense()
    good = tmp_path / "good.weights.h5"
    with h5py.File(good, "w") as f:
        # A large kernel stored last, so cutting the file cuts its values, not the header.
        f.create_group("vars").create_dataset("1", data=np.zeros(2, "float32"))
        f["vars"].create_dataset("0", data=np.ones((3, 2), "float32"))
    data = good.read_bytes()
    cut = tmp_path / "cut.weights.h5"
    cut.write_bytes(data[:-8])
    with pytest.raises(saving.WeightsFileError, match=r"past the end|truncated|corrupt"):
        saving.load_weights(layer, cut)


def test_a_non_builtin_filter_is_refused(tmp_path):
    path = tmp_path / "filter.weights.h5"

    def build(f, g):
        # A dataset that declares filter 307 (bzip2, a plugin) without HDF5 knowing it.
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((3, 2))
        dcpl.set_filter(307, h5py.h5z.FLAG_OPTIONAL)
        space = h5py.h5s.create_simple((3, 2))
        h5py.h5d.create(g.id, b"0", h5py.h5t.NATIVE_FLOAT, space, dcpl=dcpl)

    _write(path, build)
    with pytest.raises(saving.WeightsFileError, match="filter 307"):
        saving.load_weights(_dense(), path)
