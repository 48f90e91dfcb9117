"""``DataParallel``, ``MultiWorkerMirroredStrategy`` and the ``keras.distribution``
functions in one process: the data-parallel path (collected gradients, bucketed sums,
metric states, sharding) must give exactly what plain training gives, and the API
must refuse what it cannot do by name. The multi-process runs are in
``test_training_mpi.py``."""

import numpy as np
import pytest

import nerve
from nerve import distribution
from nerve.distribution import data_parallel
from nerve.training import distributed
from tests.distribution import scenarios


@pytest.fixture(autouse=True)
def no_global_distribution():
    yield
    distribution.set_distribution(None)


def _inputs(kind):
    x, y = scenarios.data()
    if kind == "arrays":
        return {"x": x, "y": y, "batch_size": 16, "shuffle": True}
    if kind == "pydataset":
        return {"x": scenarios.batches_dataset(16)}
    return {"x": nerve.data.Dataset.from_tensor_slices((x, y)).batch(16)}


@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
@pytest.mark.parametrize("kind", ["arrays", "pydataset", "dataset"])
def test_one_replica_trains_exactly_like_no_distribution(kind, eager):
    x, y = scenarios.data()
    results = []
    for strategy in (None, distribution.DataParallel()):
        model = scenarios.model("sgd")
        model.compile(
            optimizer=nerve.optimizers.SGD(0.1, 0.9),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            run_eagerly=eager,
        )
        distribution.set_distribution(strategy)
        history = model.fit(epochs=2, verbose=0, **_inputs(kind))
        results.append(
            (
                model.get_weights(),
                history.history,
                model.evaluate(x, y, batch_size=10, verbose=0),
                model.predict(x, batch_size=10, verbose=0),
            )
        )
    (w0, h0, e0, p0), (w1, h1, e1, p1) = results
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert h0.keys() == h1.keys()
    for key in h0:
        np.testing.assert_allclose(h0[key], h1[key], rtol=1e-6)
    np.testing.assert_allclose(e0, e1, rtol=1e-6)
    np.testing.assert_allclose(p0, p1, atol=1e-7)


def test_a_model_compiled_in_a_strategy_scope_trains_under_it_outside():
    strategy = distribution.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 1
    with strategy.scope():
        assert distribution.distribution() is strategy.distribution
        model = scenarios.model()
    assert distribution.distribution() is None
    x, y = scenarios.data()
    model.fit(x, y, epochs=1, verbose=0)
    assert model._data_parallel_functions is not None  # the data-parallel step ran


class _MirrorReplica(distributed.ReplicaContext):
    """Rank 1 of 2 whose partner does exactly what it does; records failure reports."""

    rank, num_replicas = 1, 2

    def __init__(self):
        self.reported = []

    def sum(self, arrays, scale_in=1.0, scale_out=1.0, reuse=False):
        return [np.asarray(a) * (2 * scale_in * scale_out) for a in arrays]

    def gather(self, array):
        return [np.asarray(array)] * 2

    def report_failure(self, error):
        self.reported.append(error)


def test_callbacks_and_progress_run_on_rank_0_only(capsys):
    seen = []
    callback = nerve.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    x, y = scenarios.data()
    model = scenarios.model()
    with distributed.replica_scope(_MirrorReplica()):
        history = model.fit(x, y, epochs=2, verbose=2, callbacks=[callback])
    assert seen == [] and capsys.readouterr().out == ""
    assert len(history.history["loss"]) == 2  # fit still returns the (global) logs


@pytest.mark.parametrize("error", [ValueError("bad"), distributed.ReplicaFailedError("other")])
def test_a_failure_is_reported_to_the_other_replicas_once(error):
    def explode(*args, **kwargs):
        raise error

    replica = _MirrorReplica()
    model = scenarios.model()
    model.train_step = explode
    x, y = scenarios.data()
    with distributed.replica_scope(replica), pytest.raises(type(error)):
        model.fit(x, y, epochs=1, verbose=0)
    assert replica.reported == ([] if isinstance(error, distributed.ReplicaError) else [error])


def test_an_unbuilt_model_is_refused_by_name():
    model = nerve.Sequential([nerve.layers.Dense(2)], name="lazy")
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 3), "float32")
    parallel = distribution.DataParallel()
    with distributed.replica_scope(parallel), pytest.raises(ValueError, match=r"built.*'lazy'"):
        model.fit(x, x[:, :2], verbose=0)


def test_gradients_travel_in_buckets_of_one_dtype_in_order():
    sizes = [(10, "float32"), (300, "float32"), (5, "float16"), (5, "float32"), (2, "float64")]
    arrays = [np.zeros(n, dtype) for n, dtype in sizes]
    # 1 KiB buckets: a bucket closes once it holds >= 1024 bytes or the wire dtype changes
    # (float16 travels as float32, so it joins its neighbours).
    assert data_parallel._buckets(arrays, 1024) == [[0, 1], [2, 3], [4]]


