"""``Trainer``: compile / fit / evaluate / predict, mixed into ``nerve.Model``.

``Trainer`` relies only on the Layer API of the class it is mixed into: calling
``self(x, training=...)``, ``trainable_variables``, ``non_trainable_variables``,
``losses`` and ``name``. It follows Keras 3's ``Trainer``:

* ``compile(optimizer, loss, loss_weights, metrics, weighted_metrics, run_eagerly, ...)``
  resolves names through ``nerve.optimizers.get``, ``nerve.losses.get`` and
  ``nerve.metrics.get_metric``;
* ``fit``/``evaluate``/``predict`` drive ``train_step``/``test_step``/``predict_step``
  (overridable, as in Keras's "Customizing what happens in fit") with callbacks;
* each step runs as a compiled graph (``nerve.function``) unless ``run_eagerly=True``.

Compiled steps and the last batch: each step is a ``nerve.function`` whose
input_signature makes the batch axis symbolic (``_BatchPolymorphicFunction``), so a
short last batch reuses the traced graph — built-in or custom ``train_step`` alike —
with the real rows only. (If a step's graph is not affine in the batch size, the last
batch traces once more, still correct.) The padding machinery (a padded batch plus a
mask that ``compute_loss``/``compute_metrics`` honour, see
``nerve.training.data_adapters``) remains for eager ``predict`` and for callers of the
adapters that want fixed shapes.

Compilation time (tracing + optimizing + the first run of each compiled step) is
measured apart from step time: ``model.compile_time`` (``{"train", "test",
"predict"}`` seconds), ``history.params["compile_time"]``, and, after each step,
``model._last_compile_time`` (the seconds that step spent compiling, None when it did
not compile), which the progress bar (``ProgbarLogger``) shows. Batch logs carry only
what Keras's do: a ``compile_time`` key there would surprise callbacks written for Keras.

>>> import numpy as np
>>> import nerve
>>> from nerve import layers
>>> from nerve.utils import set_random_seed
>>> class TinyModel(Trainer, layers.Layer):
...     def __init__(self):
...         super().__init__()
...         self.dense = layers.Dense(1)
...     def call(self, x):
...         return self.dense(x)
>>> set_random_seed(0)
>>> model = TinyModel()
>>> model.compile(optimizer="sgd", loss="mse")
>>> x = np.random.rand(64, 3).astype("float32"); y = x.sum(axis=1, keepdims=True)
>>> history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
>>> history.history["loss"][-1] < history.history["loss"][0]
True
>>> model.predict(x[:5], verbose=0).shape
(5, 1)
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import TYPE_CHECKING, Any

from nerve import metrics as metrics_module
from nerve import ops
from nerve import optimizers as optimizers_module
from nerve.autodiff import GradientTape
from nerve.core import config, dtypes, tree
from nerve.core.errors import check_int
from nerve.core.symbolic import as_dim
from nerve.graph import TensorSpec
from nerve.graph import function as nerve_function
from nerve.graph.trace import active_trace
from nerve.losses import check_class_labels
from nerve.metrics.base import Metric
from nerve.tensor import Tensor, Variable
from nerve.training import compile_utils, data_adapters, distributed
from nerve.training.compile_utils import CompileLoss, CompileMetrics
from nerve.training.data_adapters import (
    pack_x_y_sample_weight,
    unpack_x_y_sample_weight,
)

__all__ = ["Trainer"]


def _callbacks_module():
    """``nerve.callbacks`` when it is importable, else the minimal fallback below."""
    try:
        from nerve import callbacks

        callbacks.CallbackList  # noqa: B018  (exists once the callbacks package lands)
        callbacks.History  # noqa: B018
        return callbacks
    except (ImportError, AttributeError):
        return _fallback_callbacks


class _FallbackHistory:
    """Records epoch logs (used only until ``nerve.callbacks`` exists)."""

    def __init__(self) -> None:
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.params: dict = {}
        self.model = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def __getattr__(self, name):
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class _FallbackCallbackList:
    """Calls each callback's hooks in order (the Keras 3 protocol, no progress bar)."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        self.callbacks = list(callbacks or [])
        if add_history and not any(isinstance(c, _FallbackHistory) for c in self.callbacks):
            self.callbacks.append(_FallbackHistory())
        self.params = params
        for callback in self.callbacks:
            if hasattr(callback, "set_model"):
                callback.set_model(model)
            if hasattr(callback, "set_params"):
                callback.set_params(params)

    def __getattr__(self, name):
        if not name.startswith("on_"):
            raise AttributeError(name)

        def hook(*args, **kwargs):
            for callback in self.callbacks:
                method = getattr(callback, name, None)
                if method is not None:
                    method(*args, **kwargs)

        return hook


class _FallbackModule:
    CallbackList = _FallbackCallbackList
    History = _FallbackHistory


_fallback_callbacks = _FallbackModule()


def _to_python(logs: dict) -> dict:
    """Scalar tensors -> Python floats, nested dicts (a container's results) flattened,
    for callbacks and history (Keras's ``pythonify_logs``)."""
    out = {}
    for key, value in logs.items():
        if isinstance(value, dict):
            out.update(_to_python(value))
            continue
        if isinstance(value, Tensor) and value.ndim == 0:
            value = float(value)
        out[key] = value
    return out


def _to_tensors(structure: Any) -> Any:
    return tree.map_structure(lambda a: None if a is None else ops.convert_to_tensor(a), structure)


def _first_dim(structure: Any) -> Any:
    """The batch size: an int, or the symbolic size ``n`` while a step is traced with a
    symbolic batch axis (so the loss tracker's count specializes with the batch)."""
    for leaf in tree.flatten(structure)[0]:
        if leaf is not None and getattr(leaf, "ndim", 0) > 0:
            return as_dim(leaf.shape[0])
    return 1


