"""The declarative op-test harness.

Declare an op once, as an ``OpCase`` row; ``op_tests(cases)`` turns a table of
rows into pytest tests that check, for every input variant:

* **forward** against a NumPy reference, in each declared dtype, on contiguous
  and on non-contiguous inputs;
* **shape rules**: every primitive the op binds is re-checked against the shape
  and dtype its shape rule predicts (so the graph compiler can trust them);
* **gradient** against central finite differences in float64 (a random
  directional derivative, which checks every input at once);
* **PyTorch** as an independent oracle: forward and full input gradients for the
  same output cotangent;
* **second order** (where ``grad2=True``): the gradient of a directional
  derivative, again against finite differences;
* **eager vs compiled**: the op (and its gradient, taken by a tape inside the
  traced function) run through ``nerve.function`` must agree with eager mode,
  with exactly the same shapes and dtypes. Rows whose output shape depends on
  input *values* (boolean masks, nonzero) opt out with ``compiled=False`` and
  say why in a comment.
* **symbolic** (where ``symbolic=True``, the default): the op applied to symbolic
  tensors (``nerve.Input`` of the inputs' shapes) builds a model node whose shape
  and dtype are the eager result's, and a Functional model of it computes the eager
  result, also after a JSON round trip of its config (first variant). Rows whose
  output shape depends on input values, or that take Python functions, opt out with
  ``symbolic=False`` and say why.

Example row::

    OpCase("tanh", ops.tanh, [(Input((3, 4)),)], numpy=np.tanh, torch=lambda x: T.tanh(x))
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import nerve
from nerve.primitives import registry
from nerve.tensor import Tensor

__all__ = [
    "Input",
    "OpCase",
    "T",
    "arrays_as_tensors",
    "check_compiled",
    "check_contract",
    "check_forward",
    "check_gradient",
    "check_second_order",
    "check_symbolic",
    "check_torch",
    "harness_devices",
    "make_inputs",
    "op_tests",
    "run_with_shape_rules",
]


class _LazyModule:
    """``T.tanh`` imports torch on first use, so tables load without torch installed."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


T = _LazyModule("torch")


@dataclasses.dataclass(frozen=True)
class Input:
    """How to generate one argument.

    ``kind``: ``"float"`` (uniform in [low, high]), ``"positive"`` (uniform in
    [0.5, 2]), ``"int"`` (integers in [low, high)), ``"bool"``, or ``"index"``
    (integers in [0, high)). Only float kinds are differentiated, unless
    ``differentiable=False``.
    """

    shape: tuple
    kind: str = "float"
    low: float = -2.0
    high: float = 2.0
    dtype: str | None = None  # fixed dtype; None follows the case's dtype for floats
    differentiable: bool = True

    @property
    def is_float(self) -> bool:
        return self.kind in ("float", "positive")

    def generate(self, rng: np.random.Generator, float_dtype: str) -> np.ndarray:
        value: np.ndarray  # floats, integers or bools, by kind
        if self.kind == "float":
            value = rng.uniform(self.low, self.high, self.shape)
        elif self.kind == "positive":
            value = rng.uniform(0.5, 2.0, self.shape)
        elif self.kind == "int":
            value = rng.integers(int(self.low), int(self.high), self.shape)
        elif self.kind == "index":
            value = rng.integers(0, int(self.high), self.shape)
        elif self.kind == "bool":
            value = rng.random(self.shape) < 0.5
        else:
            raise ValueError(f"unknown input kind {self.kind!r}")
        dtype = self.dtype or (float_dtype if self.is_float else _default_dtype(self.kind))
        return np.asarray(value).astype(dtype)


def _default_dtype(kind: str) -> str:
    return {"bool": "bool"}.get(kind, "int32")