def test_the_overlapped_layout_starts_with_a_small_bucket():
    # The 784-512-256-10 MLP's gradients (kernel, bias per layer), 25 MB buckets: the
    # last layers' 0.5 MB leave in a first bucket before the first kernel's 1.6 MB.
    sizes = [784 * 512, 512, 512 * 256, 256, 256 * 10, 10]
    channel = distribution.DataParallel()._channel
    layout = channel.layout([(n, "float32") for n in sizes])
    assert layout == [[5, 4, 3, 2, 1], [0]]
    assert distribution.DataParallel(bucket_size_mb=1.0)._channel.layout(
        [(n, "float32") for n in sizes]
    ) == [[5, 4, 3, 2, 1, 0]]  # no larger than the first bucket: plain buckets


def test_a_bucketed_sum_scales_and_keeps_dtypes_and_shapes():
    context = distribution.DataParallel(bucket_size_mb=1e-4)
    arrays = [np.arange(6, dtype="float32").reshape(2, 3), np.ones(3, "float16"), np.ones(200)]
    result = context.sum(arrays, scale_in=4.0, scale_out=0.5)
    for got, given in zip(result, arrays):
        assert got.dtype == given.dtype and got.shape == given.shape
        np.testing.assert_allclose(got, given * 2.0)
    assert all(a is not r for a, r in zip(arrays, result))
    first = context.sum(arrays, reuse=True)
    again = context.sum(arrays, reuse=True)  # the same buffers, the same sums
    assert all(np.shares_memory(a, b) for a, b in zip(first, again) if a.dtype == "float32")
    for got, given in zip(again, arrays):
        np.testing.assert_array_equal(got, given)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"devices": ["cpu:0", "cpu:1"]}, "one device per process; got 2 devices"),
        ({"device_mesh": np.zeros((2, 2))}, "one axis of size 1"),
        ({"bucket_size_mb": 0}, "bucket_size_mb must be > 0"),
        ({"communicator": "mpi"}, "must be a nerve.distribution.Communicator"),
    ],
)
def test_data_parallel_refuses_layouts_it_cannot_run(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        distribution.DataParallel(**kwargs)


def test_the_keras_distribution_functions():
    assert distribution.initialize().size == 1
    assert distribution.list_devices() == ["cpu:0"]
    assert distribution.list_devices("gpu") == ["gpu:0"]
    with pytest.raises(ValueError, match="device_type must be"):
        distribution.list_devices("tpu")
    with pytest.raises(ValueError, match="job_addresses is not used"):
        distribution.initialize(job_addresses="host:1234")
    with pytest.raises((ValueError, RuntimeError), match=r"expected 3 processes|not installed"):
        distribution.initialize(num_processes=3)
    with pytest.raises(ValueError, match="expected process_id 2"):
        distribution.initialize(process_id=2)
    parallel = distribution.DataParallel()
    distribution.set_distribution(parallel)
    assert distribution.distribution() is parallel
    with pytest.raises(TypeError, match="Expected a ReplicaContext"):
        distribution.set_distribution("data_parallel")


def _trained(parallel, eager=False):
    model = scenarios.model("sgd")
    model.compile(
        optimizer=nerve.optimizers.SGD(0.1, 0.9),
        loss="sparse_categorical_crossentropy",
        run_eagerly=eager,
    )
    x, y = scenarios.data()
    with distributed.replica_scope(parallel):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    return model


@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
def test_overlapped_buckets_train_bit_identically_to_the_sum_after_the_step(eager):
    small = scenarios.BUCKET_MB
    overlapped = _trained(distribution.DataParallel(bucket_size_mb=small), eager)
    after = _trained(distribution.DataParallel(bucket_size_mb=small, overlap=False), eager)
    assert overlapped._data_parallel_functions.summed is not eager  # summed in the step
    assert not after._data_parallel_functions.summed
    for a, b in zip(overlapped.get_weights(), after.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_compiled_step_starts_the_first_bucket_before_the_last_backward_matmul():
    model = _trained(distribution.DataParallel(bucket_size_mb=scenarios.BUCKET_MB))
    step = model._data_parallel_functions.gradients.functions[0]
    concrete = next(iter(step._cache.values()))
    names = [node.prim.name for node in concrete.compiled.graph.nodes]
    starts = [k for k, name in enumerate(names) if name == "allreduce_start"]
    last_matmul = max(k for k, name in enumerate(names) if name == "matmul")
    assert starts[0] < last_matmul < starts[1]
    assert names[-2:] == ["allreduce_wait", "allreduce_wait"]  # waits last
    traced = [node.prim.name for node in concrete.unoptimized.nodes]
    assert traced.index("allreduce_start") > max(
        k for k, name in enumerate(traced) if name == "matmul"
    )  # the scheduling pass, not tracing, put the start there


def test_gradient_buckets_are_cut_in_reverse_order_and_summed_like_sum():
    parallel = distribution.DataParallel(bucket_size_mb=1024 / 2**20)
    arrays = [np.ones(300, "float32"), np.ones(5, "float16"), np.arange(10.0, dtype="float32")]
    specs = [(a.size, a.dtype) for a in arrays]
    # The last gradient first (the backward pass makes it first); a bucket closes at
    # >= 1 KiB; float16 travels as float32, so it shares the bucket of its neighbours.
    assert parallel._channel.layout(specs) == [[2, 1, 0]]
    assert data_parallel._GradientChannel(None, 48).layout(specs) == [[2, 1], [0]]
    summed = parallel.sum_gradients(arrays, 0.5)
    for got, given in zip(summed, arrays):
        assert got.dtype == given.dtype and got.shape == given.shape
        np.testing.assert_array_equal(got, given * 0.5)
