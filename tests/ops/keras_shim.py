"""A pytest plugin that runs Keras 3's own ops tests against ``nerve.ops``.

Loaded with ``-p tests.ops.keras_shim`` by ``tests/ops/keras_suite.py`` in a
subprocess whose environment has ``KERAS_BACKEND=numpy``. Keras with its NumPy
backend stays the harness (``assertAllClose``, ``KerasTensor``, the reference
values); only the functions under test are redirected:

* in each test module, the names bound to Keras's ops modules (``knp``, ``knn``,
  ``kmath``, ``kimage``, ``core``, ``linalg``, ``ops``, ``keras``) are replaced by
  proxies. A public function of ``keras.src.ops.{numpy,nn,math,core,linalg,image}``
  becomes a call of nerve's function of the same name (``nerve.ops.<family>`` first,
  then ``nerve.ops``), with nerve's results handed back as NumPy arrays; a function
  nerve does not have raises ``NotImplementedError`` naming it.
* an operation class (``knp.Add()``) becomes a subclass whose ``call`` sees a
  ``backend`` whose ``numpy``/``nn``/``math``/``core``/``linalg``/``image``
  functions are nerve's, so ``knp.Add()(x, y)`` runs nerve's ``add``.
* ``is_tensor`` counts NumPy arrays as tensors, since nerve's results reach the
  tests as NumPy arrays (the NumPy backend's tensors).
* symbolic inputs (``KerasTensor``) and ``symbolic_call`` stay on Keras: shape
  inference is Keras's business, not the subject of these tests.

The plugin also keeps only the value and dtype classes (the symbolic-shape and
sparse classes test Keras's own shape inference), skips what Keras's own
``conftest.py`` skips on the NumPy backend, stands in a ``tensorflow`` module whose
use skips the test (the extras do not install TensorFlow), and, when
``NERVE_KERAS_SUITE_REPORT`` names a file, writes every test's outcome to it as
JSON lines.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
import json
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FAMILIES = ("numpy", "nn", "math", "core", "linalg", "image")
# Keras's test files import these helper modules (NumPy reference convolutions and
# pools) from other test files, which its wheel does not hold.
HELPER_MODULES = (
    "keras.src.layers.convolutional.conv_test",
    "keras.src.layers.convolutional.conv_transpose_test",
    "keras.src.layers.convolutional.depthwise_conv_test",
    "keras.src.layers.pooling.average_pooling_test",
    "keras.src.layers.pooling.max_pooling_test",
)
SKIPPED_CLASS_SUFFIXES = ("DynamicShapeTest", "StaticShapeTest")
SKIPPED_CLASSES = ("SparseTest",)
NO_TENSORFLOW = "Keras's reference for this test is TensorFlow, which is not installed"

# How many redirected calls are running: results are converted to NumPy only
# when the outermost one returns, so a function that nerve calls back (a scan
# body, a cond branch) keeps working on nerve's tensors.
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("keras_shim_depth", default=0)
_symbolic: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "keras_shim_symbolic", default=False
)


def kind_of(nodeid: str) -> str:
    """``"dtype"`` for a test of Keras's dtype classes, ``"value"`` for the others.

    >>> kind_of("numpy_test.py::NumpyDtypeTest::test_add_float16")
    'dtype'
    """
    parts = nodeid.split("::")
    return "dtype" if len(parts) > 1 and "Dtype" in parts[1] else "value"


class _TensorflowStandIn(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        pytest.skip(NO_TENSORFLOW)


def _is_tensor(x: Any) -> bool:
    """nerve's ``is_tensor`` as the tests see it: the shim hands nerve's tensors back as
    NumPy arrays (on Keras's NumPy backend, its tensors), so an array counts as one."""
    import numpy as np

    import nerve.ops

    return nerve.ops.is_tensor(x) or isinstance(x, np.ndarray)


# Functions whose answer depends on how the shim represents nerve's tensors.
_REPRESENTATION = {"is_tensor": _is_tensor}


def _nerve_function(family: str, name: str) -> Callable[..., Any] | None:
    import nerve.ops

    if name in _REPRESENTATION and callable(getattr(nerve.ops, name, None)):
        return _REPRESENTATION[name]

    namespaces: list[Any] = []
    sub = getattr(nerve.ops, family, None)
    if isinstance(sub, types.ModuleType):
        namespaces.append(sub)
    namespaces.append(nerve.ops)
    for namespace in namespaces:
        exported = getattr(namespace, "__all__", None)
        if exported is not None and name not in exported:
            continue
        found = getattr(namespace, name, None)
        if callable(found) and not isinstance(found, type | types.ModuleType):
            return found
    return None


def _to_nerve_inputs(value: Any) -> Any:
    from keras.src.backend.common.variables import Variable

    if isinstance(value, Variable):
        return value.numpy()
    if isinstance(value, list | tuple) and not hasattr(value, "_fields"):
        return type(value)(_to_nerve_inputs(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_nerve_inputs(v) for k, v in value.items()}
    return value


def _to_numpy(value: Any) -> Any:
    import numpy as np

    import nerve

    if isinstance(value, nerve.Tensor):
        return np.asarray(nerve.ops.convert_to_numpy(value))
    if isinstance(value, list | tuple) and not hasattr(value, "_fields"):
        return type(value)(_to_numpy(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    return value


def _missing(family: str, name: str) -> Callable[..., Any]:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"nerve.ops has no {name} (keras.ops.{family}.{name})")

    return missing


def _sync_config() -> None:
    """Hand Keras's global image data format to nerve: Keras's image tests switch it
    with ``backend.set_image_data_format`` and expect the ops to follow."""
    from keras.src import backend

    import nerve.core.config

    wanted = backend.image_data_format()
    if nerve.core.config.image_data_format() != wanted:
        nerve.core.config.set_image_data_format(wanted)


def _redirect(
    family: str, name: str, keras_function: Callable[..., Any] | None
) -> Callable[..., Any]:
    nerve_function = _nerve_function(family, name) or _missing(family, name)

    @functools.wraps(nerve_function)
    def redirected(*args: Any, **kwargs: Any) -> Any:
        if keras_function is not None and _symbolic.get():
            return keras_function(*args, **kwargs)
        if keras_function is not None and _depth.get() == 0:
            from keras.src.backend import any_symbolic_tensors

            if any_symbolic_tensors(args, kwargs):
                return keras_function(*args, **kwargs)
        if _depth.get() == 0:
            _sync_config()
        token = _depth.set(_depth.get() + 1)
        try:
            result = nerve_function(*_to_nerve_inputs(args), **_to_nerve_inputs(kwargs))
        finally:
            _depth.reset(token)
        return _to_numpy(result) if _depth.get() == 0 else result

    return redirected


class _BackendFamily:
    """``backend.numpy`` (or ``nn``, ...) as an operation's ``call`` sees it."""

    def __init__(self, family: str, real: Any) -> None:
        self._family = family
        self._real = real

    @functools.cache  # noqa: B019 - a handful of long-lived instances
    def __getattr__(self, name: str) -> Any:
        real = getattr(self._real, name, None)
        if name.startswith("_") or not callable(real):
            return getattr(self._real, name)
        return _redirect(self._family, name, None)


class _Backend:
    def __init__(self) -> None:
        from keras.src import backend

        self._real = backend
        self._families = {f: _BackendFamily(f, getattr(backend, f)) for f in FAMILIES}

    def __getattr__(self, name: str) -> Any:
        if name in self._families:
            return self._families[name]
        return getattr(self._real, name)


@functools.cache
def _backend() -> _Backend:
    return _Backend()


@functools.cache
def _redirected_operation(cls: type) -> type:
    call = cls.call
    namespace = dict(call.__globals__)
    namespace["backend"] = _backend()
    new_call = types.FunctionType(
        call.__code__, namespace, call.__name__, call.__defaults__, call.__closure__
    )
    new_call.__kwdefaults__ = call.__kwdefaults__

    def symbolic_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _symbolic.set(True)
        try:
            return cls.symbolic_call(self, *args, **kwargs)
        finally:
            _symbolic.reset(token)

    def compute_output_spec(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _symbolic.set(True)
        try:
            return cls.compute_output_spec(self, *args, **kwargs)
        finally:
            _symbolic.reset(token)

    return type(
        cls.__name__,
        (cls,),
        {
            "call": new_call,
            "symbolic_call": symbolic_call,
            "compute_output_spec": compute_output_spec,
            "__module__": cls.__module__,
        },
    )


def _family_of(obj: Any) -> str | None:
    module = getattr(obj, "__module__", "") or ""
    prefix = "keras.src.ops."
    if module.startswith(prefix) and module[len(prefix) :] in FAMILIES:
        return module[len(prefix) :]
    return None


class _Proxy(types.ModuleType):
    """A Keras module (``knp``, ``ops``, ``keras``) with the functions under test redirected."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__(real.__name__)
        self._real = real
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            return getattr(self._real, name)
        if name not in self._cache:
            self._cache[name] = _proxied(getattr(self._real, name), name)
        return self._cache[name]


def _proxied(value: Any, name: str) -> Any:
    from keras.src.ops.operation import Operation

    if isinstance(value, types.ModuleType):
        if value.__name__ == "keras" or value.__name__.startswith(
            ("keras.src.ops", "keras.ops", "keras.api.ops")
        ):
            return _proxy(value)
        return value
    family = _family_of(value)
    if family is None:
        return value
    if isinstance(value, type):
        return _redirected_operation(value) if issubclass(value, Operation) else value
    if callable(value):
        return _redirect(family, name, value)
    return value


@functools.cache
def _proxy(module: types.ModuleType) -> _Proxy:
    return _Proxy(module)


def _load_helper_modules(folder: Path) -> None:
    for dotted in HELPER_MODULES:
        path = folder / (dotted.rsplit(".", 1)[1] + ".py")
        if dotted in sys.modules or not path.exists():
            continue
        spec = importlib.util.spec_from_file_location(dotted, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[dotted] = module
        spec.loader.exec_module(module)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires_trainable_backend: Keras's marker (skipped on NumPy)"
    )
    if "tensorflow" not in sys.modules:
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            sys.modules["tensorflow"] = _TensorflowStandIn("tensorflow")
    helpers = os.environ.get("NERVE_KERAS_SUITE_HELPERS")
    if helpers:
        _load_helper_modules(Path(helpers))


def _patch_module(module: types.ModuleType) -> None:
    if getattr(module, "_nerve_shim_patched", False):
        return
    for name, value in list(vars(module).items()):
        if isinstance(value, types.ModuleType):
            proxied = _proxied(value, name)
            if proxied is not value:
                setattr(module, name, proxied)
    module._nerve_shim_patched = True  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """Import each test module with Keras's ops modules swapped for their proxies, so
    that functions captured at import time (``parameterized`` arguments such as
    ``kmath.segment_max``) are the redirected ones too."""
    if not isinstance(collector, pytest.Module):
        return (yield)
    import keras
    import keras.src
    import keras.src.ops

    swaps: list[tuple[Any, str, Any]] = [(keras.src, "ops", keras.src.ops)]
    swaps += [(keras.src.ops, family, getattr(keras.src.ops, family)) for family in FAMILIES]
    swaps += [(keras, "ops", keras.ops)]
    for owner, name, real in swaps:
        setattr(owner, name, _proxy(real))
    sys.modules["keras"] = _proxy(keras)
    try:
        return (yield)
    finally:
        sys.modules["keras"] = keras
        for owner, name, real in swaps:
            setattr(owner, name, real)


def _shard() -> tuple[int, int]:
    index, _, count = os.environ.get("NERVE_KERAS_SUITE_SHARD", "0/1").partition("/")
    return int(index), int(count)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    trainable = pytest.mark.skip(reason="Keras skips it on the NumPy backend (no trainer)")
    shard, shards = _shard()
    for position, item in enumerate(items):
        cls = getattr(item, "cls", None)
        name = cls.__name__ if cls is not None else ""
        if (
            name.endswith(SKIPPED_CLASS_SUFFIXES)
            or name in SKIPPED_CLASSES
            or position % shards != shard
        ):
            dropped.append(item)
            continue
        if "requires_trainable_backend" in item.keywords:
            item.add_marker(trainable)
        module = getattr(item, "module", None)
        if module is not None:
            _patch_module(module)
        kept.append(item)
    if os.environ.get("NERVE_KERAS_SUITE_REVERSE"):
        kept.reverse()  # a second process can work from the other end
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept


def _first_line(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None) or str(report.longrepr or "")
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " | ".join(lines[:4])[:300]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = os.environ.get("NERVE_KERAS_SUITE_REPORT")
    if not path:
        return
    outcome = None
    if report.when == "call":
        outcome = report.outcome
    elif report.outcome != "passed":  # a setup skip or a setup/teardown error
        outcome = "skipped" if report.skipped else "failed"
    if outcome is None:
        return
    record = {"nodeid": report.nodeid, "outcome": outcome, "message": _first_line(report)}
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")
