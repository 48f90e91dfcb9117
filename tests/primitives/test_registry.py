"""The primitive registry's contract, and that the op tables exercise every primitive."""

import importlib.util
import pathlib

import pytest

import nerve
from nerve.backend import get_backend
from nerve.core.errors import BackendError
from nerve.primitives import PRIMITIVES, Aval, Primitive
from nerve.primitives import registry as registry_module
from nerve.testing.op_harness import (
    Input,
    OpCase,
    arrays_as_tensors,
    make_inputs,
    run_with_shape_rules,
)

TESTS = pathlib.Path(__file__).resolve().parent.parent
# Op tables live in tests/ops/; a few families keep theirs beside other tests.
TABLE_FILES = ("ops/test_*.py", "test_random.py")


def test_registry_is_populated():
    assert len(PRIMITIVES) > 20
    assert all(PRIMITIVES[name].name == name for name in PRIMITIVES)


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_primitive_has_vjp_or_is_declared_non_differentiable(name):
    prim = PRIMITIVES[name]
    if prim.differentiable:
        assert callable(prim.vjp), f"{name} is differentiable but has no vjp"
    else:
        assert prim.vjp is None, f"{name} is declared non-differentiable but has a vjp"
    assert callable(prim.shape_rule)


def test_missing_kernel_raises_backend_error():
    backend = get_backend("cpu")
    with pytest.raises(BackendError, match=r"'numpy' backend has no kernel 'no_such_kernel'"):
        backend.kernel("no_such_kernel")
    assert not backend.has_kernel("no_such_kernel")


def test_binding_a_primitive_without_kernel_raises_backend_error():
    prim = Primitive(
        "_test_registry_kernelless",
        shape_rule=lambda x: Aval(x.shape, x.dtype),
        differentiable=False,
    )
    try:
        with pytest.raises(BackendError, match="no kernel '_test_registry_kernelless'"):
            prim.bind(nerve.ops.ones((2,)))
    finally:
        del PRIMITIVES[prim.name]


def test_registration_contract():
    with pytest.raises(ValueError, match="registered twice"):
        Primitive("add", shape_rule=lambda x: x, differentiable=False)
    with pytest.raises(ValueError, match="differentiable but has no vjp"):
        Primitive("_test_registry_no_vjp", shape_rule=lambda x: x)
    assert "_test_registry_no_vjp" not in PRIMITIVES


def test_pop_interpreter_never_removes_the_base():
    if len(registry_module._interpreter) != 1:
        pytest.skip("another interpreter is installed")
    with pytest.raises(RuntimeError, match="without a matching push_interpreter"):
        registry_module.pop_interpreter()


# -- coverage: every primitive is bound by some op-table row ----------------------------

# Primitives that no op-table row binds in a forward pass, each with the reason.
# Keep this list short and current: test_allow_list_is_current fails on stale entries.
# The random_* primitives are reached by the CASES table of tests/test_random.py. A
# primitive bound only by vjp rules goes here, e.g.
#     "some_transpose_rule_p": "bound only by foo's vjp; see test_vjp_binds_satisfy_shape_rules",
ALLOWED_UNTESTED: dict[str, str] = {
    "read_variable": "graph-only state primitive; covered by tests/graph",
    "assign_variable": "graph-only state primitive; covered by tests/graph",
    "allreduce_start": "graph-only collective; covered by tests/graph and tests/distribution",
    "allreduce_wait": "graph-only collective; covered by tests/graph and tests/distribution",
    "frames": "bound by stft_parts' and overlap_add's vjps (the stft and istft rows' "
    "gradients); forward checked against NumPy in tests/primitives/test_nn.py",
}


