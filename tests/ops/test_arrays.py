"""Array building and rearranging (nerve/ops/arrays.py): one op-harness row per op;
``unique``'s options, ``vectorize`` and errors below."""

import numpy as np
import pytest

from nerve import ops
from nerve.core.errors import ShapeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests


def _np_split_parts(fn, *args):
    return lambda x: tuple(fn(x, *args))


def _np_cross(a, b, **kw):
    # NumPy 2 deprecates 2-vectors in cross: pad them with a zero z (the same product).
    if not kw and a.shape[-1] == 2 and b.shape[-1] == 3:
        a = np.concatenate([a, np.zeros_like(a[..., :1])], axis=-1)
    return np.cross(a, b, **kw)


def _t_cross(a, b, dim=-1):
    return T.linalg.cross(a, b, dim=dim)


def _t_vander(x, n, increasing):
    powers = T.stack([x**j for j in range(n)], dim=1)
    return powers if increasing else T.flip(powers, [1])


CASES = [
    OpCase("array", lambda x: ops.array(x), [(Input((3, 4)),)], numpy=np.array, torch=T.clone),
    OpCase(
        "empty_like",
        lambda x: ops.empty_like(x) * 0,
        [(Input((2, 3)),)],
        numpy=lambda x: np.zeros_like(x),
        grad=False,
    ),
    OpCase(
        "get_item",
        lambda x: ops.get_item(x, (slice(1, None), 0)),
        [(Input((3, 4)),)],
        numpy=lambda x: x[1:, 0],
        torch=lambda x: x[1:, 0],
    ),
    *[
        OpCase(
            f"array_split_{sections}",
            lambda x, s=sections: tuple(ops.array_split(x, s, axis=1)),
            [(Input((2, 7)),)],
            numpy=_np_split_parts(np.array_split, sections, 1),
            torch=lambda x, s=sections: T.tensor_split(x, s, dim=1),
        )
        for sections in (3, 7, [2, 5])
    ],
    OpCase(
        "hsplit",
        lambda x: tuple(ops.hsplit(x, 2)),
        [(Input((3, 4)),), (Input((6,)),)],
        numpy=_np_split_parts(np.hsplit, 2),
        torch=lambda x: T.hsplit(x, 2),
    ),
    OpCase(
        "vsplit",
        lambda x: tuple(ops.vsplit(x, [1])),
        [(Input((3, 4)),)],
        numpy=_np_split_parts(np.vsplit, [1]),
        torch=lambda x: T.vsplit(x, [1]),
    ),
    OpCase(
        "dsplit",
        lambda x: tuple(ops.dsplit(x, 2)),
        [(Input((2, 3, 4)),)],
        numpy=_np_split_parts(np.dsplit, 2),
        torch=lambda x: T.dsplit(x, 2),
    ),
    OpCase(
        "dstack",
        lambda a, b: ops.dstack([a, b]),
        [
            (Input((3,)), Input((3,))),
            (Input((2, 3)), Input((2, 3))),
            (Input((2, 3, 1)), Input((2, 3, 2))),
        ],
        numpy=lambda a, b: np.dstack([a, b]),
        torch=lambda a, b: T.dstack([a, b]),
    ),
    OpCase(
        "diagflat",
        lambda x: ops.diagflat(x, k=-1),
        [(Input((2, 2)),), (Input((3,)),)],
        numpy=lambda x: np.diagflat(x, k=-1),
        torch=lambda x: T.diagflat(x, offset=-1),
    ),
    OpCase("fliplr", ops.fliplr, [(Input((3, 4)),)], numpy=np.fliplr, torch=T.fliplr),
    OpCase(
        "flipud", ops.flipud, [(Input((3, 4)),), (Input((5,)),)], numpy=np.flipud, torch=T.flipud
    ),
    *[
        OpCase(
            f"rot90_k{k}_{axes[0]}{axes[1]}",
            lambda x, k=k, a=axes: ops.rot90(x, k=k, axes=a),
            [(Input((2, 3, 4)),)],
            numpy=lambda x, k=k, a=axes: np.rot90(x, k=k, axes=a),
            torch=lambda x, k=k, a=axes: T.rot90(x, k, list(a)),
        )
        for k, axes in ((1, (0, 1)), (2, (1, 2)), (3, (2, 0)), (-1, (-1, 0)), (4, (0, 1)))
    ],
    OpCase(
        "select",
        lambda x, a, b: ops.select([x < -0.5, x > 0.5], [a, b], default=-1.0),
        [(Input((3, 4)), Input((3, 4)), Input((3, 4))), (Input((4,)), Input(()), Input((4,)))],
        numpy=lambda x, a, b: np.select([x < -0.5, x > 0.5], [a, b], default=-1.0),
    ),
    OpCase(
        "unique_values",
        lambda x: ops.unique(x),
        [(Input((4, 5), "int", 0, 6),), (Input((0,), "int"),)],
        numpy=np.unique,
        compiled=False,  # the result's length depends on the values
        symbolic=False,  # the output's shape depends on the input's values
    ),
    OpCase(
        "unique_all_outputs",
        lambda x: ops.unique(x, return_index=True, return_inverse=True, return_counts=True),
        [(Input((3, 5), "int", 0, 4),)],
        numpy=lambda x: np.unique(x, return_index=True, return_inverse=True, return_counts=True),
        compiled=False,  # the result's length depends on the values
        symbolic=False,  # the output's shape depends on the input's values
    ),
    OpCase(
        "unique_axis",
        lambda x: ops.unique(x, axis=0, return_inverse=True, return_counts=True),
        [(Input((6, 2), "int", 0, 2),)],
        numpy=lambda x: np.unique(x, axis=0, return_inverse=True, return_counts=True),
        compiled=False,  # the result's length depends on the values
        symbolic=False,  # the output's shape depends on the input's values
    ),
    OpCase(
        "unique_float",  # distinct values: the gradient flows through the gather
        lambda x: ops.unique(x),
        [(Input((8,)),)],
        numpy=np.unique,
        compiled=False,  # the result's length depends on the values
        symbolic=False,  # the output's shape depends on the input's values
    ),
    OpCase(
        "unravel_index",
        lambda i: ops.unravel_index(i, (3, 4, 5)),
        [(Input((2, 3), "int", 0, 60),), (Input((), "int", 0, 60),)],
        numpy=lambda i: np.unravel_index(i, (3, 4, 5)),
        torch=lambda i: T.unravel_index(i, (3, 4, 5)),
    ),
    *[
        OpCase(
            f"vander_{tag}",
            lambda x, n=n, inc=inc: ops.vander(x, N=n, increasing=inc),
            [(Input((4,)),)],
            numpy=lambda x, n=n, inc=inc: np.vander(x, N=n, increasing=inc),
            # torch.vander's backward trips over its own in-place writes; its definition.
            torch=lambda x, n=n, inc=inc: _t_vander(x, n or len(x), inc),
            grad2=True,
        )
        for tag, n, inc in (("default", None, False), ("n6_increasing", 6, True), ("n1", 1, False))
    ],
    OpCase(
        "vander_int",
        lambda x: ops.vander(x),
        [(Input((4,), "int", -3, 4),)],
        numpy=np.vander,
    ),
    OpCase(
        "geomspace",
        lambda a, b: ops.geomspace(a, b, num=5),
        [
            (Input((), "positive"), Input((), "positive")),
            (Input((2,), "positive"), Input((2,), "positive")),
        ],
        numpy=lambda a, b: np.geomspace(a, b, num=5),
    ),
    OpCase(
        "geomspace_negative_open",
        lambda a, b: ops.geomspace(-a, -b, num=4, endpoint=False, axis=-1),
        [(Input((3,), "positive"), Input((3,), "positive"))],
        numpy=lambda a, b: np.geomspace(-a, -b, num=4, endpoint=False, axis=-1),
    ),
    *[
        OpCase(
            f"cross_{tag}",
            lambda a, b, kw=kw: ops.cross(a, b, **kw),
            [(Input(sa), Input(sb))],
            numpy=lambda a, b, kw=kw: _np_cross(a, b, **kw),
            torch=(lambda a, b, kw=kw: _t_cross(a, b, kw.get("axis", -1))) if torch_ok else None,
        )
        for tag, sa, sb, kw, torch_ok in (
            ("3d", (4, 3), (4, 3), {}, True),
            ("broadcast", (2, 1, 3), (4, 3), {}, False),
            ("axis0", (3, 5), (3, 5), {"axis": 0}, True),
            ("axes_abc", (3, 2), (2, 3), {"axisa": 0, "axisb": 1, "axisc": 0}, False),
            ("2d_3d", (4, 2), (4, 3), {}, False),
        )
    ],
    *[
        OpCase(
            f"view_{tag}",
            lambda x, d=dtype: ops.view(x, d),
            [(Input(shape, kind, dtype=fixed),)],
            # The harness hands references float64 copies of float inputs.
            numpy=lambda x, f=fixed, d=dtype: x.astype(f).view(d),
            grad=False,  # a reinterpretation of bits has no derivative
            dtypes=("float32",),  # every input has a fixed dtype
        )
        for tag, shape, kind, fixed, dtype in (
            ("same_size", (3, 4), "float", "float32", "uint32"),
            ("to_bytes", (2, 3), "float", "float64", "uint8"),
            ("half_to_int32", (3, 4), "float", "float16", "int32"),
            ("int8_to_float32", (2, 8), "int", "int8", "float32"),
            ("int16_to_bfloat16", (5,), "int", "int16", "bfloat16"),
            ("scalar", (), "int", "int32", "float32"),
            ("empty", (0, 4), "int", "uint8", "int16"),
        )
    ],
    *[
        OpCase(
            f"rearrange_{tag}",
            lambda x, p=pattern, kw=kw: ops.rearrange(x, p, **kw),
            [(Input((2, 4, 6, 3)),)],
            numpy=lambda x, p=pattern, kw=kw: _np_rearrange(x, p, **kw),
        )
        for tag, pattern, kw in (
            ("permute", "b h w c -> b c h w", {}),
            ("space_to_depth", "b (h h1) (w w1) c -> b h w (c h1 w1)", {"h1": 2, "w1": 3}),
            ("merge", "b h w c -> (b h) (w c)", {}),
            ("split_first", "b h (w w1) c -> w1 b c h w", {"w": 2}),
        )
    ],
]

