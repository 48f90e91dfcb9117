"""The TensorBoard callback's event files, read back with TensorBoard's own readers."""

import glob
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import nerve
from nerve import layers

tensorboard = pytest.importorskip(
    "tensorboard", reason="the tensorboard package (the `test` extra) reads the event files"
)
from tensorboard.backend.event_processing import (  # noqa: E402
    event_file_loader,
    plugin_event_accumulator,
    plugin_event_multiplexer,
)
from tensorboard.compat.tensorflow_stub import errors as tb_errors  # noqa: E402
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

EPOCHS, SAMPLES, BATCH = 3, 12, 4
STEPS = SAMPLES // BATCH


def _fit(log_dir, **options):
    nerve.utils.set_random_seed(0)
    model = nerve.Sequential(
        [
            layers.Input((3,), name="x"),
            layers.Dense(4, activation="relu", name="hidden"),
            layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer=nerve.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(SAMPLES, 3)), rng.normal(size=(SAMPLES, 1))
    callback = nerve.callbacks.TensorBoard(log_dir, **options)
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=EPOCHS,
        validation_data=(x[:4], y[:4]),
        verbose=0,
        callbacks=[callback],
    )
    return model, history


def _load(run_dir):
    accumulator = plugin_event_accumulator.EventAccumulator(run_dir, size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def _series(accumulator, tag):
    return [
        (event.step, tensor_util.make_ndarray(event.tensor_proto))
        for event in accumulator.Tensors(tag)
    ]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    log_dir = str(tmp_path_factory.mktemp("tb"))
    model, history = _fit(log_dir, histogram_freq=1, update_freq=2)
    return (
        log_dir,
        model,
        history,
        _load(os.path.join(log_dir, "train")),
        _load(os.path.join(log_dir, "validation")),
    )


def test_run_folders_and_file_names(run):
    log_dir = run[0]
    assert sorted(os.listdir(log_dir)) == ["train", "validation"]
    for folder in ("train", "validation"):
        names = os.listdir(os.path.join(log_dir, folder))
        assert len(names) == 1
        assert re.fullmatch(r"events\.out\.tfevents\.\d+\..+\.\d+\.\d+\.v2", names[0]), names


def test_file_version_comes_first(run):
    path = glob.glob(os.path.join(run[0], "train", "events.*"))[0]
    first = next(iter(event_file_loader.EventFileLoader(path).Load()))
    assert first.file_version == "brain.Event:2"


@pytest.mark.parametrize(
    ("run_index", "tag", "log_key"),
    [
        (3, "epoch_loss", "loss"),
        (3, "epoch_mae", "mae"),
        (3, "epoch_learning_rate", None),
        (4, "epoch_loss", "val_loss"),
        (4, "epoch_mae", "val_mae"),
    ],
)
def test_epoch_scalars_equal_history(run, run_index, tag, log_key):
    history = run[2].history
    series = _series(run[run_index], tag)
    assert [step for step, _ in series] == list(range(EPOCHS))
    expected = [0.05] * EPOCHS if log_key is None else history[log_key]
    np.testing.assert_allclose([float(v) for _, v in series], np.float32(expected), rtol=1e-6)
    plugin = run[run_index].SummaryMetadata(tag).plugin_data.plugin_name
    assert plugin == "scalars"


def test_evaluation_scalars_at_optimizer_steps(run):
    history = run[2].history
    series = _series(run[4], "evaluation_loss_vs_iterations")
    assert [step for step, _ in series] == [STEPS * (epoch + 1) for epoch in range(EPOCHS)]
    np.testing.assert_allclose(
        [float(v) for _, v in series], np.float32(history["val_loss"]), rtol=1e-6
    )


def test_batch_scalars_every_update_freq_steps(run):
    steps = [step for step, _ in _series(run[3], "batch_loss")]
    assert steps == list(range(2, EPOCHS * STEPS + 1, 2))


def test_weight_histograms(run):
    model, train = run[1], run[3]
    for weight in model.weights:
        series = _series(train, f"{weight.path}/histogram")
        assert [step for step, _ in series] == list(range(EPOCHS))
        assert (
            train.SummaryMetadata(f"{weight.path}/histogram").plugin_data.plugin_name
            == "histograms"
        )
        for _, buckets in series:
            assert buckets.shape == (30, 3)
            assert buckets[:, 2].sum() == np.prod(weight.shape)
    # The last histogram is of the final weights.
    last = _series(train, f"{model.weights[0].path}/histogram")[-1][1]
    values = model.weights[0].numpy()
    assert last[0, 0] == pytest.approx(values.min()) and last[-1, 1] == pytest.approx(values.max())


def test_graph_has_one_node_per_layer(run):
    graph = run[3].Graph()
    nodes = {node.name: node for node in graph.node}
    assert list(nodes) == ["x", "hidden", "out"]
    assert [nodes[n].op for n in nodes] == ["InputLayer", "Dense", "Dense"]
    assert list(nodes["out"].input) == ["hidden"]
    assert [d.size for d in nodes["out"].attr["output_shape"].shape.dim] == [-1, 1]


def test_tensorboard_server_sees_each_plugin(run):
    # The multiplexer is what `tensorboard --logdir` serves from.
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(run[0])
    multiplexer.Reload()
    scalars = multiplexer.PluginRunToTagToContent("scalars")
    assert {"epoch_loss", "epoch_mae", "epoch_learning_rate", "batch_loss"} <= set(scalars["train"])
    assert {"epoch_loss", "evaluation_loss_vs_iterations"} <= set(scalars["validation"])
    histograms = multiplexer.PluginRunToTagToContent("histograms")
    assert sorted(histograms) == ["train"] and len(histograms["train"]) == len(run[1].weights)
    assert multiplexer.PluginRunToTagToContent("graphs") == {"train": {"__run_graph__": b""}}


def test_corrupted_record_fails_the_crc_check(run, tmp_path):
    source = glob.glob(os.path.join(run[0], "train", "events.*"))[0]
    copy = str(tmp_path / os.path.basename(source))
    shutil.copy(source, copy)
    data = bytearray(Path(source).read_bytes())
    data[12] ^= 0x01  # the first byte of the first record's payload
    with open(copy, "wb") as file:
        file.write(data)
    reader = pywrap_tensorflow.PyRecordReader_New(copy)
    with pytest.raises(tb_errors.DataLossError, match="crc32"):
        reader.GetNext()
    # TensorBoard's loader stops at the damaged record instead of reading it.
    assert list(event_file_loader.EventFileLoader(copy).Load()) == []
    assert len(list(event_file_loader.EventFileLoader(source).Load())) > 1


def test_epoch_only_images_and_no_graph(tmp_path):
    _fit(str(tmp_path), histogram_freq=2, write_images=True, write_graph=False)
    train = _load(str(tmp_path / "train"))
    tags = train.Tags()
    assert not tags["graph"]
    assert not any(tag.startswith("batch_") for tag in tags["tensors"])
    image = _series(train, "hidden/kernel/image")
    assert [step for step, _ in image] == [0, 2]
    width, height = (int(v) for v in image[0][1][:2])
    assert (height, width) == (3, 4)  # the kernel (3, 4) has its longer side across


def test_steps_per_second(tmp_path):
    _fit(str(tmp_path), write_steps_per_second=True, update_freq="batch")
    train = _load(str(tmp_path / "train"))
    assert len(_series(train, "epoch_steps_per_second")) == EPOCHS
    assert len(_series(train, "batch_steps_per_second")) == EPOCHS * STEPS


def test_embeddings_projector_config_and_checkpoints(tmp_path):
    model = nerve.Sequential(
        [layers.Input((2,), dtype="int32"), layers.Embedding(5, 3, name="emb")]
    )
    model.compile(optimizer="sgd", loss="mse")
    callback = nerve.callbacks.TensorBoard(
        tmp_path, embeddings_freq=1, embeddings_metadata={"emb": "words.tsv"}
    )
    model.fit(
        np.zeros((4, 2), "int32"), np.zeros((4, 2, 3)), epochs=2, verbose=0, callbacks=[callback]
    )
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'metadata_path: "words.tsv"' in config and config.count("embeddings {") == 1
    assert sorted(p.name for p in (tmp_path / "train").glob("*.h5")) == [
        "keras_embedding.ckpt-0.weights.h5",
        "keras_embedding.ckpt-1.weights.h5",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"update_freq": "step"}, "update_freq"),
        ({"update_freq": 0}, "update_freq"),
        ({"histogram_freq": -1}, "histogram_freq"),
        ({"embeddings_freq": 1.5}, "embeddings_freq"),
    ],
)
def test_bad_arguments(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        nerve.callbacks.TensorBoard(tmp_path, **options)


def test_profile_batch_warns_and_is_ignored(tmp_path):
    with pytest.warns(UserWarning, match="profil"):
        nerve.callbacks.TensorBoard(tmp_path, profile_batch=2)


def test_evaluate_after_fit_adds_a_closed_validation_file(tmp_path):
    model, _ = _fit(str(tmp_path))
    callback = nerve.callbacks.TensorBoard(tmp_path)
    results = model.evaluate(
        np.ones((4, 3)), np.ones((4, 1)), verbose=0, callbacks=[callback], return_dict=True
    )
    writer = callback._writers["validation"]
    assert writer.closed
    assert len(os.listdir(tmp_path / "validation")) == 2
    series = _series(_load(writer.path), "evaluation_loss_vs_iterations")
    assert [step for step, _ in series] == [EPOCHS * STEPS]
    assert float(series[0][1]) == pytest.approx(results["loss"], rel=1e-6)


def test_writes_only_under_log_dir(tmp_path):
    log_dir = tmp_path / "logs"
    _fit(str(log_dir), histogram_freq=1)
    assert os.listdir(tmp_path) == ["logs"]
