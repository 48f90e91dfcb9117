"""The facts a primitive declares in its registration block are checked against its kernels.

Every op-table row runs under ``op_harness.check_contract`` (forward tests and the
registry's coverage run), so each declaration meets real kernels on real inputs. The
tests here show the checker fails on false declarations, and check the facts'
internal consistency.
"""

import numpy as np
import pytest

import nerve
from nerve.backend import get_backend
from nerve.primitives import PRIMITIVES, Primitive, rules
from nerve.primitives.registry import COST_CLASSES, Aval
from nerve.testing.op_harness import run_with_shape_rules

BACKEND = get_backend("cpu")


@pytest.fixture
def register():
    """Register test primitives (and backend kernels) for one test only."""
    names: list[str] = []

    def make(name, kernel_fn=None, **kwargs):
        if kernel_fn is not None:
            BACKEND._kernels[name] = kernel_fn
            BACKEND._graph_kernels[name] = kernel_fn
        names.append(name)
        return Primitive(name, differentiable=False, **kwargs)

    yield make
    for name in names:
        PRIMITIVES.pop(name, None)
        BACKEND._kernels.pop(name, None)
        BACKEND._graph_kernels.pop(name, None)


def _bind(prim, *arrays, **params):
    tensors = [nerve.ops.convert_to_tensor(a) for a in arrays]
    return run_with_shape_rules(lambda: prim.bind(*tensors, **params))[0]


def test_a_fresh_kernel_that_returns_a_view_fails(register):
    prim = register(
        "_facts_view", lambda x: x[::-1], shape_rule=rules.unary("_facts_view"), fresh=True
    )
    with pytest.raises(AssertionError, match=r"declared fresh.*shares memory with input 0"):
        _bind(prim, np.arange(6.0))


def test_a_fresh_kernel_that_caches_its_result_fails(register):
    cache = {}

    def cached(x):
        return cache.setdefault(x.shape, np.zeros(x.shape))

    prim = register("_facts_cached", cached, shape_rule=rules.unary_to("_facts", "float64"),
                    fresh=True)  # fmt: skip
    with pytest.raises(AssertionError, match="two calls return the same buffer"):
        _bind(prim, np.arange(6.0))


def test_an_elementwise_kernel_that_mixes_elements_fails(register):
    prim = register("_facts_cumsum", np.cumsum, shape_rule=rules.unary("_facts"), elementwise=True)
    with pytest.raises(AssertionError, match="declared elementwise"):
        _bind(prim, np.arange(1.0, 7.0))


def test_a_random_kernel_that_ignores_its_seed_fails(register):
    def draw(seed, shape, dtype):
        return np.random.default_rng(0).random(shape).astype(dtype)

    prim = register(
        "_facts_unseeded",
        draw,
        shape_rule=lambda seed, *, shape, dtype: Aval(shape, dtype),
        random=True,
    )
    with pytest.raises(AssertionError, match="another seed draws the same numbers"):
        _bind(prim, np.array([1, 2], dtype="int64"), shape=(32,), dtype="float32")


def test_a_kernel_that_is_not_deterministic_fails(register):
    rng = np.random.default_rng(0)
    prim = register(
        "_facts_noisy", lambda x: x + rng.random(x.shape), shape_rule=rules.unary("_facts")
    )
    with pytest.raises(AssertionError, match="a second call differs"):
        _bind(prim, np.arange(4.0))


def test_a_kernel_claiming_out_that_ignores_it_fails(register, monkeypatch):
    def negative(x, out=None):
        return np.negative(x)

    prim = register("_facts_out", negative, shape_rule=rules.unary("_facts"), elementwise=True)
    monkeypatch.setattr(BACKEND, "_out_kernels", BACKEND._out_kernels | {"_facts_out"})
    with pytest.raises(AssertionError, match=r"out= was not returned"):
        _bind(prim, np.arange(4.0))


def test_true_declarations_pass(register):
    prim = register(
        "_facts_square", lambda x: x * x, shape_rule=rules.unary("_facts"), elementwise=True
    )
    np.testing.assert_array_equal(_bind(prim, np.arange(4.0)).numpy(), [0, 1, 4, 9])


# -- consistency of the declarations themselves ---------------------------------------------


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_declared_facts_are_consistent(name):
    prim = PRIMITIVES[name]
    assert prim.cost in COST_CLASSES
    if prim.elementwise:
        assert prim.fresh and not prim.multiple_results and not prim.effect
    else:
        assert prim.cost == "arithmetic", "a cost class is for elementwise primitives"
    if prim.effect:
        assert not (prim.fresh or prim.random)


def test_elementwise_rules_broadcast():
    for prim in PRIMITIVES.values():
        if not prim.elementwise or prim.name in ("cast", "where"):
            continue
        dtype = "bool" if prim.name.startswith("logical") else "int32"
        if prim.name in ("divide", "power") or prim.name not in _INTEGER_FRIENDLY:
            dtype = "float32"
        if prim.name in ("real", "imag"):  # parts of a complex value
            dtype = "complex64"
        n_inputs = 2 if prim.shape_rule.__code__.co_argcount == 2 else 1
        avals = [Aval((3, 1), dtype), Aval((4,), dtype)][:n_inputs]
        expected = (3, 4) if n_inputs == 2 else (3, 1)
        assert tuple(prim.shape_rule(*avals).shape) == expected, prim.name


_INTEGER_FRIENDLY = {
    "add", "subtract", "multiply", "maximum", "minimum", "bitwise_and", "bitwise_or",
    "bitwise_xor", "left_shift", "right_shift", "floor_divide", "mod",
}  # fmt: skip


def test_the_fused_loop_primitive_declares_its_facts():
    from nerve.graph.passes.fuse import fused_elementwise

    assert fused_elementwise.fresh and not fused_elementwise.elementwise
    assert not fused_elementwise.random and not fused_elementwise.effect