def _overrides(instance: Any, *names: str) -> bool:
    return any(getattr(type(instance), name) is not getattr(Trainer, name) for name in names)


class Trainer:
    """The training API of ``nerve.Model``; see the module docstring."""

    # Defaults as class attributes: Model's __init__ need not call Trainer.__init__.
    compiled = False
    optimizer = None
    loss = None
    run_eagerly = False
    jit_compile = "auto"
    steps_per_execution = 1
    auto_scale_loss = True
    stop_training = False
    train_function = None
    test_function = None
    predict_function = None
    data_adapter = None
    _data_parallel_functions: _DataParallelFunctions | None = None
    _compile_loss = None
    _compile_metrics = None
    _loss_tracker = None
    _padding_mask = None
    _initial_epoch = None
    # Set by fit (and _call) before they are read.
    data_adapter_state: dict | None
    # Seconds the last step spent compiling (None: it did not); ProgbarLogger reads it.
    _last_compile_time: float | None = None

    if TYPE_CHECKING:
        # A Trainer is always mixed into a Layer (Model = Trainer + Layer), which
        # provides these. Declared for the type checker only, so Layer's stay in force.
        @property
        def losses(self) -> list[Tensor]: ...

        @property
        def trainable_variables(self) -> list[Variable]: ...

        @property
        def weights(self) -> list[Variable]: ...

        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    # -- resumption (the BackupAndRestore protocol) -------------------------------------
    def _data_position(self) -> dict | None:
        """Where the training data stands (epoch, step, shuffle seed), for backups."""
        adapter = getattr(self, "data_adapter", None)
        return None if adapter is None else adapter.state()

    def _restore_data_position(self, state: dict) -> None:
        self.data_adapter_state = dict(state)

    @staticmethod
    def _resume_position(callback_list: Any) -> tuple[int | None, int]:
        for callback in getattr(callback_list, "callbacks", []):
            epoch = getattr(callback, "_resume_epoch", None)
            if epoch is not None:
                step = getattr(callback, "_resume_step", None)
                return int(epoch), int(step or 0)
        return None, 0

    # -- compile ------------------------------------------------------------------------
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: bool = True,
    ) -> None:
        """Configure training: optimizer, loss(es) with weights, and metrics.

        ``loss``/``metrics`` may be one entry, a list (one per output) or a dict keyed
        by output name. ``jit_compile`` is accepted for compatibility (steps are always
        graph-compiled unless ``run_eagerly``); ``steps_per_execution`` is recorded but
        each step runs as its own graph call.
        """
        self.optimizer = optimizers_module.get(optimizer)
        policy = getattr(getattr(self, "dtype_policy", None), "name", None)
        if (
            policy == "mixed_float16"
            and self.optimizer is not None
            and not isinstance(self.optimizer, optimizers_module.LossScaleOptimizer)
        ):
            # As Keras: float16 gradients need dynamic loss scaling, or they overflow.
            self.optimizer = optimizers_module.LossScaleOptimizer(self.optimizer)
        self.loss = loss
        output_names = getattr(self, "output_names", None)
        self._compile_loss = (
            CompileLoss(loss, loss_weights, output_names) if loss is not None else None
        )
        if metrics is not None or weighted_metrics is not None:
            self._compile_metrics = CompileMetrics(metrics, weighted_metrics, loss, output_names)
        else:
            self._compile_metrics = None
        self._loss_tracker = metrics_module.Mean(name="loss")
        self.run_eagerly = bool(run_eagerly)
        self.steps_per_execution = check_int(steps_per_execution, "steps_per_execution", "compile")
        self.jit_compile = jit_compile
        self.auto_scale_loss = auto_scale_loss
        self.compiled = True
        self.compile_time = _zero_times()
        self._compile_config = {
            "optimizer": optimizer,
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
            "run_eagerly": run_eagerly,
            "steps_per_execution": steps_per_execution,
            "jit_compile": jit_compile,
            "auto_scale_loss": auto_scale_loss,
        }
        self.train_function = self.test_function = self.predict_function = None
        self._data_parallel_functions = None
        # A model compiled inside a distribution's scope() trains under it (as with
        # tf.distribute), even when fit is called outside the block.
        self._compiled_replica_context = distributed.replica_context()

    def get_compile_config(self) -> dict | None:
        """The arguments of the last ``compile`` call (for saving)."""
        return getattr(self, "_compile_config", None)

    def compile_from_config(self, config: dict) -> None:
        self.compile(**config)

    def _assert_compiled(self, method: str) -> None:
        if not self.compiled:
            raise ValueError(
                f"You must call `compile()` before calling `{method}()` on model "
                f"{getattr(self, 'name', type(self).__name__)!r}."
            )

    @property
    def gradient_accumulation_steps(self) -> int | None:
        """From the optimizer (``Optimizer(gradient_accumulation_steps=...)``)."""
        return getattr(self.optimizer, "gradient_accumulation_steps", None)

    # -- metrics ------------------------------------------------------------------------
    @property
    def metrics(self) -> list[Metric | CompileMetrics]:
        """The loss tracker ("loss") first, then per-output losses, compiled metrics and
        metrics assigned as attributes of the model."""
        out: list[Metric | CompileMetrics] = []
        if self._loss_tracker is not None:
            out.append(self._loss_tracker)
        if self._compile_loss is not None:
            out.extend(self._compile_loss.metrics)
        if self._compile_metrics is not None:
            out.append(self._compile_metrics)  # one entry, result() a dict (as Keras 3)
        for value in vars(self).values():
            if isinstance(value, Metric) and not any(value is m for m in out):
                out.append(value)
        return out

    @property
    def metrics_names(self) -> list[str]:
        """Names as they appear in logs (the compiled metrics' own names once built)."""
        names: list[str] = []
        for metric in self.metrics:
            if isinstance(metric, CompileMetrics) and metric.built:
                names.extend(m.name for m in metric.metrics)
            else:
                names.append(metric.name)
        return names

    @property
    def metrics_variables(self) -> list:
        return [v for m in self.metrics for v in m.variables]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def _metrics_result_or_logs(self, logs: dict) -> dict:
        """The metrics' results when the last step's logs name exactly the model's
        metrics; else the logs themselves (as Keras does): a custom step that returns
        other keys (or leaves some metric out) is reported as it returned them."""
        results = _to_python(self.get_metrics_result())
        return results if set(results) == set(logs) else dict(logs)

    def get_metrics_result(self) -> dict:
        """``{name: result}`` of every metric (dict results are merged in)."""
        logs = {}
        for metric in self.metrics:
            result = metric.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[metric.name] = result
        return logs

    # -- the steps ----------------------------------------------------------------------
    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Tensor:
        """The compiled loss(es) plus the model's ``losses`` (regularization)."""
        total = None
        if self._compile_loss is not None and y is not None:
            total = self._compile_loss(y, y_pred, sample_weight, mask=self._padding_mask)
        extra = self.losses
        if extra:
            regularization = ops.sum(ops.stack([ops.cast(v, "float32") for v in extra]))
            total = regularization if total is None else total + regularization
        if total is None:
            return ops.convert_to_tensor(0.0)
        return total

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict:
        """Update the compiled metrics with this batch; return ``get_metrics_result()``."""
        if self._compile_metrics is not None and y is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight, mask=self._padding_mask)
        return self.get_metrics_result()

    def _update_loss_tracker(self, loss: Tensor, x: Any) -> None:
        if self._loss_tracker is None:
            return
        # Weighted by the (real) batch size, so the epoch value is the per-sample mean.
        count = ops.sum(self._padding_mask) if self._padding_mask is not None else _first_dim(x)
        self._loss_tracker.update_state(loss, sample_weight=count)

    def train_step(self, data: Any) -> dict:
        """One gradient step on ``data`` (``(x, y[, sample_weight])``); returns logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        trainable = self.trainable_variables
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
            scaled = loss
            if self.auto_scale_loss and self.optimizer is not None:
                scaled = self.optimizer.scale_loss(loss)
        self._update_loss_tracker(loss, x)
        trainable = self.trainable_variables  # the first call may have built the model
        if trainable:
            if self.optimizer is None:
                raise ValueError(
                    f"train_step: model {getattr(self, 'name', type(self).__name__)!r} was "
                    "compiled without an optimizer; pass compile(optimizer=...)."
                )
            grads = tape.gradient(scaled, trainable)
            self.optimizer.apply(grads, trainable)
        else:
            warnings.warn(
                "The model has no trainable weights; train_step skips the update.",
                stacklevel=2,
            )
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data: Any) -> dict:
        """Loss and metrics on ``data`` in inference mode; returns logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
        )
        self._update_loss_tracker(loss, x)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data: Any) -> Any:
        """The model's outputs for the ``x`` of ``data``, in inference mode."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    # -- step functions -----------------------------------------------------------------
    def _run_step(self, step: Any, data: Any, mask: Any) -> Any:
        # The padding mask reaches compute_loss/compute_metrics through the model, so the
        # train_step(data) signature stays Keras's.
        self._padding_mask = mask
        try:
            return step(data)
        finally:
            self._padding_mask = None

    def _make_function(self, kind: str) -> Any:
        step = getattr(self, f"{kind}_step")

        def run(data, mask):
            return self._run_step(step, data, mask)

        run.__name__ = f"{kind}_function"
        if self.run_eagerly:

            def eager(data, mask):
                return run(_to_tensors(data), None if mask is None else ops.convert_to_tensor(mask))

            return eager
        return _BatchPolymorphicFunction(run)

    def make_train_function(self, force: bool = False) -> Any:
        if self.train_function is None or force:
            self.train_function = self._make_function("train")
        return self.train_function

    def make_test_function(self, force: bool = False) -> Any:
        if self.test_function is None or force:
            self.test_function = self._make_function("test")
        return self.test_function

    def make_predict_function(self, force: bool = False) -> Any:
        if self.predict_function is None or force:
            self.predict_function = self._make_function("predict")
        return self.predict_function

    def _pads(self, kind: str) -> bool:
        """Whether to pad short batches. Compiled steps take the batch axis as a symbolic
        dimension (``_BatchPolymorphicFunction``), so a short last batch reuses the
        traced graph and needs no padding; only eager predict pads (harmlessly)."""
        return kind == "predict" and self.run_eagerly

    def _call(
        self, kind: str, function: Any, data: Any, mask: Any, check: str | None = None
    ) -> Any:
        """Run one step; time it apart when it traced (compiled) a new graph. With
        ``check`` (``"fit"``, ``"evaluate"``, ...: the method to name in errors), the
        batch is checked first (``_check_batch``)."""
        traces = getattr(function, "trace_count", None)
        start = time.perf_counter()
        if check is not None:
            self._check_batch(check, kind, function, data, mask)
        result = function(data, mask)
        if traces is not None and function.trace_count != traces:
            elapsed = time.perf_counter() - start
            times = self.__dict__.setdefault("compile_time", _zero_times())
            times[kind] = times.get(kind, 0.0) + elapsed
            self._last_compile_time = elapsed
        elif self._last_compile_time is not None:
            # Only when it changes: Layer.__setattr__ (layer tracking) costs ~1.5 us, a
            # measurable part of a batch-1 predict_on_batch.
            self._last_compile_time = None
        return result

    def _check_batch(self, method: str, kind: str, function: Any, data: Any, mask: Any) -> None:
        """Refuse a batch that would train or evaluate on nonsense, before the step runs:
        targets missing while a compiled loss needs them; NaN or infinity in the data
        (only in ``fit``, unless ``nerve.config.set_data_checks("off")``); integer class
        labels out of range for a sparse loss or metric. The step is traced first, so
        the compiled losses know their number of classes (from the model's outputs);
        an eager step checks its labels itself."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        if (
            y is None
            and self._compile_loss is not None
            and not _overrides(self, f"{kind}_step", "compute_loss")
        ):
            raise ValueError(
                f"{method}: the model was compiled with loss={self.loss!r}, which compares "
                "predictions with targets, but the data has no targets (y is None). Pass "
                "them (fit(x, y)), or a generator or Dataset that yields (x, y) pairs; a "
                "model whose losses all come from add_loss() is compiled without loss=."
            )
        if config.data_checks() == "off":
            return
        if method == "fit":
            data_adapters.check_finite(method, {"x": x, "y": y, "sample_weight": sample_weight})
        trace = getattr(function, "trace", None)
        if trace is not None:
            trace(data, mask)
        targets = compile_utils.flat_outputs(y) if y is not None else []
        for container in (self._compile_loss, self._compile_metrics):
            for index, name, classes, ignore_class in getattr(container, "label_checks", ()):
                if index < len(targets) and targets[index] is not None:
                    check_class_labels(
                        f"{method} ({name})", targets[index], classes, ignore_class, source="y"
                    )

    def _prepare_training(self) -> None:
        """Build the optimizer eagerly when the model's weights already exist (otherwise
        ``init_scope`` lets the first traced step create them)."""
        trainable = self.trainable_variables
        if self.optimizer is not None and trainable and not self.optimizer.built:
            self.optimizer.build(trainable)

    # -- data parallelism (nerve.training.distributed) -------------------------------------
    def _data_parallel_run(self, method: str) -> distributed.DataParallelRun | None:
        """The data-parallel run of this call, or None in a single process."""
        context = distributed.replica_context() or self.__dict__.get("_compiled_replica_context")
        if context is None:
            return None
        run = distributed.DataParallelRun(self, context)
        if method == "fit":
            run.check_built(method)
        return run

    def _fit_epoch_data_parallel(
        self, run: distributed.DataParallelRun, batches: Any, callback_list: Any, step: int
    ) -> dict | None:
        """One epoch in lockstep with the other replicas: each step starts by summing the
        rows every replica has, so all stop together when none has any left (shards may
        differ in length by a batch) or when rank 0's callbacks set ``stop_training``."""
        functions = self._make_data_parallel_functions(run.context)
        iterator = iter(batches)
        logs = None
        while True:
            data, mask = next(iterator, (None, None))
            if data is not None and distributed.num_rows(data) == 0:
                data = None  # this replica's part of a short last batch is empty
            global_rows, stop = run.begin_step(data, self.stop_training)
            if stop:
                self.stop_training = True
                break
            if global_rows == 0:
                break
            callback_list.on_train_batch_begin(step)
            local = self._data_parallel_step(run, functions, data, mask, global_rows)
            logs = {**local, **_to_python(run.global_logs())} if run.context.is_chief else {}
            callback_list.on_train_batch_end(step, logs)
            step += 1
        return logs

    def _data_parallel_step(
        self,
        run: distributed.DataParallelRun,
        functions: _DataParallelFunctions,
        data: Any,
        mask: Any,
        global_rows: int,
    ) -> dict:
        """Local gradients, mean gradients (summed inside the compiled step where the
        hook does that), summed metric states, one update. Every replica issues its
        collectives in this order, with or without rows."""
        local: dict = {}
        grads = None
        rows = 0
        if data is not None:
            rows = distributed.num_rows(data)
            run.begin_gradients(rows, global_rows)
            local_logs, grads = self._call("train", functions.gradients, data, mask)
            local = _to_python(local_logs)
        run.gradient_variables(functions.variables)
        mean = run.mean_gradients(grads, rows, global_rows, summed=functions.summed)
        run.sum_metrics()
        if mean:
            functions.apply(mean)
        return local

    def _make_data_parallel_functions(
        self, context: distributed.ReplicaContext
    ) -> _DataParallelFunctions:
        functions = self.__dict__.get("_data_parallel_functions")
        # A compiled step that sums inside holds its hook: another hook needs new steps.
        if functions is None or functions.context is not context:
            functions = self._data_parallel_functions = _DataParallelFunctions(self, context)
        return functions

    # -- callbacks ------------------------------------------------------------------------
    def _callback_list(
        self,
        callbacks: Any,
        verbose: Any,
        epochs: int,
        steps: int | None,
        history: bool,
        run: distributed.DataParallelRun | None = None,
    ) -> Any:
        module = _callbacks_module()
        if run is not None and not run.context.is_chief:
            # Callbacks, progress bars and files belong to rank 0; the others keep only
            # a History (fit returns the same global logs on every replica).
            callbacks, verbose = None, 0
        if isinstance(callbacks, module.CallbackList):
            return callbacks
        # "auto" stays "auto" (as Keras passes it in params): ProgbarLogger resolves it
        # to a redrawn bar on a terminal and one line per epoch in a pipe or a CI log.
        return module.CallbackList(
            callbacks,
            add_history=history,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=steps,
        )

    # -- fit ------------------------------------------------------------------------------
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Any = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: dict | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> Any:
        """Train for ``epochs`` epochs; returns the ``History``. See Keras's ``Model.fit``.

        ``verbose``: 0 is silent, 1 a progress bar, 2 one line per epoch; ``"auto"`` is 1
        on a terminal (or in Jupyter) and 2 when output goes to a pipe, a file or a CI
        log, so captured logs get a line per epoch rather than a bar frame per batch
        (Keras 3 resolves ``"auto"`` to 1 everywhere). The same holds for ``evaluate``
        and ``predict``.

        Data checks (``nerve.config.set_data_checks``; TensorFlow's kernels raise on
        such data, a compiled nerve step can't look at values): before the first step,
        ``fit`` checks the first batch on the host: targets present when a loss needs
        them, no NaN or infinity in ``x``, ``y`` or ``sample_weight`` (a ``DataError``
        naming the input, e.g. ``x['image']``), integer labels in range for sparse losses
        and metrics. ``"every_batch"`` checks every batch, ``"off"`` none; ``evaluate``
        and the validation data are checked for labels on every batch."""
        self._assert_compiled("fit")
        _check_counts(
            "fit",
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            validation_batch_size=validation_batch_size,
        )
        _check_counts("fit", minimum=0, epochs=epochs, initial_epoch=initial_epoch)
        _check_counts("fit", validation_freq=validation_freq)
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)):
            raise ValueError(
                f"fit: validation_split must be a number in [0, 1); received "
                f"{validation_split!r} (of type {type(validation_split).__name__})."
            )
        run = self._data_parallel_run("fit")
        with _reporting_failures(run):
            return self._fit(
                run, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                steps_per_epoch, validation_steps, validation_batch_size, validation_freq,
            )  # fmt: skip

    def _fit(
        self,
        run: distributed.DataParallelRun | None,
        x: Any,
        y: Any,
        batch_size: int | None,
        epochs: int,
        verbose: Any,
        callbacks: Any,
        validation_split: float,
        validation_data: Any,
        shuffle: bool,
        class_weight: dict | None,
        sample_weight: Any,
        initial_epoch: int,
        steps_per_epoch: int | None,
        validation_steps: int | None,
        validation_batch_size: int | None,
        validation_freq: int,
    ) -> Any:
        if validation_split and validation_data is None:
            if data_adapters.is_stream(x):
                raise ValueError(
                    "validation_split is only supported for array or tensor inputs; pass "
                    f"validation_data with a {type(x).__name__}."
                )
            (x, y, sample_weight), validation_data = data_adapters.train_validation_split(
                (x, y, sample_weight), validation_split
            )
        adapter = data_adapters.get_data_adapter(
            x,
            y,
            sample_weight,
            batch_size,
            steps_per_epoch,
            shuffle,
            class_weight,
            pad=self._pads("train"),
        )
        val_adapter = None
        if validation_data is not None:
            val_adapter = self._validation_adapter(
                validation_data, validation_batch_size or batch_size, validation_steps
            )
        if run is not None:
            adapter = run.shard(adapter)
            val_adapter = None if val_adapter is None else run.shard(val_adapter)
        self.data_adapter = adapter

        callback_list = self._callback_list(
            callbacks, verbose, epochs, adapter.num_batches, history=True, run=run
        )
        self.stop_training = False
        self._prepare_training()
        train_function = self.make_train_function() if run is None else None
        self._initial_epoch = None
        self.data_adapter_state = None
        callback_list.on_train_begin()
        # A callback (BackupAndRestore, see its module docstring) may say where to resume:
        # the epoch and step reached, and the data order (adapter state) of that epoch.
        resume_epoch, resume_step = self._resume_position(callback_list)
        if run is not None:
            # Rank 0's weights (restored or not) and position, on every replica.
            state = self.data_adapter_state or adapter.state()
            first = int(self._initial_epoch) if self._initial_epoch else initial_epoch
            resume_epoch, resume_step, seed, first = run.start(
                (resume_epoch, resume_step), int(state["seed"]), first
            )
            self.data_adapter_state = {**state, "seed": seed}
            adapter.seed = seed
            self._initial_epoch = first if first else None
        if resume_epoch is not None:
            initial_epoch = resume_epoch
            state = self.data_adapter_state or adapter.state()
            adapter.restore({**state, "epoch": resume_epoch, "step": resume_step})
        elif self._initial_epoch:
            initial_epoch = int(self._initial_epoch)

        epoch_logs: dict = {}
        training_logs = None
        checking, every_batch = True, config.data_checks() == "every_batch"
        # Input pipelines may hold worker threads: stop them however training ends.
        try:
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                callback_list.on_epoch_begin(epoch)
                if run is not None:
                    run.begin_epoch()
                logs: dict | None = None
                step = resume_step if epoch == initial_epoch and resume_epoch is not None else 0
                # Resumed after the epoch's last step: only its end (validation) remains.
                finished = adapter.num_batches is not None and step >= adapter.num_batches
                if finished:
                    logs = {}
                with contextlib.closing(adapter.epoch_batches(epoch)) as batches:
                    if run is not None:
                        ran = self._fit_epoch_data_parallel(run, batches, callback_list, step)
                        logs = logs if ran is None else ran
                    else:
                        for data, mask in batches:
                            callback_list.on_train_batch_begin(step)
                            check = "fit" if checking else None
                            checking = every_batch
                            logs = _to_python(
                                self._call("train", train_function, data, mask, check=check)
                            )
                            callback_list.on_train_batch_end(step, logs)
                            step += 1
                            if self.stop_training:
                                break
                if logs is None:
                    warnings.warn(
                        f"fit: the input ran out of data at epoch {epoch} (a generator, or "
                        "a Dataset read steps_per_epoch batches at a time, cannot give "
                        "steps_per_epoch * epochs batches); stopping training. Call "
                        ".repeat() on the Dataset, or pass a PyDataset or arrays.",
                        stacklevel=2,
                    )
                    break
                if run is None:
                    epoch_logs = self._metrics_result_or_logs(logs)
                else:
                    epoch_logs = _to_python(run.global_logs())
                if val_adapter is not None and (epoch + 1) % validation_freq == 0:
                    val_logs = self._evaluate_adapter(
                        val_adapter, callback_list, run, "fit (validation data)"
                    )
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                callback_list.on_epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs
                if run is not None:  # EarlyStopping & co. decide on rank 0
                    self.stop_training = run.broadcast_flag(self.stop_training)
                if self.stop_training:
                    break
        finally:
            adapter.close()
            if val_adapter is not None:
                val_adapter.close()
        if self.optimizer is not None and getattr(self.optimizer, "use_ema", False):
            self.optimizer.finalize_variable_values(self.trainable_variables)
        callback_list.on_train_end(logs=training_logs)
        if run is not None:  # e.g. EarlyStopping(restore_best_weights=True) ran on rank 0
            run.broadcast_variables(self.weights)
        history = self._find_history(callback_list)
        if history is not None:
            history.params = dict(getattr(history, "params", None) or {})
            history.params["compile_time"] = dict(self.__dict__.get("compile_time", {}))
        return history

    def _find_history(self, callback_list: Any) -> Any:
        module = _callbacks_module()
        for callback in getattr(callback_list, "callbacks", []):
            if isinstance(callback, module.History):
                self.history = callback
                return callback
        return getattr(self, "history", None)

    def _validation_adapter(self, validation_data: Any, batch_size: Any, steps: Any) -> Any:
        if data_adapters.is_stream(validation_data):
            return data_adapters.get_data_adapter(
                validation_data, steps=steps, pad=self._pads("test")
            )
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be (x_val, y_val), (x_val, y_val, val_sample_weight), "
                f"a generator, a PyDataset or a Dataset; received "
                f"{type(validation_data).__name__}."
            )
        x, y, sample_weight = unpack_x_y_sample_weight(tuple(validation_data))
        return data_adapters.get_data_adapter(
            x, y, sample_weight, batch_size, steps, shuffle=False, pad=self._pads("test")
        )

    # -- evaluate -------------------------------------------------------------------------
    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics on the data: a scalar, a list (``metrics_names`` order) or,
        with ``return_dict``, a dict."""
        self._assert_compiled("evaluate")
        _check_counts("evaluate", batch_size=batch_size, steps=steps)
        run = self._data_parallel_run("evaluate")
        with _reporting_failures(run):
            adapter = data_adapters.get_data_adapter(
                x, y, sample_weight, batch_size, steps, shuffle=False, pad=self._pads("test")
            )
            if run is not None:
                adapter = run.shard(adapter)
            callback_list = self._callback_list(
                callbacks, verbose, 1, adapter.num_batches, history=False, run=run
            )
            try:
                logs = self._evaluate_adapter(adapter, callback_list, run)
            finally:
                adapter.close()
        return logs if return_dict else _flatten_logs(logs)

    def _evaluate_adapter(
        self,
        adapter: Any,
        callback_list: Any,
        run: distributed.DataParallelRun | None = None,
        method: str = "evaluate",
    ) -> dict:
        test_function = self.make_test_function()
        self.reset_metrics()
        if run is not None:
            run.mark_metrics()
        callback_list.on_test_begin()
        logs: dict = {}
        steps = 0
        with contextlib.closing(adapter.epoch_batches(0)) as batches:
            for step, (data, mask) in enumerate(batches):
                if run is not None and distributed.num_rows(data) == 0:
                    continue  # this replica's part of a short last batch is empty
                callback_list.on_test_batch_begin(step)
                logs = _to_python(self._call("test", test_function, data, mask, check=method))
                callback_list.on_test_batch_end(step, logs)
                steps += 1
        if not steps and run is None:
            raise data_adapters.empty_data_error(method)
        if run is not None:  # every replica's metric states, summed
            state = run.sum_metrics()
            logs = _to_python(run.global_logs()) if len(state) else logs
        else:
            logs = self._metrics_result_or_logs(logs) if logs else logs
        callback_list.on_test_end(logs)
        return logs

    # -- predict --------------------------------------------------------------------------
    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Any = None,
    ) -> Any:
        """The model's outputs on ``x`` as NumPy arrays (batches concatenated; padded
        rows of a short last batch dropped)."""
        _check_counts("predict", batch_size=batch_size, steps=steps)
        run = self._data_parallel_run("predict")
        if run is None and callbacks is None and verbose == 0 and steps is None:
            if _one_quiet_batch(x, batch_size or 32):
                # One batch, nothing to report to: what the loop below would do, without
                # its adapter and callback machinery (a batch-1 predict's overhead).
                return self.predict_on_batch(x)
        with _reporting_failures(run):
            return self._predict(run, x, batch_size, verbose, steps, callbacks)

    def _predict(
        self,
        run: distributed.DataParallelRun | None,
        x: Any,
        batch_size: int | None,
        verbose: Any,
        steps: int | None,
        callbacks: Any,
    ) -> Any:
        # Compiled steps take any batch size, so only an eager or data-parallel predict
        # pads short batches (ranks' shards stay aligned); a batch of one row stays one.
        adapter = data_adapters.get_data_adapter(
            x,
            batch_size=batch_size,
            steps=steps,
            shuffle=False,
            pad=self._pads("predict") or run is not None,
        )
        if run is not None:
            adapter = run.shard(adapter)
        predict_function = self.make_predict_function()
        callback_list = self._callback_list(
            callbacks, verbose, 1, adapter.num_batches, history=False, run=run
        )
        callback_list.on_predict_begin()
        batches = []
        counts = []  # rows per step (0 where this replica's part is empty)
        try:
            with contextlib.closing(adapter.epoch_batches(0)) as steps_data:
                for step, (data, mask) in enumerate(steps_data):
                    real = None if mask is None else int(mask.sum())
                    rows = distributed.num_rows(data) if real is None else real
                    counts.append(rows)
                    if run is not None and rows == 0:
                        continue
                    callback_list.on_predict_batch_begin(step)
                    outputs = self._call("predict", predict_function, data, mask)
                    outputs = _first_rows(outputs, real)
                    batches.append(outputs)
                    callback_list.on_predict_batch_end(step, {"outputs": outputs})
        finally:
            adapter.close()
        callback_list.on_predict_end()
        if run is not None:
            return run.gather_predictions(batches, counts)
        if not batches:
            raise ValueError("predict: the input data is empty.")
        return _concatenate(batches)

    # -- single batches -------------------------------------------------------------------
    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: dict | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One gradient step on one batch; returns the (running) metrics."""
        self._assert_compiled("train_on_batch")
        if class_weight is not None:
            weights = data_adapters.class_weight_to_sample_weight(
                data_adapters._to_numpy(y), class_weight
            )
            sample_weight = weights if sample_weight is None else weights * sample_weight
        self._prepare_training()
        data = _host_batch(x, y, sample_weight)
        logs = _to_python(self._call("train", self.make_train_function(), data, None))
        return logs if return_dict else _flatten_logs(logs)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """Loss and metrics on one batch (metrics accumulate until ``reset_metrics``)."""
        self._assert_compiled("test_on_batch")
        data = _host_batch(x, y, sample_weight)
        logs = _to_python(self._call("test", self.make_test_function(), data, None))
        return logs if return_dict else _flatten_logs(logs)

    def predict_on_batch(self, x: Any) -> Any:
        """The model's outputs on one batch, as NumPy arrays."""
        # One array in, one tensor out (the common serving call) skips the tree walks.
        data = (data_adapters._to_numpy(x),) if _single_array(x) else _host_batch(x)
        outputs = self._call("predict", self.make_predict_function(), data, None)
        if isinstance(outputs, Tensor):
            return outputs.numpy()
        return tree.map_structure(_numpy, outputs)