def _load_cases():
    """Every op-test module's CASES table, by file (modules that don't exist yet are
    simply absent)."""
    tables, broken = {}, {}
    paths = sorted({p for pattern in TABLE_FILES for p in TESTS.glob(pattern)})
    for path in paths:
        spec = importlib.util.spec_from_file_location(f"_registry_cov_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # one broken table must not hide the others
            broken[path.name] = f"{type(error).__name__}: {error}"
            continue
        cases = getattr(module, "CASES", None)
        if cases:
            tables[path.name] = list(cases)
    return tables, broken


@pytest.fixture(scope="module")
def loaded_tables():
    return _load_cases()


@pytest.fixture(scope="module")
def case_tables(loaded_tables):
    return loaded_tables[0]


def test_op_tables_import(loaded_tables):
    broken = loaded_tables[1]
    assert not broken, "op-test modules failed to import:\n" + "\n".join(
        f"{name}: {why}" for name, why in broken.items()
    )


def _run_first_variant(case: OpCase):
    arrays = make_inputs(case, 0, case.dtypes[0])
    tensors = arrays_as_tensors(arrays)
    _, seen = run_with_shape_rules(lambda: case.fn(*tensors))
    return seen


@pytest.fixture(scope="module")
def forward_runs(case_tables):
    """Primitives bound by the first variant of every row, and the rows that failed."""
    bound: set = set()
    failures = []
    for file, cases in case_tables.items():
        for case in cases:
            if case.dtypes[0] == "bfloat16":
                pytest.importorskip("ml_dtypes")
            try:
                bound |= _run_first_variant(case)
            except Exception as error:  # report every broken row at once
                failures.append(f"{file}::{case.name}: {type(error).__name__}: {error}")
    return bound, failures


@pytest.fixture(scope="module")
def bound_primitives(forward_runs):
    return forward_runs[0]


def test_op_table_rows_satisfy_shape_rules(forward_runs):
    failures = forward_runs[1]
    assert not failures, "op-table rows failed their forward pass:\n" + "\n".join(failures)


def test_op_tables_exist(case_tables):
    assert "test_elementwise.py" in case_tables


def test_every_primitive_is_bound_by_some_op_table_row(bound_primitives):
    untested = set(PRIMITIVES) - bound_primitives - set(ALLOWED_UNTESTED)
    assert not untested, (
        f"{len(untested)} registered primitives are bound by no tests/ops row's forward pass: "
        f"{sorted(untested)}. Add a row (or, with a reason, an ALLOWED_UNTESTED entry)."
    )


def test_allow_list_is_current(bound_primitives):
    stale = {name for name in ALLOWED_UNTESTED if name in bound_primitives}
    unknown = {name for name in ALLOWED_UNTESTED if name not in PRIMITIVES}
    assert not stale, f"now covered by a row; remove from ALLOWED_UNTESTED: {sorted(stale)}"
    assert not unknown, f"not registered; remove from ALLOWED_UNTESTED: {sorted(unknown)}"


def test_vjp_binds_satisfy_shape_rules(case_tables):
    """The gradient of each differentiable row's first variant, run under the shape-rule
    checker: vjp rules bind primitives too, and the graph compiler trusts their rules."""
    failures = []
    for file, cases in case_tables.items():
        for case in cases:
            if not case.grad or case.dtypes[0] == "bfloat16":
                continue
            try:
                _run_gradient(case)
            except Exception as error:
                failures.append(f"{file}::{case.name}: {type(error).__name__}: {error}")
    assert not failures, "backward passes broke a shape rule:\n" + "\n".join(failures)


def _run_gradient(case: OpCase):
    arrays = make_inputs(case, 0, "float64")
    positions = [i for i, s in enumerate(case.variants[0]) if s.is_float and s.differentiable]
    if not positions:
        return

    def forward_and_backward():
        tensors = arrays_as_tensors(arrays)
        with nerve.GradientTape() as tape:
            tape.watch([tensors[p] for p in positions])
            out = case.fn(*tensors)
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            floats = [o for o in outs if o.dtype in ("float32", "float64")]
            total = None
            for o in floats:
                total = nerve.ops.sum(o) if total is None else total + nerve.ops.sum(o)
        if total is not None:
            tape.gradient(total, [tensors[p] for p in positions])

    run_with_shape_rules(forward_and_backward)


def test_coverage_checker_notices_a_missing_row():
    # The checker itself must be able to fail: a table with one row binds only that op.
    case = OpCase("negative", nerve.ops.negative, [(Input((2,)),)])
    assert _run_first_variant(case) == {"neg"}
