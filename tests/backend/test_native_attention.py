"""The C loops of ``attention_rows`` and ``attention_rows_grad`` (``native/attention.py``)
give the bits of the NumPy kernels' steps (the einsums and softmax kernels the unfused
graph runs), pair by pair or shared out among held cores, and decline what they do not
take. Their rewrite of graphs is checked in tests/graph/test_attention.py."""

import numpy as np
import pytest

from nerve.backend import numpy_backend
from nerve.backend.numpy_backend.native import attention, split_loops
from nerve.backend.numpy_backend.native import threads as threads_module

pytestmark = pytest.mark.skipif(
    not attention.available("float32"), reason="no C compiler or no sgemm: the loops never run"
)

#: (B, T, S, H, D, E): odd sizes, T != S, D != E, rows past one pairwise block of 128.
SHAPES = [(1, 1, 1, 1, 1, 1), (2, 5, 7, 3, 4, 6), (3, 130, 9, 2, 8, 8), (2, 16, 140, 4, 32, 16)]


@pytest.fixture
def numpy_kernels(monkeypatch):
    """The backend's attention kernels without the attention loops: the unfused steps
    (whose softmax still runs its own C loop, as in the unfused graph)."""
    monkeypatch.setattr(attention, "_functions", lambda: None)
    table = numpy_backend.nn.kernels(np)
    return table["attention_rows"], table["attention_rows_grad"]


def _operands(shape, seed):
    batch, steps, keys, heads, depth, value_depth = shape
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((batch, steps, heads, depth)).astype("float32")
    k = rng.standard_normal((batch, keys, heads, depth)).astype("float32")
    v = rng.standard_normal((batch, keys, heads, value_depth)).astype("float32")
    g = rng.standard_normal((batch, steps, heads, value_depth)).astype("float32")
    return q, k, v, g


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [None, 0.375])
def test_c_and_numpy_kernels_give_the_same_bits(request, shape, scale):
    q, k, v, g = _operands(shape, sum(shape))
    o, p = attention.attention(q, k, v, scale)
    grads = attention.attention_grad(g, q, k, v, p, scale)
    forward, backward = request.getfixturevalue("numpy_kernels")
    assert not attention.available("float32")
    want_o, want_p = forward(q, k, v, scale=scale)
    np.testing.assert_array_equal(o, want_o)
    np.testing.assert_array_equal(p, want_p)
    for got, want in zip(grads, backward(g, q, k, v, want_p, scale=scale)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("scale", [None, 0.5])
@pytest.mark.parametrize("cores", [2, 3])
def test_pairs_shared_out_among_held_cores_give_the_same_bits(monkeypatch, cores, scale):
    """On two cores from C (``split_loops``), on more by nerve's Python threads."""
    q, k, v, g = _operands((3, 20, 20, 4, 8, 8), cores)
    o, p = attention.attention(q, k, v, scale)
    grads = attention.attention_grad(g, q, k, v, p, scale)
    monkeypatch.setattr(threads_module, "_held", [cores])
    from_c = []
    run_parts = split_loops.run_parts
    monkeypatch.setattr(
        split_loops, "run_parts", lambda *args: from_c.append(1) or run_parts(*args)
    )
    o2, p2 = attention.attention(q, k, v, scale)
    np.testing.assert_array_equal(o2, o)
    np.testing.assert_array_equal(p2, p)
    for got, want in zip(attention.attention_grad(g, q, k, v, p, scale), grads):
        np.testing.assert_array_equal(got, want)
    assert len(from_c) == (2 if cores == 2 else 0)


def test_strided_operands_are_read_as_their_values():
    q, k, v, g = _operands((2, 6, 6, 2, 4, 4), 3)
    wide = np.concatenate([q, q], axis=-1)[..., :4]  # rows apart: copied to C order
    np.testing.assert_array_equal(
        attention.attention(wide, k, v, None)[0], attention.attention(q, k, v, None)[0]
    )


def test_what_the_loops_do_not_take_is_declined():
    q, k, v, g = _operands((1, 4, 4, 2, 4, 4), 0)
    assert attention.attention(q.astype("float64"), k, v, None) is None
    assert attention.attention(q, k[:, :, :1], v, None) is None  # heads differ
    assert attention.attention(q[..., :3], k, v, None) is None  # depths differ
    p = np.full((1, 2, 4, 4), 0.25, "float32")
    assert attention.attention_grad(g[..., :3], q, k, v, p, None) is None
    assert attention.attention_grad(g, q, k, v, p[:, :1], None) is None
    assert not attention.available("float64")


def test_column_blocks_of_a_wider_product_are_read_in_place(monkeypatch):
    """q, k and v as views of one (B, T, 3 * H * D) array (their rows 3 * H * D apart):
    the bits of contiguous copies, without copying them."""
    batch, steps, heads, depth = 2, 9, 2, 4
    packed = np.random.default_rng(4).standard_normal((batch, steps, 3 * heads * depth))
    packed = packed.astype("float32")
    q, k, v = (
        packed[..., j * heads * depth : (j + 1) * heads * depth].reshape(batch, steps, heads, depth)
        for j in range(3)
    )
    g = np.ones((batch, steps, heads, depth), "float32")
    copies = [np.ascontiguousarray(x) for x in (q, k, v)]
    o, p = attention.attention(*copies, 0.5)
    grads = attention.attention_grad(g, *copies, p, 0.5)
    copied = []
    monkeypatch.setattr(np, "ascontiguousarray", lambda x: copied.append(x) or x.copy())
    o2, p2 = attention.attention(q, k, v, 0.5)
    grads2 = attention.attention_grad(g, q, k, v, p2, 0.5)
    assert not any(x is q or x is k or x is v for x in copied)
    for got, want in zip((o2, p2, *grads2), (o, p, *grads)):
        np.testing.assert_array_equal(got, want)