@contextlib.contextmanager
def _reporting_failures(run: distributed.DataParallelRun | None) -> Any:
    """Tell the other replicas when this one fails, so they stop instead of waiting in
    their next collective; failures reported by others are not reported again."""
    if run is None:
        yield
        return
    try:
        yield
    except distributed.ReplicaError:
        raise
    except BaseException as error:
        run.context.report_failure(error)
        raise


class _DataParallelFunctions:
    """The two halves of a data-parallel training step: ``train_step`` with
    ``Optimizer.apply`` collecting the gradients instead of applying them (compiled like
    ``train_function``; it returns the logs and the gradients, summed over the replicas
    inside the step when the hook's ``sum_gradients_in_step`` does that: ``summed``),
    and the optimizer's update from the replicas' mean gradients (a second compiled
    function)."""

    def __init__(self, trainer: Trainer, context: distributed.ReplicaContext):
        self.trainer = trainer
        self.context = context
        # The variables the step's apply() was given, recorded when it is traced.
        self.variables: list | None = None
        # Whether the traced step sums its gradients (recorded when it is traced).
        self.summed = False
        step = trainer.train_step

        def run(data: Any, mask: Any) -> tuple:
            optimizer = trainer.optimizer
            if optimizer is None:
                return trainer._run_step(step, data, mask), []
            with optimizer.collect_gradients() as collected:
                logs = trainer._run_step(step, data, mask)
            grads, self.variables = _collected_gradients(optimizer, collected)
            if not trainer.run_eagerly:
                summed = context.sum_gradients_in_step(grads)
                self.summed = summed is not None
                if summed is not None:
                    grads = summed
            return logs, grads

        run.__name__ = "train_gradients_function"
        self.gradients: Any
        self._apply: Any
        if trainer.run_eagerly:
            self.gradients = lambda data, mask: run(
                _to_tensors(data), None if mask is None else ops.convert_to_tensor(mask)
            )
            self._apply = self._apply_now
        else:
            self.gradients = _BatchPolymorphicFunction(run)
            self._apply = nerve_function(self._apply_now)

    @property
    def trace_count(self) -> int:
        return getattr(self.gradients, "trace_count", 0)

    def _apply_now(self, grads: list) -> None:
        assert self.trainer.optimizer is not None
        self.trainer.optimizer.apply(grads, self.variables)

    def apply(self, grads: list) -> None:
        self._apply(list(grads))