globals().update(op_tests(CASES))


def _np_rearrange(x, pattern, **sizes):
    """The patterns above, written out in NumPy."""
    b, h, w, c = x.shape
    if pattern == "b h w c -> b c h w":
        return x.transpose(0, 3, 1, 2)
    if pattern.startswith("b (h h1)"):
        h1, w1 = sizes["h1"], sizes["w1"]
        blocks = x.reshape(b, h // h1, h1, w // w1, w1, c).transpose(0, 1, 3, 5, 2, 4)
        return blocks.reshape(b, h // h1, w // w1, c * h1 * w1)
    if pattern == "b h w c -> (b h) (w c)":
        return x.reshape(b * h, w * c)
    split = x.reshape(b, h, sizes["w"], w // sizes["w"], c)
    return split.transpose(3, 0, 4, 1, 2)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("start,stop", [(1.0, 1000.0), (-0.5, -10.5)])
def test_geomspace_gives_the_dtype_asked_for(dtype, start, stop):
    out = ops.geomspace(start, stop, num=5, dtype=dtype)
    assert out.dtype == dtype
    np.testing.assert_allclose(
        out.numpy().astype("float64"), np.geomspace(start, stop, num=5), rtol=1e-2
    )


def test_cross_of_two_2d_vectors_is_the_z_component():
    a, b = np.array([[1.0, 2.0], [3.0, 1.0]]), np.array([[4.0, 5.0], [1.0, 1.0]])
    np.testing.assert_allclose(ops.cross(a, b).numpy(), a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])


@pytest.mark.parametrize(
    "size,fill,expected_values,expected_counts",
    [
        (5, None, [1, 2, 3, 1, 1], [1, 2, 1, 0, 0]),
        (5, -7, [1, 2, 3, -7, -7], [1, 2, 1, 0, 0]),
        (2, None, [1, 2], [1, 2]),
    ],
)
def test_unique_size_pads_or_truncates(size, fill, expected_values, expected_counts):
    values, counts = ops.unique([3, 2, 1, 2], size=size, fill_value=fill, return_counts=True)
    assert values.numpy().tolist() == expected_values
    assert counts.numpy().tolist() == expected_counts


def test_unique_pads_indices_with_the_first_values_index_as_jax():
    rows = [[1, 0], [0, 1], [1, 0], [2, 2], [0, 1]]
    values, index, inverse, counts = ops.unique(
        rows, axis=0, return_index=True, return_inverse=True, return_counts=True, size=5,
        fill_value=-1,
    )  # fmt: skip
    assert values.numpy().tolist() == [[0, 1], [1, 0], [2, 2], [-1, -1], [-1, -1]]
    assert index.numpy().tolist() == [1, 0, 3, 1, 1]
    assert inverse.numpy().tolist() == [1, 0, 1, 2, 0]
    assert counts.numpy().tolist() == [2, 2, 1, 0, 0]


@pytest.mark.parametrize(
    "signature,args,expected",
    [
        (None, ([1.0, 2.0], 10.0), [21.0, 22.0]),
        ("(n),(n)->()", (np.ones((2, 3)), np.arange(3.0)), [3.0, 3.0]),
        ("(n)->(n)", (np.arange(4.0).reshape(2, 2),), [[1.0, 0.0], [3.0, 2.0]]),
    ],
)
def test_vectorize(signature, args, expected):
    functions = {
        None: lambda a, b: a + 2 * b,
        "(n),(n)->()": lambda a, b: ops.sum(a * b),
        "(n)->(n)": lambda a: ops.flip(a),
    }
    vectorized = ops.vectorize(functions[signature], signature=signature)
    np.testing.assert_allclose(vectorized(*args).numpy(), expected)


def test_vectorize_excluded_arguments_pass_unchanged():
    vectorized = ops.vectorize(lambda a, scale: a * len(scale), excluded={1})
    np.testing.assert_allclose(vectorized(np.ones(3), "abc").numpy(), [3.0, 3.0, 3.0])


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: ops.rot90(np.ones(3)), ValueError, "at least 2"),
        (lambda: ops.rot90(np.ones((2, 2)), axes=(1, 1)), ValueError, "different"),
        (lambda: ops.rot90(np.ones((2, 2)), axes=(0, 1, 2)), ValueError, "two axes"),
        (lambda: ops.fliplr(np.ones(3)), ShapeError, "rank >= 2"),
        (lambda: ops.vsplit(np.ones(4), 2), ShapeError, "rank >= 2"),
        (lambda: ops.dsplit(np.ones((2, 2)), 2), ShapeError, "rank >= 3"),
        (lambda: ops.array_split(np.ones(4), 0), ValueError, "positive"),
        (lambda: ops.select([np.ones(2) > 0], [np.ones(2), np.ones(2)]), ValueError, "pair"),
        (lambda: ops.select(np.ones(2) > 0, np.ones(2)), TypeError, "lists"),
        (lambda: ops.cross(np.ones(4), np.ones(4)), ValueError, "length 2 or 3"),
        (lambda: ops.vander(np.ones((2, 2))), ValueError, "1-D"),
        (lambda: ops.geomspace(0.0, 1.0), ValueError, "nonzero"),
        (lambda: ops.unravel_index(np.ones(2), (2, 2)), TypeError, "integers"),
        (lambda: ops.vectorize(lambda a: a, signature="n->")(np.ones(2)), ValueError, "signature"),
        (lambda: ops.rearrange(np.ones((2, 3)), "a b c -> c b a"), ValueError, "names 3"),
        (lambda: ops.rearrange(np.ones((2, 3)), "a b -> a c"), ValueError, "same axes"),
        (lambda: ops.rearrange(np.ones((2, 3)), "a b"), ValueError, "one '->'"),
        (lambda: ops.rearrange(np.ones((2, 6)), "a (b c) -> a b c"), ValueError, "unknown"),
        (lambda: ops.rearrange(np.ones((2, 6)), "a (b c) -> a b c", b=4), ValueError, "split"),
        (lambda: ops.rearrange(np.ones((2, 6)), "a b! -> a b"), ValueError, "cannot read"),
        (lambda: ops.view(np.ones((2, 3), "int8"), "int16"), ShapeError, "not a multiple of 2"),
        (lambda: ops.view(np.float32(1.0), "int16"), ShapeError, "cannot view a scalar"),
        (lambda: ops.view(np.ones(2), "float8"), TypeError, "view: Unsupported dtype"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
