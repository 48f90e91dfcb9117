"""Native fused loops (C compiled at run time) compute what NumPy's kernels compute.

One table drives the kernel checks: every kernel the C generator knows, in every
dtype it accepts, run as a one-step program over every input layout, against the
NumPy backend's own kernel. Then: layouts, aliasing, caching, fallbacks, and whole
compiled graphs that use the loops.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.backend.numpy_backend import native
from nerve.backend.numpy_backend.native import codegen, fastcall, toolchain
from nerve.backend.program import ElementwiseProgram, Step
from nerve.core.errors import NerveError
from nerve.primitives import PRIMITIVES
from nerve.primitives.registry import Aval

pytestmark = pytest.mark.skipif(not native.available(), reason="no working C compiler")

#: Every dtype a loop may load.
DTYPE_CANDIDATES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float32", "float64")


def _loop_kernels() -> dict[str, tuple[int, tuple[str, ...], dict[str, str]]]:
    """Every kernel the C generator compiles (its entry is not declined), with its arity
    and each input dtype it accepts mapped to the result dtype: derived from the registry
    and the table itself, so a new fusible primitive is checked without a row here.
    ``where`` and ``cast`` (mixed dtypes, params) have tests of their own below."""
    found = {}
    for prim in PRIMITIVES.values():
        emit = codegen.EXPRESSIONS.get(prim.kernel)
        if not prim.elementwise or hasattr(emit, "reason") or prim.kernel in ("where", "cast"):
            continue
        arity = prim.kernel_signature.inputs
        results = {}
        for dtype in DTYPE_CANDIDATES:
            try:
                out = prim.shape_rule(*[Aval((), dtype)] * arity).dtype
            except NerveError:
                continue
            if codegen.has_loop_form(prim.kernel, (dtype,) * arity, out, {}):
                results[dtype] = out
        found[prim.kernel] = (arity, tuple(results), results)
    return found


CASES = _loop_kernels()
TRUE_VALUES = {
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}  # fmt: skip
APPROXIMATE = set(TRUE_VALUES)
SHAPE = (48, 64)
#: Input shapes that give each layout kind for SHAPE.
LAYOUTS = {"full": SHAPE, "row": (64,), "col": (48, 1), "scalar": ()}


def sample(rng, shape, dtype, kernel):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in ("float32", "float64"):
        x = rng.standard_normal(shape) * 3
        if kernel in ("log", "sqrt", "rsqrt"):
            x = np.abs(x) + 0.01
        if kernel == "log1p":
            x = np.abs(x) - 0.5
        if np.ndim(x):
            x.flat[:4] = [np.nan, np.inf, -np.inf, -0.0][: x.size]
        return np.asarray(x, dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), size=shape).astype(dtype)


def kernel_cases():
    for kernel, (arity, dtypes, _) in CASES.items():
        for dtype in dtypes:
            for layout in ("full", "row", "col", "scalar")[: 4 if arity == 2 else 1]:
                yield pytest.param(kernel, dtype, layout, id=f"{kernel}-{dtype}-{layout}")


def run_native(program, inputs, outs=None):
    (loop,) = native.compile_elementwise([program], min_elements=0)
    assert loop is not None, "the program should compile"
    return loop(inputs, outs or (None,) * len(program.results))


def numpy_step(kernel, *arrays, **params):
    return get_backend().kernel(kernel)(*arrays, **params)


def one_step_case(kernel, dtype, layout):
    """The program and inputs of one table row."""
    arity, _, result_dtypes = CASES[kernel]
    rng = np.random.default_rng(zlib.crc32(f"{kernel}-{dtype}-{layout}".encode()))
    shapes = (SHAPE, LAYOUTS[layout])[:arity]
    arrays = [sample(rng, s, dtype, kernel) for s in shapes]
    result_dtype = result_dtypes[dtype]
    program = ElementwiseProgram(
        shape=SHAPE,
        inputs=tuple((a.shape, dtype) for a in arrays),
        steps=(Step(kernel, tuple(range(arity)), (), result_dtype),),
        results=(arity,),
    )
    return program, arrays


@pytest.fixture(scope="module")
def table_loops():
    """Every table row's loop, compiled together: one compiler run for the table."""
    keys = [tuple(p.values) for p in kernel_cases()]
    programs = [one_step_case(*key)[0] for key in keys]
    return dict(zip(keys, native.compile_elementwise(programs, min_elements=0)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on nan/inf/-1 inputs
@pytest.mark.parametrize("kernel,dtype,layout", list(kernel_cases()))
def test_one_step_matches_the_numpy_kernel(kernel, dtype, layout, table_loops):
    program, arrays = one_step_case(kernel, dtype, layout)
    loop = table_loops[kernel, dtype, layout]
    assert loop is not None, "the program should compile"
    (actual,) = loop(arrays, (None,))
    expected = numpy_step(kernel, *arrays)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if kernel in APPROXIMATE:  # against the exact values, in long double
        exact = TRUE_VALUES[kernel](arrays[0].astype(np.longdouble)).astype(dtype)
        tol = 1e-6 if dtype == "float32" else 1e-14
        np.testing.assert_allclose(actual, exact, rtol=tol, atol=tol * 1e-3)
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.fixture(scope="module")
def table_loops_through_ctypes():
    """The table's loops called through ctypes, not the fastcall builtin (the same
    library: built once)."""
    keys = [tuple(p.values) for p in kernel_cases()]
    programs = [one_step_case(*key)[0] for key in keys]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastcall, "bind", lambda *args, **kwargs: None)
        return dict(zip(keys, native.compile_elementwise(programs, min_elements=0)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on nan/inf/-1 inputs
@pytest.mark.parametrize("kernel,dtype,layout", list(kernel_cases()))
def test_one_step_gives_the_same_bits_through_either_call(
    kernel, dtype, layout, table_loops, table_loops_through_ctypes
):
    # (Each way is checked against NumPy above where the builtin builds.)
    _, arrays = one_step_case(kernel, dtype, layout)
    fast, slow = (
        table_loops[kernel, dtype, layout],
        table_loops_through_ctypes[kernel, dtype, layout],
    )
    assert fast.fast == fastcall.available() and not slow.fast
    (expected,) = slow(arrays, (None,))
    (actual,) = fast(arrays, (None,))
    np.testing.assert_array_equal(actual, expected)


def test_the_c_table_covers_exactly_the_elementwise_primitives():
    elementwise = {p.kernel for p in PRIMITIVES.values() if p.elementwise}
    table = set(codegen.EXPRESSIONS)
    assert elementwise <= table, f"elementwise kernels without an entry: {elementwise - table}"
    assert table <= elementwise, f"entries for no elementwise primitive: {table - elementwise}"


def test_every_compiled_kernel_is_checked_and_every_declined_one_says_why():
    declined = {k for k, emit in codegen.EXPRESSIONS.items() if hasattr(emit, "reason")}
    assert all(codegen.EXPRESSIONS[k].reason for k in declined)
    compiled = set(codegen.EXPRESSIONS) - declined
    assert compiled - {"cast", "where"} == set(CASES)  # and the table above checks each
    assert all(dtypes for _, dtypes, _ in CASES.values()), "a kernel compiles in no dtype"
    # The derived table reaches what the generator was written for.
    assert set(CASES["add"][1]) == set(DTYPE_CANDIDATES) - {"bool"}
    assert set(CASES["tanh"][1]) == {"float32", "float64"}
    assert CASES["bitwise_and"][1] == ("bool", "uint8", "int8", "int16", "int32", "int64")
    for kernel in declined:
        assert not codegen.has_loop_form(kernel, ("float32",), "float32", {})


def test_the_fusion_pass_asks_the_backend_which_steps_have_loops():
    backend = get_backend()
    assert backend.can_fuse("tanh", ("float32",), "float32", {})
    assert not backend.can_fuse("tanh", ("float16",), "float16", {})  # no C type
    assert not backend.can_fuse("sin", ("float32",), "float32", {})  # declined
    assert not backend.can_fuse("divide", ("int32", "int32"), "int32", {})


@pytest.mark.parametrize(
    "source,target", [("float32", "int32"), ("float64", "float32"), ("bool", "float32"),
                      ("int64", "float64"), ("float32", "bool"), ("int32", "int8")]
)  # fmt: skip
def test_cast_matches_astype(source, target):
    rng = np.random.default_rng(0)
    x = sample(rng, SHAPE, source, "cast")
    if source.startswith("float") and target != "bool":
        x = np.nan_to_num(x, posinf=7, neginf=-7)  # out-of-range casts are undefined in C
    program = ElementwiseProgram(
        SHAPE, ((SHAPE, source),), (Step("cast", (0,), (("dtype", target),), target),), (1,)
    )
    np.testing.assert_array_equal(run_native(program, [x])[0], x.astype(target))


def test_where_and_a_multi_step_program_with_two_results():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(SHAPE), rng.standard_normal((64,))
    program = ElementwiseProgram(
        SHAPE,
        ((SHAPE, "float64"), ((64,), "float64")),
        (
            Step("greater", (0, 1), (), "bool"),
            Step("where", (2, 0, 1), (), "float64"),
            Step("multiply", (3, 3), (), "float64"),
        ),
        (2, 4),
    )
    mask, squared = run_native(program, [a, b])
    np.testing.assert_array_equal(mask, a > b)
    np.testing.assert_array_equal(squared, np.where(a > b, a, b) ** 2)


# -- layouts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shapes,expected",
    [
        ([(4, 5), ()], (0, ("full", "scalar"))),
        ([(4, 5), (5,)], (1, ("full", "row"))),
        ([(4, 5), (4, 1)], (1, ("full", "col"))),
        ([(2, 3, 4), (3, 4), (2, 1, 1)], (1, ("full", "row", "col"))),
        ([(2, 3, 4), (4,)], (2, ("full", "row"))),
        ([(2, 3, 4), (1, 3, 1)], None),  # broadcast along the middle axis only
    ],
)
def test_layout_splits_the_shape_so_every_input_has_a_kind(shapes, expected):
    program = ElementwiseProgram(
        shapes[0],
        tuple((s, "float32") for s in shapes),
        (Step("add", (0, 1), (), "float32"),),
        (2,),
    )
    plan = codegen.layout(program)
    assert (None if plan is None else (plan.split, plan.kinds)) == expected


def test_programs_without_a_layout_or_c_form_or_too_small_are_declined():
    middle = ElementwiseProgram(
        (2, 3, 4), (((2, 3, 4), "float32"), ((1, 3, 1), "float32")),
        (Step("add", (0, 1), (), "float32"),), (2,),
    )  # fmt: skip
    half = ElementwiseProgram(
        (64, 64), (((64, 64), "float16"),), (Step("neg", (0,), (), "float16"),), (1,)
    )
    small = ElementwiseProgram(
        (4,), (((4,), "float32"),), (Step("exp", (0,), (), "float32", "transcendental"),), (1,)
    )  # (a transcendental step: the loop's bits are not NumPy's)
    assert native.compile_elementwise([middle, half]) == [None, None]
    assert native.compile_elementwise([small]) == [None]  # below MIN_ELEMENTS


def test_small_programs_compile_when_exact_and_called_through_fastcall(monkeypatch):
    # (A loop's call then costs less than NumPy's calls: native.MIN_EXACT_ELEMENTS.)
    exact = ElementwiseProgram(
        (4,), (((4,), "float32"),), (Step("neg", (0,), (), "float32"),), (1,)
    )
    (loop,) = native.compile_elementwise([exact])
    assert (loop is not None) == fastcall.available()
    monkeypatch.setattr(fastcall, "bind", lambda *args, **kwargs: None)
    monkeypatch.setattr(fastcall, "available", lambda: False)
    assert native.compile_elementwise([exact]) == [None]


# -- memory ---------------------------------------------------------------------------------


def test_a_result_may_overwrite_an_input_it_reads():
    rng = np.random.default_rng(2)
    v, g, p = (rng.standard_normal(SHAPE).astype("float32") for _ in range(3))
    expected_v = np.float32(0.9) * v - np.float32(0.1) * g
    expected_p = p + expected_v
    program = ElementwiseProgram(
        SHAPE,
        (((), "float32"), (SHAPE, "float32"), ((), "float32"), (SHAPE, "float32"),
         (SHAPE, "float32")),
        (Step("multiply", (0, 1), (), "float32"), Step("multiply", (2, 3), (), "float32"),
         Step("subtract", (5, 6), (), "float32"), Step("add", (4, 7), (), "float32")),
        (7, 8),
    )  # fmt: skip
    new_v, new_p = run_native(program, [np.float32(0.9), v, np.float32(0.1), g, p], outs=(v, p))
    assert new_v is v and new_p is p
    np.testing.assert_array_equal(v, expected_v)
    np.testing.assert_array_equal(p, expected_p)


def test_non_contiguous_inputs_and_targets_are_handled():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((64, 48)).T  # a transposed view
    target = np.empty((64, 48)).T  # not C-contiguous: the loop allocates instead
    program = ElementwiseProgram(
        (48, 64), (((48, 64), "float64"),), (Step("neg", (0,), (), "float64"),), (1,)
    )
    (out,) = run_native(program, [a], outs=(target,))
    assert out is not target
    np.testing.assert_array_equal(out, -a)


# Views of a wider (or taller) matrix, as (rows, cols) = (40, 24) inputs: a loop over
# full inputs reads those whose rows are apart in place, row by row, and copies others.
VIEWS = {
    "column_block": lambda m: m[:40, 24:48],  # a gate of an RNN's split product
    "every_other_row": lambda m: m[:80:2, :24],
    "transposed": lambda m: m[:24, :40].T,  # columns apart: copied first
    "contiguous": lambda m: np.ascontiguousarray(m[:40, :24]),
}


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inputs_with_rows_apart_are_read_in_place(view, dtype):
    rng = np.random.default_rng(5)
    wide = rng.standard_normal((96, 96)).astype(dtype)
    other = rng.standard_normal((40, 24)).astype(dtype)
    a = VIEWS[view](wide)
    program = ElementwiseProgram(
        (40, 24),
        (((40, 24), dtype), ((), dtype), ((40, 24), dtype)),
        (Step("multiply", (0, 1), (), dtype), Step("add", (3, 2), (), dtype),
         Step("tanh", (0,), (), dtype)),
        (4, 5),
    )  # fmt: skip
    total, tanh = run_native(program, [a, np.asarray(1.5, dtype), other])
    np.testing.assert_array_equal(total, a * np.asarray(1.5, dtype) + other)
    np.testing.assert_allclose(tanh, np.tanh(a), rtol=1e-6)
    assert total.flags.c_contiguous and total.shape == (40, 24)


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("bias", [False, True], ids=["full_inputs", "with_a_row_input"])
def test_results_written_in_blocks_are_concatenations_along_the_last_axis(view, bias):
    # (A concatenation of loop results, handed to the loop: passes/concat_loops.py.)
    rng = np.random.default_rng(6)
    a = VIEWS[view](rng.standard_normal((96, 96)).astype("float32"))
    b = rng.standard_normal((24,) if bias else (40, 24)).astype("float32")
    program = ElementwiseProgram(
        (40, 24),
        (((40, 24), "float32"), (b.shape, "float32")),
        (Step("add", (0, 1), (), "float32"), Step("tanh", (2,), (), "float32"),
         Step("multiply", (0, 0), (), "float32")),
        ((3, 2, 4), 2),
    )  # fmt: skip
    assert codegen.layout(program).split == 1  # one row of every block per row
    joined, total = run_native(program, [a, b])
    assert joined.shape == (40, 72) and joined.flags.c_contiguous
    np.testing.assert_allclose(joined[:, :24], np.tanh(a + b), rtol=1e-6)
    np.testing.assert_array_equal(joined[:, 24:48], a + b)
    np.testing.assert_array_equal(joined[:, 48:], a * a)
    np.testing.assert_array_equal(total, a + b)
    destination = np.full((40, 72), np.nan, "float32")
    written, _ = run_native(program, [a, b], outs=(destination, None))
    assert written is destination
    np.testing.assert_array_equal(destination, joined)


@pytest.mark.parametrize("wide", ["contiguous", "column_block", "transposed"])
def test_inputs_given_as_column_blocks_of_wider_matrices_are_read_in_place(wide):
    # (The parts of a split, read by the loop: passes/split_loops.py.)
    rng = np.random.default_rng(7)
    base = rng.standard_normal((96, 96)).astype("float32")
    matrix = {
        "contiguous": np.ascontiguousarray(base[:40, :72]),
        "column_block": base[:40, 8:80],  # rows 96 apart
        "transposed": np.ascontiguousarray(base[:72, :40]).T,  # columns apart: copied
    }[wide]
    program = ElementwiseProgram(
        (40, 24),
        (((40, 24), "float32"), ((40, 24), "float32"), ((40, 24), "float32")),
        (Step("add", (0, 1), (), "float32"), Step("multiply", (3, 2), (), "float32")),
        (4,),
        offsets=(48, 0, None),
    )
    other = rng.standard_normal((40, 24)).astype("float32")
    (out,) = run_native(program, [matrix, matrix, other])
    np.testing.assert_array_equal(out, (matrix[:, 48:] + matrix[:, :24]) * other)


@pytest.mark.parametrize("wide", ["contiguous", "column_block", "transposed"])
def test_one_matrix_read_as_several_blocks_is_passed_once(wide):
    # (An LSTM step's gates: the projection and the product, four column blocks each.)
    rng = np.random.default_rng(8)
    base = rng.standard_normal((96, 96)).astype("float32")
    matrix = {
        "contiguous": np.ascontiguousarray(base[:40, :72]),
        "column_block": base[:40, 8:80],
        "transposed": np.ascontiguousarray(base[:72, :40]).T,  # copied once, read twice
    }[wide]
    steps = (Step("add", (0, 1), (), "float32"), Step("multiply", (3, 2), (), "float32"))
    block = ((40, 24), "float32")
    shared = ElementwiseProgram(
        (40, 24), (block, block, block), steps, (4,), offsets=(48, 0, 24), same_as=(None, 0, 0)
    )
    plan = codegen.layout(shared)
    assert codegen.shared_inputs(shared, plan) == {1: 0, 2: 0}
    source = codegen.function_source("nk", shared, plan)
    assert "const void* p0" in source and "const void* p1" not in source
    (out,) = run_native(shared, [matrix, matrix, matrix])
    np.testing.assert_array_equal(out, (matrix[:, 48:] + matrix[:, :24]) * matrix[:, 24:48])


# -- the toolchain --------------------------------------------------------------------------


def test_libraries_are_cached_on_disk_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("NERVE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(toolchain, "_loaded", {})
    program = ElementwiseProgram(
        (8, 8), (((8, 8), "float64"),), (Step("neg", (0,), (), "float64"),), (1,)
    )
    run_native(program, [np.ones((8, 8))])
    libraries = list((tmp_path / "kernels").glob("*.so"))
    assert len(libraries) == 1
    toolchain._loaded.clear()  # a new process: only the disk cache is left
    calls = []
    monkeypatch.setattr(toolchain, "_build", lambda *a: calls.append(a))
    np.testing.assert_array_equal(run_native(program, [np.ones((8, 8))])[0], -np.ones((8, 8)))
    assert calls == []


def test_a_build_failure_warns_and_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("NERVE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(toolchain, "_loaded", {})
    with pytest.warns(RuntimeWarning, match="failed to compile"):
        assert toolchain.load("this is not C;") is None
    assert not list((tmp_path / "kernels").glob("*.so*"))  # nothing half-written is left


def test_native_loops_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("NERVE_NATIVE", "0")
    program = ElementwiseProgram(
        SHAPE, ((SHAPE, "float32"),), (Step("neg", (0,), (), "float32"),), (1,)
    )
    assert native.compile_elementwise([program], min_elements=0) == [None]


# -- compiled graphs --------------------------------------------------------------------------


def test_a_compiled_graph_runs_one_loop_for_an_elementwise_chain():
    def chain(a, b):
        h = a
        for _ in range(5):
            h = ops.sigmoid(ops.tanh(h * b) + 1.0)
        return h

    rng = np.random.default_rng(4)
    a, b = (ops.convert_to_tensor(rng.standard_normal((64, 64)).astype("float32")) for _ in "ab")
    function = nerve.function(chain)
    graph = function.graph_for(a, b)
    assert graph.primitive_counts() == {"fused_elementwise": 1}
    np.testing.assert_allclose(function(a, b).numpy(), chain(a, b).numpy(), rtol=1e-5)
    report = function.profile(a, b)
    (row,) = report
    assert row["op"] == "fused_elementwise"
    assert row["steps"].split()[:4] == ["multiply", "tanh", "add", "sigmoid"]
    assert "multiply tanh add sigmoid" in str(report)


def test_an_mlp_training_step_updates_in_place_through_native_loops():
    rng = np.random.default_rng(5)
    w = nerve.Variable(rng.standard_normal((64, 128)).astype("float32") * 0.1)
    b = nerve.Variable(np.zeros(128, "float32"))
    velocity = [nerve.Variable(np.zeros(v.shape, "float32")) for v in (w, b)]
    x = ops.convert_to_tensor(rng.standard_normal((256, 64)).astype("float32"))

    def step(x):
        with nerve.GradientTape() as tape:
            loss = ops.mean(ops.square(ops.relu(x @ w + b)))
        grads = tape.gradient(loss, [w, b])
        for p, v, g in zip((w, b), velocity, grads):
            v.assign(0.9 * v - 0.1 * g)
            p.assign_add(v)
        return loss

    reference_state = [v.numpy().copy() for v in (w, b, *velocity)]
    compiled = nerve.function(step)
    losses = [compiled(x).numpy() for _ in range(3)]
    graph = compiled.graph_for(x)
    assert graph.primitive_counts()["fused_elementwise"] >= 2
    assert "k" in compiled.get_concrete_function(x).compiled.source
    buffers = id(w._value)
    compiled(x)
    assert id(w._value) == buffers  # written in place once the buffer is the graph's own

    # The same steps eagerly from the same start agree.
    for var, value in zip((w, b, *velocity), reference_state):
        var.assign(value)
    for expected in losses:
        np.testing.assert_allclose(step(x).numpy(), expected, rtol=1e-5)


def test_threaded_loops_compute_the_same_values(tmp_path):
    """``NERVE_NATIVE_THREADS=1`` builds with OpenMP and splits tiles across threads
    (a fresh process: the compiler probe and libgomp's wait policy are per process)."""
    import os
    import subprocess
    import sys

    script = """
import numpy as np
from nerve.backend.numpy_backend.native import compile_elementwise, toolchain
from nerve.backend.program import ElementwiseProgram, Step
shape = (300, 700)
p = ElementwiseProgram(shape, ((shape, "float64"), ((700,), "float64")),
    (Step("multiply", (0, 1), (), "float64"), Step("tanh", (2,), (), "float64")), (3,))
(loop,) = compile_elementwise([p])
x, b = np.random.default_rng(0).standard_normal(shape), np.linspace(-2, 2, 700)
np.save("out.npy", loop((x, b), (None,))[0])
print("-fopenmp" in toolchain.compiler()[1])
"""
    env = {**os.environ, "NERVE_NATIVE_THREADS": "1", "NERVE_CACHE_DIR": str(tmp_path)}
    env.pop("OMP_WAIT_POLICY", None)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    x = np.random.default_rng(0).standard_normal((300, 700))
    expected = np.tanh(x * np.linspace(-2, 2, 700))
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-14, atol=1e-15)
    if done.stdout.strip() != "True":
        pytest.skip("the compiler has no OpenMP (the loops ran single-threaded)")


def test_a_library_that_does_not_load_warns_and_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("NERVE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(toolchain, "_loaded", {})
    source = codegen.library_source(["int nv_unused(void) { return 0; }"], 16)
    key = toolchain.library_key(source, toolchain.compiler())
    folder = toolchain.cache_folder()
    body = b"not a shared library"  # signed, yet not loadable (a foreign system, say)
    tag = toolchain._digest(toolchain._secret(folder), key, body)
    (folder / f"{key}.so").write_bytes(body + tag)
    with pytest.warns(RuntimeWarning, match="failed to load"):
        assert toolchain.load(source) is None


# -- calls shared out among the cores a compiled run holds --------------------------------


def test_a_split_of_no_tiles_runs_nothing():
    # The two-core split called through the builtin cuts its tiles in C: with none to
    # run it writes nothing, with one it runs the whole loop. (Its guard against a cut
    # into zero parts, a division by zero, cannot be seen from here: the compiler may
    # assume the divisor nonzero.)
    from nerve.backend.numpy_backend.native import split_loops

    if not fastcall.available():
        pytest.skip("no fastcall builtin here")
    program = ElementwiseProgram(
        (4, 4), (((4, 4), "float32"),), (Step("neg", (0,), (), "float32"),), (1,)
    )
    (loop,) = native.compile_elementwise([program], min_elements=0)
    source, out = np.ones((4, 4), np.float32), np.full((4, 4), 7.0, np.float32)
    ints, objects = loop.arguments([source], [out])
    runner = split_loops.packed_runner(len(ints), len(objects))
    assert runner is not None
    runner((loop.packed, 0, len(ints), *ints), objects)
    np.testing.assert_array_equal(out, np.full((4, 4), 7.0, np.float32))
    runner((loop.packed, 1, len(ints), *ints), objects)  # (one tile: the whole 4x4)
    np.testing.assert_array_equal(out, -source)


def _record_splits(monkeypatch) -> list:
    """What held loops compiled from here on do when they run: ``"C"`` for each split
    from C (``split_loops``, through the builtin or ctypes), the thread count for each
    Python split (``threads.run_split``); every call still runs."""
    from nerve.backend.numpy_backend.native import split_loops, threads

    calls: list = []
    run_split, run_packed, runner = threads.run_split, split_loops.run, split_loops.packed_runner
    monkeypatch.setattr(threads, "run_split", lambda p, w: (calls.append(w), run_split(p, w)))
    monkeypatch.setattr(
        split_loops, "run", lambda *args: run_packed(*args) and not calls.append("C")
    )

    def recording_runner(*counts):  # (the builtin's split, made with the wrapper)
        split_run = runner(*counts)
        if split_run is None:
            return None
        return lambda ints, objects: (calls.append("C"), split_run(ints, objects))

    monkeypatch.setattr(split_loops, "packed_runner", recording_runner)
    return calls


def test_an_optimizer_update_of_a_mid_sized_kernel_is_shared_out(monkeypatch):
    # SGD momentum on a 512x256 kernel (velocity = m * velocity - lr * grad; kernel +=
    # velocity) is worth two cores: inside a held run its loop is split.
    from nerve.backend.numpy_backend.native import threads

    shape, f32 = (512, 256), "float32"
    program = ElementwiseProgram(
        shape,
        ((shape, f32), (shape, f32), (shape, f32), ((), f32), ((), f32)),  # w, v, g, m, lr
        (
            Step("multiply", (1, 3), (), f32),
            Step("multiply", (2, 4), (), f32),
            Step("subtract", (5, 6), (), f32),
            Step("add", (0, 7), (), f32),
        ),
        (8, 7),
    )
    assert math.prod(shape) * codegen.work_per_element(program) >= native.SPLIT_WORK
    monkeypatch.setattr(threads, "_held", [2])
    splits = _record_splits(monkeypatch)
    (loop,) = native.compile_elementwise([program], min_elements=0)
    if loop is None:
        pytest.skip("no native loops here")
    rng = np.random.default_rng(3)
    w, v, g = (rng.standard_normal(shape, dtype=np.float32) for _ in range(3))
    m, lr = np.float32(0.9), np.float32(0.01)
    new_w, new_v = loop([w, v, g, np.asarray(m), np.asarray(lr)], [None, None])
    assert splits == ["C"]  # on the two cores, from C
    np.testing.assert_array_equal(new_v, m * v - g * lr)
    np.testing.assert_array_equal(new_w, w + (m * v - g * lr))


@pytest.mark.parametrize("through", ["fastcall", "ctypes"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize(
    "shape, other",
    [((4099,), ()), ((37, 1100), (1100,)), ((37, 1100), (37, 1)), ((3, 5, 700), (5, 700))],
    ids=["flat", "row_input", "column_input", "three_axes"],
)
def test_large_loops_split_by_tiles_give_the_same_bits(
    shape, other, parts, dtype, through, monkeypatch
):
    from nerve.backend.numpy_backend.native import split_loops, threads

    if through == "fastcall" and not fastcall.available():
        pytest.skip("no fastcall builtin here")

    split_loops.allow_back_off(False)  # every two-core job shared with the C worker
    monkeypatch.setattr(split_loops, "allow_back_off", split_loops.allow_back_off)

    rng = np.random.default_rng(8)
    a = (rng.standard_normal(shape) * 1000).astype(dtype)
    b = (rng.standard_normal(other) * 1000).astype(dtype)
    # (An int64 scalar is an int64_t argument of the loop like its extents: its packed
    # entry must still read it from its array.)
    second = (
        Step("tanh", (2,), (), dtype) if dtype == "float32" else Step("multiply", (2, 0), (), dtype)
    )
    program = ElementwiseProgram(
        shape, ((shape, dtype), (other, dtype)), (Step("add", (0, 1), (), dtype), second), (3, 2)
    )
    (whole_loop,) = native.compile_elementwise([program], min_elements=0)
    whole = whole_loop([a, b], [None, None])
    monkeypatch.setattr(native, "SPLIT_WORK", 0)
    monkeypatch.setattr(threads, "_held", [parts])
    calls = _record_splits(monkeypatch)
    if through == "ctypes":  # the fused loop and its split through ctypes, not the builtin
        monkeypatch.setattr(fastcall, "bind", lambda *args, **kwargs: None)
        monkeypatch.setattr(split_loops, "_parts_runner", lambda total: None)
    (split_loop,) = native.compile_elementwise([program], min_elements=0)
    assert split_loop.fast == (through == "fastcall")
    split = split_loop([a, b], [None, None])
    # On two cores from C (split_loops).
    assert calls == (["C"] if parts == 2 else [parts])
    for x, y in zip(split, whole):
        np.testing.assert_array_equal(x, y)
    if not other:
        # A scalar input that is a NumPy scalar, not an array (what NumPy's kernels
        # return for 0-d operands), of the program's dtype or another: from C too, as
        # a 0-d array of the input's dtype (the entry reads its data pointer).
        for scalar in (b[()], b[()].astype("float64" if dtype == "float32" else "int32")):
            calls.clear()
            for x, y in zip(split_loop([a, scalar], [None, None]), whole):
                np.testing.assert_array_equal(x, y)
            assert calls == (["C"] if parts == 2 else [parts])