def _collected_gradients(optimizer: Any, collected: list) -> tuple[list, list]:
    """The gradients ``train_step`` gave ``Optimizer.apply`` and their variables
    (``None`` gradients dropped, as apply does)."""
    if not collected:
        return [], []
    if len(collected) > 1:
        raise NotImplementedError(
            f"Data-parallel fit: train_step called optimizer.apply {len(collected)} times; "
            "one call per step is supported (pass all gradients to one call)."
        )
    grads, variables = collected[0]
    variables = list(optimizer._trainable_variables if variables is None else variables)
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    return [g for g, _ in pairs], [v for _, v in pairs]


def _check_counts(method: str, minimum: int = 1, **counts: Any) -> None:
    """Integer arguments (``batch_size``, ``epochs``, ...): ``None`` or at least
    ``minimum``; anything else (``0``, ``-1``, ``2.5``, ``"32"``) is a ``ValueError``."""
    for name, value in counts.items():
        check_int(value, name, method, minimum=minimum, allow_none=name != "epochs")


def _zero_times() -> dict:
    return {"train": 0.0, "test": 0.0, "predict": 0.0}


def _host_batch(x: Any, y: Any = None, sample_weight: Any = None) -> tuple:
    convert = data_adapters._to_numpy
    return pack_x_y_sample_weight(
        tree.map_structure(convert, x),
        tree.map_structure(convert, y),
        tree.map_structure(convert, sample_weight),
    )