@dataclasses.dataclass
class OpCase:
    """One op under test; see the module docstring.

    ``fn``, ``numpy`` and ``torch`` take the generated inputs positionally
    (bake static arguments into lambdas). ``variants`` lists tuples of
    ``Input``, one tuple per input configuration.
    """

    name: str
    fn: Callable[..., Any]
    variants: Sequence[tuple]
    numpy: Callable[..., Any] | None = None
    torch: Callable[..., Any] | None = None
    grad: bool = True
    grad2: bool = False
    dtypes: tuple = ("float32", "float64")
    rtol: float | None = None
    atol: float | None = None
    grad_rtol: float = 1e-5
    torch_grad: bool = True
    noncontiguous: bool = True
    compiled: bool = True  # False: cannot be traced (say why in the row)
    symbolic: bool = True  # False: no model node on symbolic tensors (say why in the row)

    def tolerance(self, dtype: str) -> tuple[float, float]:
        base = {"float64": (1e-10, 1e-12), "float32": (2e-5, 2e-6), "float16": (2e-2, 2e-3),
                "bfloat16": (4e-2, 1e-2)}.get(dtype, (0, 0))  # fmt: skip
        return (self.rtol or base[0], self.atol or base[1])


# -- helpers --------------------------------------------------------------------------


def _rng(*parts: Any) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def make_inputs(case: OpCase, index: int, dtype: str) -> list[np.ndarray]:
    rng = _rng(case.name, index)
    return [spec.generate(rng, dtype) for spec in case.variants[index]]


def _noncontiguous(array: np.ndarray) -> Tensor:
    """A tensor with the same values whose buffer is strided (non-contiguous): a view
    made by slicing a larger tensor, as ops inside a program produce them."""
    if array.ndim == 0 or array.size == 0:
        return nerve.ops.convert_to_tensor(array)
    padded = np.zeros((*array.shape[:-1], array.shape[-1] * 2), dtype=array.dtype)
    padded[..., ::2] = array
    view = nerve.ops.convert_to_tensor(padded)[..., ::2]
    assert view.shape == array.shape
    return view


def _outputs(result: Any) -> list:
    if isinstance(result, (tuple, list)):
        return [r for r in result]
    return [result]


def _to_numpy(x: Any) -> np.ndarray:
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x)


def _assert_close(actual, expected, rtol, atol, what: str) -> None:
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if actual.dtype == bool or expected.dtype == bool or np.issubdtype(expected.dtype, np.integer):
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    if actual.dtype.kind == "c" or expected.dtype.kind == "c":  # real and imaginary parts
        for part in (np.real, np.imag):
            _assert_close(part(actual), part(expected), rtol, atol, what)
        return
    np.testing.assert_allclose(
        actual.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol, err_msg=what
    )


class _ContractChecker:
    """An interpreter that runs each bind eagerly and checks what the registry and the
    backend declare about it against what the kernel does on these very inputs (see
    ``check_contract``)."""

    def __init__(self):
        self.seen: set[str] = set()

    def __call__(self, prim, args, params):
        from nerve.autodiff.eager import eager_bind

        result = eager_bind(prim, args, params)
        self.seen.add(prim.name)
        check_contract(prim, args, params, result)
        return result


def check_contract(prim, args: tuple, params: dict, result: Any) -> None:
    """Check one bind's result against the primitive's declarations: the shape rule,
    ``fresh`` (new arrays aliasing no input, nothing cached), ``elementwise`` (reversing
    the broadcast inputs reverses the result), ``random`` (another seed, other numbers),
    determinism otherwise, and the backend's capabilities for its kernel (the graph
    kernel computes the same; ``supports_out`` kernels write into ``out``, also when
    ``out`` is an input)."""
    from nerve.autodiff.eager import check_shape_rule
    from nerve.backend import backend_of

    check_shape_rule(prim, args, params, result)
    actual = result if prim.multiple_results else (result,)
    if prim.effect or (not args and not actual):
        return
    arrays = [a._value for a in args]
    outs = [o._value for o in actual]
    backend = backend_of(outs[0] if outs else arrays[0])
    kernel = backend.kernel(prim.kernel)
    again = kernel(*arrays, **params)
    again = list(again) if prim.multiple_results else [again]
    what = f"{prim.name}{params or ''}"
    for first, second in zip(outs, again):
        _assert_same_values(backend, second, first, f"{what}: a second call differs")
    with backend.quiet():
        graph_result = backend.graph_kernel(prim.kernel)(*arrays, **params)
    graph_result = list(graph_result) if prim.multiple_results else [graph_result]
    for first, other in zip(outs, graph_result):
        _assert_same_values(backend, other, first, f"{what}: the graph kernel differs")
    if prim.fresh:
        _check_fresh(backend, what, arrays, outs, again)
    if prim.elementwise:
        _check_elementwise(backend, what, kernel, arrays, params, outs[0])
        if not params and backend.supports_out(prim.kernel):
            _check_out(backend, what, prim.kernel, arrays, outs[0])
    if prim.random:
        _check_random(backend, what, kernel, arrays, params, outs)


