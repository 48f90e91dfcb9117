"""Every registered backend honours the kernel contract the primitive registry defines.

For each backend that can run here (the table in ``nerve.backend.registry``; a GPU
backend joins when a GPU is present) and each registered primitive: the kernel
exists, and it and the graph kernel accept the calling convention read off the
primitive's shape rule (``Primitive.kernel_signature``). Behaviour (values, declared
facts) is checked on real inputs by the op harness (``check_contract``).
"""

import numpy as np
import pytest

from nerve.backend import available_backends, get_backend
from nerve.backend.registry import BACKEND_CLASSES
from nerve.core.errors import BackendError
from nerve.graph.executor import HOST_PRIMITIVES
from nerve.primitives import PRIMITIVES, Aval, Primitive

BACKENDS = available_backends()
CASES = [
    pytest.param(kind, name, id=f"{kind}-{name}")
    for kind in BACKENDS
    for name in sorted(PRIMITIVES)
    if not PRIMITIVES[name].effect
]


def test_the_cpu_backend_is_always_available():
    assert "cpu" in BACKENDS and set(BACKENDS) <= set(BACKEND_CLASSES)


@pytest.mark.parametrize("name", sorted(n for n, p in PRIMITIVES.items() if p.effect))
def test_effectful_primitives_are_run_by_the_executor(name):
    assert PRIMITIVES[name] in HOST_PRIMITIVES, f"the graph executor does not run {name}"


@pytest.mark.parametrize("kind,name", CASES)
def test_every_backend_implements_every_kernel_with_its_signature(kind, name):
    backend, prim = BACKENDS[kind], PRIMITIVES[name]
    assert backend.has_kernel(prim.kernel), f"{backend.name} lacks kernel {prim.kernel!r}"
    signature = prim.kernel_signature
    assert signature.mismatch(backend.kernel(prim.kernel)) is None
    assert signature.mismatch(backend.graph_kernel(prim.kernel)) is None


def test_the_signature_check_can_fail():
    prim = Primitive(
        "_contract_two_inputs",
        shape_rule=lambda x, y, *, axis: Aval(x.shape, x.dtype),
        differentiable=False,
    )
    try:
        signature = prim.kernel_signature
        assert (signature.inputs, signature.params) == (2, ("axis",))
        assert signature.mismatch(lambda x, y, axis: x) is None
        assert "cannot take 2 inputs" in signature.mismatch(lambda x, axis: x)
        assert "cannot take 2 inputs" in signature.mismatch(lambda x, y: x)
        assert "cannot take 2 inputs" in signature.mismatch(lambda x, y, axis, keep: x)
    finally:
        del PRIMITIVES[prim.name]


def test_an_unknown_device_kind_names_what_is_available():
    with pytest.raises(BackendError, match=r"No backend serves device kind 'gpu'.*cpu"):
        get_backend("gpu")


@pytest.mark.gpu
@pytest.mark.skipif("gpu" not in BACKENDS, reason="no GPU backend runs here (CuPy and a GPU)")
def test_the_op_tables_run_on_the_gpu_when_one_is_present():
    from nerve.testing.op_harness import harness_devices

    assert harness_devices() == list(BACKENDS) and "gpu" in harness_devices()


def test_numpy_quiet_scope_silences_float_errors_and_restores_the_callers_state():
    # NumpyBackend.quiet sets a prebuilt error state (not np.errstate): inside it
    # nothing warns or raises; after it, the caller's own settings are back.
    import warnings

    backend = get_backend("cpu")
    with np.errstate(divide="raise", over="warn"):
        for _ in range(2):  # the second time from the cached quiet state
            with backend.quiet(), warnings.catch_warnings():
                warnings.simplefilter("error")
                np.log(np.zeros(2))
                np.exp(np.float32(1000.0))
            assert np.geterr()["divide"] == "raise" and np.geterr()["over"] == "warn"
            with pytest.raises(FloatingPointError):
                np.log(np.zeros(2))