def _single_array(x: Any) -> bool:
    """Whether ``x`` is one NumPy array or tensor (not a structure of them)."""
    return isinstance(x, Tensor) or type(x).__module__ == "numpy"


def _one_quiet_batch(x: Any, batch_size: int) -> bool:
    """Whether ``x`` is a single array or tensor of 1 to ``batch_size`` rows (one batch)."""
    if not _single_array(x):
        return False
    shape: tuple = tuple(getattr(x, "shape", ()))
    return len(shape) > 0 and 0 < shape[0] <= batch_size


def _numpy(t: Any) -> Any:
    return t.numpy() if isinstance(t, Tensor) else t


def _first_rows(structure: Any, count: int | None) -> Any:
    """``structure``'s leaves as host arrays cut to ``count`` rows (all for ``None``)."""
    return tree.map_structure(lambda t: _numpy(t)[:count], structure)


def _concatenate(batches: list) -> Any:
    import numpy as np  # host-side result assembly (predict returns NumPy, as Keras)

    first = batches[0]
    leaves = [tree.flatten(b)[0] for b in batches]
    _, rebuild = tree.flatten(first)
    return rebuild([np.concatenate(parts, axis=0) for parts in zip(*leaves)])


def _flatten_logs(logs: dict) -> Any:
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