def _host(backend, array) -> np.ndarray:
    return np.asarray(backend.to_numpy(array))


def _assert_same_values(backend, actual, expected, what: str) -> None:
    actual, expected = _host(backend, actual), _host(backend, expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    np.testing.assert_array_equal(actual, expected, err_msg=what)


def _check_fresh(backend, what: str, arrays: list, outs: list, again: list) -> None:
    for k, out in enumerate(outs):
        for i, array in enumerate(arrays):
            assert not backend.shares_memory(out, array), (
                f"{what} is declared fresh, but result {k} shares memory with input {i}"
            )
        assert not backend.shares_memory(out, again[k]), (
            f"{what} is declared fresh, but two calls return the same buffer for result {k}"
        )
        for j, other in enumerate(outs[k + 1 :], start=k + 1):
            assert not backend.shares_memory(out, other), (
                f"{what} is declared fresh, but results {k} and {j} share memory"
            )


def _reversed_inputs(backend, arrays: list, shape: tuple) -> list:
    """Each input broadcast to ``shape``, its elements in reverse order (contiguous)."""
    return [
        backend.asarray(np.ascontiguousarray(np.broadcast_to(_host(backend, a), shape)
                                             .reshape(-1)[::-1].reshape(shape)), copy=True)
        for a in arrays
    ]  # fmt: skip


def _check_elementwise(backend, what: str, kernel, arrays: list, params: dict, out) -> None:
    shape = tuple(out.shape)
    if math.prod(shape) < 2:
        return
    result = _host(backend, kernel(*_reversed_inputs(backend, arrays, shape), **params))
    expected = _host(backend, out).reshape(-1)[::-1].reshape(shape)
    message = f"{what} is declared elementwise, but reversing its inputs does not reverse it"
    if expected.dtype.kind == "f":  # SIMD and scalar tails may round differently
        np.testing.assert_allclose(result, expected, rtol=1e-6, err_msg=message)
    else:
        np.testing.assert_array_equal(result, expected, err_msg=message)


def _check_out(backend, what: str, name: str, arrays: list, out) -> None:
    """``supports_out``: the graph kernel writes into ``out`` and returns it, also when
    ``out`` is one of its inputs."""
    graph_kernel = backend.graph_kernel(name)
    target = backend.asarray(_host(backend, out), copy=True)
    with backend.quiet():
        written = graph_kernel(*arrays, out=target)
    assert written is target, f"{what}: out= was not returned"
    _assert_same_values(backend, target, out, f"{what}: out= changed the result")
    for i, array in enumerate(arrays):
        if (array.shape, backend.dtype_name(array)) != (out.shape, backend.dtype_name(out)):
            continue
        inputs = [backend.asarray(_host(backend, a), copy=True) for a in arrays]
        with backend.quiet():
            graph_kernel(*inputs, out=inputs[i])
        _assert_same_values(backend, inputs[i], out, f"{what}: out= over input {i} differs")


def _check_random(backend, what: str, kernel, arrays: list, params: dict, outs: list) -> None:
    if not any(math.prod(o.shape) >= 16 for o in outs):
        return  # too few draws to tell seeds apart
    seed = _host(backend, arrays[0])
    other = backend.asarray(seed + np.ones_like(seed), copy=True)
    redrawn = kernel(other, *arrays[1:], **params)
    redrawn = redrawn if isinstance(redrawn, (tuple, list)) else [redrawn]
    assert any(
        not np.array_equal(_host(backend, a), _host(backend, b)) for a, b in zip(redrawn, outs)
    ), f"{what} is declared random, but another seed draws the same numbers"


def run_with_shape_rules(fn: Callable[[], Any]) -> tuple[Any, set[str]]:
    """Run ``fn`` checking every primitive's shape rule and declared facts
    (``check_contract``); return its result and the names of the primitives it bound."""
    checker = _ContractChecker()
    registry.push_interpreter(checker)
    try:
        return fn(), checker.seen
    finally:
        registry.pop_interpreter()


# -- the checks ------------------------------------------------------------------------


def check_forward(case: OpCase, index: int, dtype: str) -> None:
    arrays = make_inputs(case, index, dtype)
    result, _ = run_with_shape_rules(lambda: case.fn(*arrays_as_tensors(arrays)))
    outputs = _outputs(result)
    for out in outputs:
        assert isinstance(out, Tensor), f"{case.name} returned {type(out).__name__}, not Tensor"
    rtol, atol = case.tolerance(dtype)
    if case.numpy is not None:
        expected = _outputs(case.numpy(*[a.astype(np.float64) if a.dtype.kind == "f" else a
                                         for a in arrays]))  # fmt: skip
        assert len(expected) == len(outputs), f"{case.name}: {len(outputs)} outputs"
        for i, (out, exp) in enumerate(zip(outputs, expected)):
            exp = np.asarray(exp)
            if exp.dtype.kind == "f" and _to_numpy(out).dtype.kind == "f":
                exp = exp.astype(out.dtype if out.dtype != "bfloat16" else np.float32)
            _assert_close(_to_numpy(out), exp, rtol, atol, f"{case.name} output {i} ({dtype})")
    if case.noncontiguous:
        # Same values, strided buffers. BLAS may sum in another order for strided
        # operands, so allow the dtype's rounding tolerance.
        again = _outputs(case.fn(*[_noncontiguous(a) for a in arrays]))
        for i, (a, b) in enumerate(zip(again, outputs)):
            _assert_close(_to_numpy(a), _to_numpy(b), rtol, atol, f"{case.name} output {i} strided")


def arrays_as_tensors(arrays: list[np.ndarray]) -> list[Tensor]:
    return [nerve.ops.convert_to_tensor(a) for a in arrays]


def _differentiable_positions(case: OpCase, index: int) -> list[int]:
    return [i for i, s in enumerate(case.variants[index]) if s.is_float and s.differentiable]


def _float_outputs(outputs: list) -> list[int]:
    return [i for i, o in enumerate(outputs) if o.dtype in ("float32", "float64", "float16")]


def _vjp(case: OpCase, arrays: list[np.ndarray], positions: list[int], cotangents: list):
    """Our gradients of sum_i <cotangent_i, output_i> with respect to ``positions``."""
    return _vjp_tensors(case, arrays_as_tensors(arrays), positions, cotangents)


def check_gradient(case: OpCase, index: int) -> None:
    """Directional derivative of <u, f(x)> along v: autodiff vs central differences."""
    arrays = make_inputs(case, index, "float64")
    positions = _differentiable_positions(case, index)
    if not positions:
        return
    rng = _rng(case.name, index, "grad")
    outputs = _outputs(case.fn(*arrays_as_tensors(arrays)))
    cts = [(i, rng.standard_normal(outputs[i].shape)) for i in _float_outputs(outputs)]
    if not cts:
        return
    _, grads = _vjp(case, arrays, positions, cts)
    for p, g in zip(positions, grads):
        assert g.shape == arrays[p].shape, f"{case.name}: gradient shape {g.shape} for input {p}"
        assert g.dtype == "float64", f"{case.name}: gradient dtype {g.dtype} for float64 input"
    directions = {p: rng.standard_normal(arrays[p].shape) for p in positions}
    analytic = sum(float(np.sum(_to_numpy(g) * directions[p])) for p, g in zip(positions, grads))

    def objective(step: float) -> float:
        moved = [a + step * directions[i] if i in directions else a for i, a in enumerate(arrays)]
        outs = _outputs(case.fn(*arrays_as_tensors(moved)))
        return sum(float(np.sum(_to_numpy(outs[i]) * ct)) for i, ct in cts)

    h = 1e-6
    numeric = (objective(h) - objective(-h)) / (2 * h)
    assert abs(analytic - numeric) <= case.grad_rtol * (1 + abs(numeric)), (
        f"{case.name} variant {index}: autodiff directional derivative {analytic!r} vs "
        f"finite differences {numeric!r}"
    )


def check_torch(case: OpCase, index: int) -> None:
    torch = importlib.import_module("torch")
    arrays = make_inputs(case, index, "float64")
    positions = _differentiable_positions(case, index) if case.grad and case.torch_grad else []
    torch_inputs = []
    for i, a in enumerate(arrays):
        t = torch.from_numpy(np.array(a))
        if i in positions:
            t.requires_grad_(True)
        torch_inputs.append(t)
    reference = case.torch
    if reference is None:
        raise TypeError(f"{case.name} has no torch reference to check against.")
    expected = _outputs(reference(*torch_inputs))
    ours = _outputs(case.fn(*arrays_as_tensors(arrays)))
    assert len(expected) == len(ours), f"{case.name}: output count vs torch"
    for i, (o, e) in enumerate(zip(ours, expected)):
        e = e.detach().numpy() if hasattr(e, "detach") else np.asarray(e)
        _assert_close(_to_numpy(o), e, 1e-9, 1e-12, f"{case.name} output {i} vs torch")
    if not positions:
        return
    rng = _rng(case.name, index, "torch")
    float_outs = _float_outputs(ours)
    cts = [(i, rng.standard_normal(ours[i].shape)) for i in float_outs]
    if not cts:
        return
    total = sum((expected[i] * torch.from_numpy(ct)).sum() for i, ct in cts)
    torch_grads = torch.autograd.grad(
        total, [torch_inputs[p] for p in positions], allow_unused=True
    )
    _, grads = _vjp(case, arrays, positions, cts)
    for p, g, tg in zip(positions, grads, torch_grads):
        tg = np.zeros(arrays[p].shape) if tg is None else tg.numpy()
        _assert_close(_to_numpy(g), tg, 1e-8, 1e-10, f"{case.name} gradient of input {p} vs torch")


def check_second_order(case: OpCase, index: int) -> None:
    """Gradient of g(x) = <grad_x <u, f(x)>, w> by autodiff vs finite differences."""
    arrays = make_inputs(case, index, "float64")
    positions = _differentiable_positions(case, index)
    rng = _rng(case.name, index, "grad2")
    outputs = _outputs(case.fn(*arrays_as_tensors(arrays)))
    cts = [(i, rng.standard_normal(outputs[i].shape)) for i in _float_outputs(outputs)]
    ws = {p: rng.standard_normal(arrays[p].shape) for p in positions}

    def g_of(tensors):
        _, grads = _vjp_tensors(case, tensors, positions, cts)
        total = None
        for p, g in zip(positions, grads):
            term = nerve.ops.sum(g * nerve.ops.convert_to_tensor(ws[p]))
            total = term if total is None else total + term
        return total

    tensors = arrays_as_tensors(arrays)
    with nerve.GradientTape() as outer:
        for p in positions:
            outer.watch(tensors[p])
        value = g_of(tensors)
    second = outer.gradient(value, [tensors[p] for p in positions], unconnected_gradients="zero")
    directions = {p: rng.standard_normal(arrays[p].shape) for p in positions}
    analytic = sum(float(np.sum(_to_numpy(s) * directions[p])) for p, s in zip(positions, second))

    def objective(step: float) -> float:
        moved = [a + step * directions[i] if i in directions else a for i, a in enumerate(arrays)]
        return float(g_of(arrays_as_tensors(moved)))

    h = 1e-5
    numeric = (objective(h) - objective(-h)) / (2 * h)
    assert abs(analytic - numeric) <= 1e-4 * (1 + abs(numeric)), (
        f"{case.name} variant {index}: second-order {analytic!r} vs finite differences {numeric!r}"
    )


def check_compiled(case: OpCase, index: int) -> None:
    """Eager and ``nerve.function`` agree: forward in every dtype, gradient in float64."""
    for dtype in case.dtypes:
        if dtype == "bfloat16":
            if importlib.util.find_spec("ml_dtypes") is None:
                continue
            importlib.import_module("ml_dtypes")  # registers the NumPy dtype
        tensors = arrays_as_tensors(make_inputs(case, index, dtype))
        eager = _outputs(case.fn(*tensors))
        compiled = _outputs(nerve.function(case.fn)(*tensors))
        _assert_same_outputs(case, eager, compiled, case.tolerance(dtype), f"compiled ({dtype})")
    if not case.grad:
        return
    arrays = make_inputs(case, index, "float64")
    positions = _differentiable_positions(case, index)
    if not positions:
        return
    rng = _rng(case.name, index, "compiled")
    outputs = _outputs(case.fn(*arrays_as_tensors(arrays)))
    cts = [(i, rng.standard_normal(outputs[i].shape)) for i in _float_outputs(outputs)]
    if not cts:
        return
    _, eager_grads = _vjp(case, arrays, positions, cts)

    @nerve.function
    def compiled_vjp(tensors):
        return _vjp_tensors(case, tensors, positions, cts)[1]

    compiled_grads = compiled_vjp(arrays_as_tensors(arrays))
    _assert_same_outputs(
        case, list(eager_grads), list(compiled_grads), case.tolerance("float64"), "compiled grad"
    )


def _assert_same_outputs(
    case: OpCase, eager: list, compiled: list, tol: tuple[float, float], what: str
):
    assert len(eager) == len(compiled), f"{case.name} {what}: output count"
    for i, (e, c) in enumerate(zip(eager, compiled)):
        assert isinstance(c, Tensor), f"{case.name} {what}: output {i} is {type(c).__name__}"
        assert (c.shape, c.dtype) == (e.shape, e.dtype), (
            f"{case.name} {what}: output {i} is {c.dtype}{list(c.shape)}, "
            f"eager gave {e.dtype}{list(e.shape)}"
        )
        _assert_close(_to_numpy(c), _to_numpy(e), *tol, f"{case.name} {what} output {i}")


def _vjp_tensors(case: OpCase, tensors: list, positions: list[int], cotangents: list):
    """``_vjp`` on tensors, recorded by any enclosing tape (for second order)."""
    with nerve.GradientTape() as tape:
        for p in positions:
            tape.watch(tensors[p])
        outputs = _outputs(case.fn(*tensors))
        total = None
        for i, ct in cotangents:
            term = nerve.ops.sum(outputs[i] * nerve.ops.convert_to_tensor(ct))
            total = term if total is None else total + term
    return outputs, tape.gradient(
        total, [tensors[p] for p in positions], unconnected_gradients="zero"
    )


# -- pytest generation -------------------------------------------------------------------


def check_symbolic(case: OpCase, index: int) -> None:
    """The op on symbolic tensors: a model node that predicts the eager result, and
    whose Functional model survives a JSON round trip of its config."""
    import json

    dtype = case.dtypes[0]
    arrays = make_inputs(case, index, dtype)
    expected = _outputs(case.fn(*arrays_as_tensors(arrays)))
    inputs = [nerve.Input(batch_shape=a.shape, dtype=str(a.dtype)) for a in arrays]
    symbolic = _outputs(case.fn(*inputs))
    what = f"{case.name}[{index}] on symbolic tensors"
    assert len(symbolic) == len(expected), f"{what}: {len(symbolic)} outputs, not {len(expected)}"
    for i, (node, value) in enumerate(zip(symbolic, expected)):
        assert isinstance(node, nerve.KerasTensor), f"{what}: output {i} is {node!r}"
        assert node.shape == tuple(value.shape), f"{what}: output {i} {node} vs {value.shape}"
        assert node.dtype == value.dtype, f"{what}: output {i} {node} vs {value.dtype}"
    models = {"model": nerve.Model(inputs, symbolic)}
    if index == 0:  # the config does not depend on the shapes: one round trip per row
        config = json.loads(json.dumps(models["model"].get_config()))
        models["rebuilt model"] = nerve.Model.from_config(config)
    rtol, atol = case.tolerance(dtype)
    for name, candidate in models.items():
        candidate.autocast = False  # the op's dtypes, not the float32 policy's
        for i, (out, value) in enumerate(zip(candidate(arrays_as_tensors(arrays)), expected)):
            _assert_close(_to_numpy(out), _to_numpy(value), rtol, atol, f"{what}: {name} {i}")


def harness_devices() -> list[str]:
    """The device kinds the op tables run on: every backend that runs here (the CPU
    always; a GPU backend when CuPy and a GPU are present). Rows on a device other than
    the CPU get its name in their test id and the ``gpu`` mark."""
    from nerve.backend import available_backends

    return list(available_backends())


def op_tests(cases: Sequence[OpCase]) -> dict[str, Callable]:
    """Pytest test functions for a table of cases, on every device of
    ``harness_devices``; put them in a test module with ``globals().update(op_tests(CASES))``."""
    import pytest

    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate OpCase names: {sorted(duplicates)}")
    devices = harness_devices()

    def params(select: Callable[[OpCase], bool], with_dtype: bool = False):
        out = []
        for device in devices:
            marks = [] if device == "cpu" else [pytest.mark.gpu]
            suffix = "" if device == "cpu" else f"-{device}"
            for case in cases:
                if not select(case):
                    continue
                for index in range(len(case.variants)):
                    for dtype in case.dtypes if with_dtype else (None,):
                        parts = (case.name, index) if dtype is None else (case.name, index, dtype)
                        out.append(
                            pytest.param(
                                device, case, index, *parts[2:],
                                id="-".join(map(str, parts)) + suffix,
                                marks=marks,
                            )
                        )  # fmt: skip
        return out

    @pytest.mark.parametrize("device,case,index,dtype", params(lambda c: True, with_dtype=True))
    def test_forward(device, case, index, dtype):
        if dtype == "bfloat16":
            pytest.importorskip("ml_dtypes")
        with nerve.device(device):
            check_forward(case, index, dtype)

    @pytest.mark.parametrize("device,case,index", params(lambda c: c.grad))
    def test_gradient(device, case, index):
        with nerve.device(device):
            check_gradient(case, index)

    @pytest.mark.parametrize("device,case,index", params(lambda c: c.torch is not None))
    def test_torch(device, case, index):
        pytest.importorskip("torch")
        with nerve.device(device):
            check_torch(case, index)

    @pytest.mark.parametrize("device,case,index", params(lambda c: c.grad and c.grad2))
    def test_second_order(device, case, index):
        with nerve.device(device):
            check_second_order(case, index)

    @pytest.mark.parametrize("device,case,index", params(lambda c: c.compiled))
    def test_compiled(device, case, index):
        with nerve.device(device):
            check_compiled(case, index)

    @pytest.mark.parametrize("device,case,index", params(lambda c: c.symbolic and all(c.variants)))
    def test_symbolic(device, case, index):
        with nerve.device(device):
            check_symbolic(case, index)

    tests = {
        "test_symbolic": test_symbolic,
        "test_forward": test_forward,
        "test_gradient": test_gradient,
        "test_torch": test_torch,
        "test_compiled": test_compiled,
    }
    if any(c.grad and c.grad2 for c in cases):
        tests["test_second_order"] = test_second_order
    return tests