class _BatchPolymorphicFunction:
    """A step compiled with the batch axis symbolic: on the first call with a given
    structure it builds a ``nerve.function`` whose input_signature has ``None`` as the
    first dimension of every tensor argument, so later batch sizes (the short last
    batch) reuse the trace instead of tracing again.

    One trace per structure of the arguments (which leaves are tensors, their dtypes
    and non-batch dimensions): ``predict`` passes a padding mask that
    ``predict_on_batch`` does not, and ``fit`` may pass sample weights that
    ``train_on_batch`` does not; each such call traces its own graph once, as Keras
    retraces for a new input structure."""

    def __init__(self, run: Any):
        self._run = run
        self._functions: dict[tuple, Any] = {}
        #: One array (alone or as ``(x,)``) and no mask, the serving call of ``model(x)``
        #: and ``predict_on_batch``: (structure, array type, shape, dtype) -> the compiled
        #: specialization its ``nerve.function`` runs for it, so that a repeated call
        #: skips both signature walks (this class's and the function's).
        self._compiled: dict[tuple, Any] = {}

    @property
    def trace_count(self) -> int:
        count = 0
        for function in self._functions.values():
            count += function.trace_count
        return count

    @property
    def functions(self) -> list:
        """The compiled functions, one per argument structure seen."""
        return list(self._functions.values())

    @property
    def structure_count(self) -> int:
        """``len(functions)``, without building the list."""
        return len(self._functions)

    def __call__(self, data: Any, mask: Any) -> Any:
        single = None
        if mask is None:
            single = data[0] if type(data) is tuple and len(data) == 1 else data
            if _is_array(single):
                key = (type(data), type(single), single.shape, single.dtype)
                concrete = self._compiled.get(key)
                if concrete is not None and active_trace() is None:
                    return concrete.call_with([single])
            else:
                single = None
        function = self._function_for(data, mask)
        result = function(data, mask)
        if single is not None:
            concrete = function.compiled_for(data, mask)
            if concrete is not None:
                self._compiled[key] = concrete
        return result

    def trace(self, data: Any, mask: Any) -> None:
        """Trace (compile) the step for arguments like these without running it."""
        self._function_for(data, mask).get_concrete_function(data, mask)

    def _function_for(self, data: Any, mask: Any) -> Any:
        # A tuple of the leaves' signatures: hashed every step, so no repr of the tree.
        if mask is None:
            # One array, alone or as ``(x,)``, without a mask (model(x), predict_on_batch):
            # the key the general path below makes for it, without walking the tree.
            single = data[0] if type(data) is tuple and len(data) == 1 else data
            if _is_array(single):
                function = self._functions.get((_leaf_signature(single), "NoneType"))
                if function is not None:
                    return function
        leaves = tree.flatten((data, mask))[0]
        key = tuple(_leaf_signature(x) for x in leaves)
        function = self._functions.get(key)
        if function is None:
            specs = [
                TensorSpec((None, *tuple(x.shape)[1:]) if len(x.shape) else (), _dtype_name(x))
                for x in leaves
                if _is_array(x)
            ]
            function = nerve_function(self._run, input_signature=specs)
            self._functions[key] = function
        return function


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _leaf_signature(x: Any) -> Any:
    """What of one argument leaf a trace depends on: an array's dtype and non-batch
    dimensions, or the type of anything else (None, a Python number)."""
    if _is_array(x):
        return (_dtype_name(x), tuple(x.shape)[1:] if len(x.shape) else None)
    return type(x).__name__


def _dtype_name(x: Any) -> str:
    return x.dtype if isinstance(x, Tensor) else dtypes.standardize_dtype(x.dtype)
