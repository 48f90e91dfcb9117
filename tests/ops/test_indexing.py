"""Indexing, gather/scatter and sorting ops: one row per op; the harness does the checking."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import AxisError, DTypeError, NerveError, ShapeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests


def item(key):
    """A getitem row's function: the same key for nerve, NumPy and torch."""
    return lambda x: x[key]


def getitem_case(name, key, shapes, grad2=False, torch=None):
    return OpCase(
        f"getitem_{name}",
        lambda x: ops.convert_to_tensor(x)[key],
        [(Input(s),) for s in shapes],
        numpy=item(key),
        torch=torch or item(key),
        grad2=grad2,
    )


def _np_scatter(indices, values, shape):
    out = np.zeros(shape, values.dtype)
    np.add.at(out, tuple(np.moveaxis(indices, -1, 0)), values)
    return out


def _torch_scatter(indices, values, shape):
    index = tuple(indices.long().unbind(-1))
    return T.zeros(shape, dtype=values.dtype).index_put(index, values, accumulate=True)


def _np_scatter_update(x, indices, updates):
    out = x.copy()
    out[tuple(np.moveaxis(indices, -1, 0))] = updates
    return out


def _np_scatter_reduce(x, indices, updates, reduction):
    out = x.copy()
    ufunc = {"add": np.add, "max": np.maximum, "min": np.minimum, "mul": np.multiply}[reduction]
    ufunc.at(out, tuple(np.moveaxis(indices, -1, 0)), updates)
    return out


SCATTER_AT = np.array([[0, 1], [2, 3], [0, 1]])  # (0, 1) twice: the reduction combines both


def _np_segment_max(data, ids, n):
    out = np.full((n, *data.shape[1:]), -np.inf)
    np.maximum.at(out, ids, data)
    return out


def _torch_segment_max(data, ids, n):
    index = ids.long().reshape(-1, *([1] * (data.ndim - 1))).expand(data.shape)
    start = T.full((n, *data.shape[1:]), -float("inf"), dtype=data.dtype)
    return start.scatter_reduce(0, index, data, "amax", include_self=False)


def _np_one_hot(x, n):
    return (x[..., None] == np.arange(n)).astype(np.float32)


SEGMENT_IDS = Input((5,), "index", high=3)
SEGMENTS = [2, 0, 1, 0, 2]  # every segment non-empty, so finite differences are defined

CASES = [
    getitem_case("int", 1, [(3, 4), (2,)], grad2=True),
    getitem_case("negative_int", (-1, -2), [(3, 4)]),
    getitem_case("slice", np.s_[1:, ::2], [(3, 4), (1, 5), (0, 3)]),
    getitem_case(
        "negative_step",
        np.s_[::-1, -1:0:-2],
        [(3, 4), (2, 5)],
        grad2=True,
        torch=lambda x: x.flip(0).flip(1)[:, :-1:2],  # torch has no negative steps
    ),
    getitem_case("newaxis_ellipsis", np.s_[None, ..., 1, None], [(2, 3, 4), (3, 2)]),
    getitem_case("ellipsis_only", np.s_[...], [(2, 3)]),
    getitem_case("int_list_duplicates", [0, 2, 0, -3], [(3, 4), (3,)], grad2=True),
    getitem_case("array_with_slices", np.s_[:, [1, -1, 1], 1:], [(2, 4, 3)]),
    getitem_case("separated_arrays", np.s_[[0, 1], :, [2, 2]], [(2, 3, 4)], grad2=True),
    getitem_case(
        "int_and_array_separated",  # NumPy puts the advanced axis first; torch does not
        np.s_[0, :, [1, 0]],
        [(2, 3, 4)],
        torch=lambda x: x[0][:, [1, 0]].T,
    ),
    getitem_case("adjacent_arrays", np.s_[:, [[0], [1]], [0, 2, 1]], [(2, 3, 4)]),
    getitem_case("empty_index", np.s_[[], 1], [(3, 2)]),
    OpCase(
        "getitem_index_tensor",
        lambda x, i: x[:, i],
        [(Input((3, 4)), Input((2, 5), "int", -4, 4)), (Input((2, 3)), Input((), "index", high=3))],
        numpy=lambda x, i: x[:, i],
        torch=lambda x, i: x[:, i.long()],
        grad2=True,
    ),
    OpCase(
        "getitem_bool_mask",
        lambda x, m: x[m],
        [(Input((3, 4)), Input((3, 4), "bool")), (Input((3, 4)), Input((3,), "bool"))],
        numpy=lambda x, m: x[m],
        torch=lambda x, m: x[m],
        compiled=False,  # boolean-mask indexing: the output size depends on the mask's values
        symbolic=False,  # the output's shape depends on the input's values
    ),
    OpCase(
        "getitem_mask_and_slice",
        lambda x, m: x[1:, m],
        [(Input((3, 4)), Input((4,), "bool"))],
        numpy=lambda x, m: x[1:, m],
        torch=lambda x, m: x[1:, m],
        compiled=False,  # boolean-mask indexing: the output size depends on the mask's values
        symbolic=False,  # the output's shape depends on the input's values
    ),
    OpCase(
        "take",
        lambda x, i: ops.take(x, i, axis=-1),
        [
            (Input((3, 4)), Input((2, 3), "int", -4, 4)),
            (Input((2, 0)), Input((0,), "index", high=1)),
            (Input((2, 3)), Input((), "index", high=3)),
        ],
        numpy=lambda x, i: np.take(x, i, axis=-1),
        torch=lambda x, i: x[..., i.long()],
        grad2=True,
    ),
    OpCase(
        "take_rows",  # an embedding lookup: its gradient adds rows, many ids repeat
        lambda x, i: ops.take(x, i, axis=0),
        [
            (Input((6, 3)), Input((4, 5), "int", -6, 6)),
            (Input((5, 2, 2)), Input((7,), "index", high=5)),
        ],
        numpy=lambda x, i: np.take(x, i, axis=0),
        torch=lambda x, i: x[i.long()],
        grad2=True,
    ),
    OpCase(
        "take_flat",
        lambda x, i: ops.take(x, i),
        [(Input((3, 4)), Input((7,), "index", high=12))],
        numpy=lambda x, i: np.take(x, i),
        torch=lambda x, i: T.take(x, i.long()),
    ),
    OpCase(
        "take_along_axis",
        lambda x, i: ops.take_along_axis(x, i, axis=1),
        [
            (Input((3, 4)), Input((3, 6), "index", high=4)),
            (Input((2, 3, 2)), Input((2, 1, 2), "index", high=3)),
            (Input((1, 3)), Input((4, 2), "index", high=3)),  # broadcasting the other axis
        ],
        numpy=lambda x, i: np.take_along_axis(x, i, axis=1),
        torch=lambda x, i: T.take_along_dim(x, i.long(), 1),
        grad2=True,
    ),
    OpCase(
        "take_along_axis_flat",
        lambda x, i: ops.take_along_axis(x, i, axis=None),
        [(Input((2, 3)), Input((4,), "index", high=6))],
        numpy=lambda x, i: np.take_along_axis(x.ravel(), i, axis=0),
        torch=lambda x, i: T.take_along_dim(x, i.long()),
    ),
    OpCase(
        "scatter",
        lambda i, v: ops.scatter(i, v, (3, 4)),
        [
            (Input((6, 2), "index", high=3), Input((6,))),  # duplicates are summed
            (Input((2, 1), "index", high=3), Input((2, 4))),  # whole rows
            (Input((2, 2, 2), "index", high=3), Input((2, 2))),
        ],
        numpy=lambda i, v: _np_scatter(i, v, (3, 4)),
        torch=lambda i, v: _torch_scatter(i, v, (3, 4)),
        grad2=True,
    ),
    OpCase(
        "scatter_update",
        lambda x, u: ops.scatter_update(x, [[0, 1], [2, 3], [1, 0]], u),
        [(Input((3, 4)), Input((3,)))],
        numpy=lambda x, u: _np_scatter_update(x, np.array([[0, 1], [2, 3], [1, 0]]), u),
        torch=lambda x, u: x.index_put((T.tensor([0, 2, 1]), T.tensor([1, 3, 0])), u),
        grad2=True,
    ),
    OpCase(
        "scatter_update_rows",
        lambda x, u: ops.scatter_update(x, [[2], [0]], u),
        [(Input((3, 2)), Input((2, 2)))],
        numpy=lambda x, u: _np_scatter_update(x, np.array([[2], [0]]), u),
        torch=lambda x, u: x.index_put((T.tensor([2, 0]),), u),
    ),
    *(
        OpCase(
            f"scatter_update_{reduction}",
            lambda x, u, reduction=reduction: ops.scatter_update(x, SCATTER_AT, u, reduction),
            [(Input((3, 4)), Input((3,)))],
            numpy=lambda x, u, reduction=reduction: _np_scatter_reduce(x, SCATTER_AT, u, reduction),
        )
        for reduction in ("add", "max", "min", "mul")
    ),
    OpCase(
        "segment_sum_negative_ids",  # rows with id -1 are dropped, as in Keras
        lambda d: ops.segment_sum(d, [0, -1, 2, -1], num_segments=3),
        [(Input((4, 2)),)],
        numpy=lambda d: _np_segment_sum(d[[0, 2]], np.array([0, 2]), 3),
    ),
    OpCase(
        "slice",
        lambda x: ops.slice(x, (1, 0, 2), (2, -1, 1)),
        [(Input((3, 2, 4)),)],
        numpy=lambda x: x[1:3, 0:, 2:3],
        torch=lambda x: x[1:3, 0:, 2:3],
    ),
    OpCase(
        "slice_update",
        lambda x, u: ops.slice_update(x, (1, 2), u),
        [(Input((3, 5)), Input((2, 2))), (Input((3, 5)), Input((0, 3)))],
        numpy=lambda x, u: _np_slice_update(x, (1, 2), u),
        torch=lambda x, u: _torch_slice_update(x, (1, 2), u),
        grad2=True,
    ),
    OpCase(
        "segment_sum",
        lambda d, s: ops.segment_sum(d, s, num_segments=4),
        [(Input((5,)), SEGMENT_IDS), (Input((5, 2)), SEGMENT_IDS)],
        numpy=lambda d, s: _np_segment_sum(d, s, 4),
        torch=lambda d, s: T.zeros((4, *d.shape[1:]), dtype=d.dtype).index_add(0, s, d),
        grad2=True,
    ),
    OpCase(
        "segment_sum_inferred",
        lambda d: ops.segment_sum(d, [0, 0, 2]),
        [(Input((3, 2)),)],
        numpy=lambda d: _np_segment_sum(d, np.array([0, 0, 2]), 3),
        compiled=False,  # num_segments is inferred from the data
        symbolic=False,  # num_segments=None: the output's shape depends on the ids' values
    ),
    OpCase(
        "segment_max",
        lambda d: ops.segment_max(d, SEGMENTS, num_segments=3),
        [(Input((5,)),), (Input((5, 2)),)],
        numpy=lambda d: _np_segment_max(d, np.array(SEGMENTS), 3),
        torch=lambda d: _torch_segment_max(d, T.tensor(SEGMENTS), 3),
        grad2=True,
    ),
    OpCase(
        "segment_max_empty_segment",
        lambda d, s: ops.segment_max(d, s, num_segments=4),  # segment 3 stays empty: -inf
        [(Input((5,)), SEGMENT_IDS), (Input((5, 2)), SEGMENT_IDS)],
        numpy=lambda d, s: _np_segment_max(d, s, 4),
        torch=lambda d, s: _torch_segment_max(d, s, 4),
        grad=False,
    ),
    OpCase(
        "one_hot",
        lambda x: ops.one_hot(x, 4),
        [
            (Input((3,), "index", high=4),),
            (Input((2, 3), "index", high=4),),
            (Input((0,), "index"),),
        ],
        numpy=lambda x: _np_one_hot(x, 4),
        torch=lambda x: T.nn.functional.one_hot(x.long(), 4),
        grad=False,
    ),
    OpCase(
        "one_hot_axis0",
        lambda x: ops.one_hot(x, 3, axis=0, dtype="int32"),
        [(Input((2, 4), "int", -1, 4),)],  # out-of-range classes give all-zero columns
        numpy=lambda x: np.moveaxis(_np_one_hot(x, 3), -1, 0).astype(np.int32),
        grad=False,
    ),
    OpCase(
        "triu",
        lambda x: ops.triu(x, k=1),
        [(Input((3, 4)),), (Input((2, 3, 3)),), (Input((0, 2)),)],
        numpy=lambda x: np.triu(x, 1),
        torch=lambda x: T.triu(x, 1),
        grad2=True,
    ),
    OpCase(
        "tril",
        lambda x: ops.tril(x, k=-1),
        [(Input((3, 4)),), (Input((4, 2)),)],
        numpy=lambda x: np.tril(x, -1),
        torch=lambda x: T.tril(x, -1),
    ),
    OpCase(
        "diag_vector",
        lambda x: ops.diag(x, k=-1),
        [(Input((3,)),), (Input((0,)),)],
        numpy=lambda x: np.diag(x, -1),
        torch=lambda x: T.diag(x, -1),
        grad2=True,
    ),
    OpCase(
        "diag_matrix",
        lambda x: ops.diag(x, k=1),
        [(Input((3, 4)),), (Input((1, 1)),)],
        numpy=lambda x: np.diag(x, 1),
        torch=lambda x: T.diag(x, 1),
    ),
    OpCase(
        "diagonal",
        lambda x: ops.diagonal(x, offset=-1, axis1=-1, axis2=0),
        [(Input((3, 2, 4)),), (Input((2, 2)),)],
        numpy=lambda x: np.diagonal(x, -1, -1, 0),
        torch=lambda x: T.diagonal(x, -1, -1, 0),
        grad2=True,
    ),
    OpCase(
        "nonzero",
        ops.nonzero,
        [(Input((3, 4), "bool"),), (Input((5,), "int", -1, 2),), (Input((0, 2), "bool"),)],
        numpy=np.nonzero,
        torch=lambda x: T.nonzero(x, as_tuple=True),
        grad=False,
        compiled=False,  # the output size depends on the input's values
        symbolic=False,  # the output's shape depends on the input's values
    ),
    OpCase(
        "sort",
        lambda x: ops.sort(x, axis=0),
        [(Input((4, 3)),), (Input((0, 2)),), (Input((1,)),)],
        numpy=lambda x: np.sort(x, axis=0),
        torch=lambda x: T.sort(x, dim=0).values,
        grad2=True,
    ),
    OpCase(
        "sort_int",
        ops.sort,
        [(Input((3, 5), "int", -3, 3),)],
        numpy=np.sort,
        torch=lambda x: T.sort(x).values,
    ),
    OpCase(
        "argsort",
        lambda x: ops.argsort(x, axis=-1),
        [(Input((3, 5)),), (Input((4, 6), "int", 0, 3),)],  # ties: stable order
        numpy=lambda x: np.argsort(x, axis=-1, kind="stable"),
        torch=lambda x: T.argsort(x, dim=-1, stable=True),
        grad=False,
    ),
    OpCase(
        "argsort_flat",
        lambda x: ops.argsort(x, axis=None),
        [(Input((3, 2)),)],
        numpy=lambda x: np.argsort(x, axis=None),
        torch=lambda x: T.argsort(x.ravel()),
        grad=False,
    ),
    OpCase(
        "top_k",
        lambda x: ops.top_k(x, 3),
        [(Input((2, 5)),), (Input((3,)),)],
        numpy=lambda x: _np_top_k(x, 3),
        torch=lambda x: tuple(T.topk(x, 3)),
        grad2=True,
    ),
]


def _np_slice_update(x, start, u):
    out = x.copy()
    out[tuple(slice(s, s + n) for s, n in zip(start, u.shape))] = u
    return out


def _torch_slice_update(x, start, u):
    out = x.clone()
    out[tuple(slice(s, s + n) for s, n in zip(start, u.shape))] = u
    return out


def _np_segment_sum(data, ids, n):
    out = np.zeros((n, *data.shape[1:]), data.dtype)
    np.add.at(out, ids, data)
    return out


def _np_top_k(x, k):
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, -1), order.astype(np.int32)


SORTED = Input((6,), "int", -3, 4)  # ints: exact ties exercise side="left"/"right"


def _sorted(a):
    return ops.sort(a) if isinstance(a, nerve.Tensor) else np.sort(a)


CASES += [
    *(
        OpCase(
            f"searchsorted_{side}",
            lambda a, v, s=side: ops.searchsorted(ops.sort(a), v, side=s),
            [
                (SORTED, Input((3, 4), "int", -4, 5)),
                (Input((5,)), Input((2, 3))),
                (Input((0,)), Input((3,))),
                (Input((4,)), Input(())),
            ],
            numpy=lambda a, v, s=side: np.searchsorted(np.sort(a), v, side=s),
            torch=lambda a, v, s=side: T.searchsorted(T.sort(a).values, v, side=s).int(),
            grad=False,
        )
        for side in ("left", "right")
    ),
    OpCase(
        "digitize",
        lambda x, b: ops.digitize(x, ops.sort(b)),
        [
            (Input((3, 4), "int", -4, 5), SORTED),
            (Input((5,)), Input((3,))),
            (Input(()), Input((2,))),
        ],
        numpy=lambda x, b: np.digitize(x, np.sort(b)),
        torch=lambda x, b: T.bucketize(x, T.sort(b).values, right=True).int(),
        grad=False,
    ),
    OpCase(
        "bincount",
        ops.bincount,
        [(Input((7,), "index", high=4),), (Input((1,), "index", high=3),)],
        numpy=np.bincount,
        torch=lambda x: T.bincount(x).int(),
        grad=False,
        dtypes=("float32",),
        compiled=False,  # the output length is max(x) + 1, a data-dependent size
        symbolic=False,  # the output's shape depends on the input's values
    ),
    OpCase(
        "bincount_weights_minlength",
        lambda x, w: ops.bincount(x, weights=w, minlength=6),
        [
            (Input((7,), "index", high=4), Input((7,))),
            (Input((0,), "index", high=4), Input((0,))),
        ],
        numpy=lambda x, w: np.bincount(x, weights=w, minlength=6),
        torch=lambda x, w: T.bincount(x, weights=w, minlength=6),
        torch_grad=False,  # torch has no bincount derivative
        grad2=True,
        compiled=False,  # the output length depends on max(x)
        symbolic=False,  # the output's shape depends on the input's values
    ),
    OpCase(
        "bincount_2d",
        lambda x, w: ops.bincount(x, weights=w),
        [(Input((2, 5), "index", high=4), Input((2, 5)))],
        numpy=lambda x, w: np.stack(
            [np.bincount(r, weights=q, minlength=x.max() + 1) for r, q in zip(x, w)]
        ),
        torch=lambda x, w: T.stack(
            [T.bincount(r, weights=q, minlength=int(x.max()) + 1) for r, q in zip(x, w)]
        ),
        torch_grad=False,
        compiled=False,  # the output length is max(x) + 1, a data-dependent size
        symbolic=False,  # the output's shape depends on the input's values
    ),
]

globals().update(op_tests(CASES))


# -- focused checks ----------------------------------------------------------------------


def test_gradient_accumulates_duplicate_indices():
    x = nerve.Variable([1.0, 2.0, 3.0])
    with nerve.GradientTape() as tape:
        y = ops.sum(x[[0, 0, 2, 0]] * ops.convert_to_tensor([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [7.0, 0.0, 3.0])


def test_getitem_on_variable_records_gradient():
    v = nerve.Variable([[1.0, 2.0], [3.0, 4.0]])
    with nerve.GradientTape() as tape:
        y = ops.sum(v[1] * v[:, 0])
    np.testing.assert_array_equal(v[-1, ::-1].numpy(), [4.0, 3.0])
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [[3.0, 0.0], [5.0, 3.0]])


def test_iterating_a_tensor_uses_getitem():
    rows = list(ops.reshape(ops.arange(6), (3, 2)))
    assert [r.numpy().tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]


def test_out_of_range_int_names_axis_index_and_size():
    with pytest.raises(AxisError, match=r"getitem: index 3 is out of range for axis 1 with size 3"):
        ops.zeros((2, 3))[0, 3]
    with pytest.raises(IndexError, match=r"index -3 is out of range for axis 0 with size 2"):
        ops.zeros((2, 3))[-3]


def test_out_of_range_index_tensor_is_explained():
    with pytest.raises(
        NerveError, match=r"getitem.*index 5 is out of bounds for axis 0 with size 3"
    ):
        ops.take(ops.zeros((3,)), [0, 5])


def test_too_many_indices():
    with pytest.raises(AxisError, match=r"getitem: too many indices for a tensor of shape \(2,\)"):
        ops.zeros((2,))[0, 0]


def test_bad_index_types():
    with pytest.raises(DTypeError, match=r"getitem: index tensors must be integers or booleans"):
        ops.zeros((2,))[ops.convert_to_tensor([0.0])]
    with pytest.raises(TypeError, match=r"getitem: invalid index"):
        ops.zeros((2,))["a"]
    with pytest.raises(ShapeError, match=r"getitem: boolean mask of shape \(3,\) does not match"):
        ops.zeros((2, 3))[ops.convert_to_tensor([True, False, True])]


def test_setitem_is_refused():
    with pytest.raises(TypeError, match="immutable"):
        ops.zeros((2,))[0] = 1.0


def test_scatter_update_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="scatter_update: Unsupported reduction: 'sum'"):
        ops.scatter_update(ops.zeros((3,)), [[0]], [1.0], reduction="sum")


@pytest.mark.parametrize("x", [np.array([3, 4, 2, 1]), np.array([[3, 4, 2], [1, 3, 4]])])
def test_argpartition_without_axis_partitions_the_flattened_tensor(x):
    flat = x.ravel()
    order = ops.argpartition(x, 1, axis=None).numpy()
    kth = np.sort(flat)[1]
    assert order.shape == flat.shape and flat[order[1]] == kth
    assert (flat[order[:1]] <= kth).all() and (flat[order[2:]] >= kth).all()


def test_scatter_update_shape_error():
    with pytest.raises(ShapeError, match=r"scatter_update: updates of shape \(2,\) do not fit"):
        ops.scatter_update(ops.zeros((3, 4)), [[0, 1]], [1.0, 2.0])
    with pytest.raises(ShapeError, match=r"scatter: .*expected updates of shape \(1, 4\)"):
        ops.scatter([[0]], [1.0], (3, 4))


def test_slice_out_of_bounds():
    with pytest.raises(ShapeError, match=r"slice: a block of shape \(2, 2\) at \(2, 0\)"):
        ops.slice(ops.zeros((3, 3)), (2, 0), (2, 2))


def test_top_k_sorted_descending_and_indices_int32():
    values, indices = ops.top_k(ops.convert_to_tensor([[3, 1, 4, 1, 5]], "uint8"), 2)
    assert values.numpy().tolist() == [[5, 4]] and indices.dtype == "int32"


@pytest.mark.parametrize("op", [ops.segment_sum, ops.segment_max, ops.segment_prod])
@pytest.mark.parametrize(
    "data,ids,match",
    [
        # Keras's messages (its tests match them): one 1-D id per row of data.
        (np.ones((4, 2)), [0, 1, 1], r"and `data` should have same leading dim.*\(3,\)"),
        (np.ones((0,)), [0, 0, 1, 1], r"and `data` should have same leading dimension"),
        (np.ones((2, 2, 3)), [[0, 0], [1, 1]], r"should be an 1-D vector, got shape \(2, 2\)"),
    ],
)
def test_segment_ids_must_be_one_per_row(op, data, ids, match):
    with pytest.raises(ShapeError, match=rf"{op.__name__}: Argument `segment_ids` {match}"):
        op(data, ids)


def test_nonzero_rejects_scalars():
    with pytest.raises(ShapeError, match=r"nonzero: needs a tensor of rank 1 or more"):
        ops.nonzero(1.0)


@pytest.mark.parametrize("shape,kth,axis", [((7,), 3, -1), ((3, 5), -1, 1), ((4, 2), 0, 0)])
def test_argpartition_partitions(shape, kth, axis):
    x = np.random.default_rng(0).standard_normal(shape)
    indices = ops.argpartition(x, kth, axis=axis)
    assert indices.dtype == "int32"
    parted = np.take_along_axis(x, indices.numpy(), axis)
    expected = np.take_along_axis(x, np.argpartition(x, kth, axis=axis), axis)
    kth_values = np.take(parted, [kth], axis)
    np.testing.assert_array_equal(kth_values, np.take(expected, [kth], axis))
    position = np.arange(shape[axis]).reshape([-1 if a == axis % len(shape) else 1
                                               for a in range(len(shape))])  # fmt: skip
    k = kth % shape[axis]
    assert np.all(np.where(position < k, parted <= kth_values, parted >= kth_values))


def test_search_and_count_errors_name_the_op():
    with pytest.raises(
        ShapeError, match=r"searchsorted: sorted_sequence must be 1-D, got shape \(2, 2\)"
    ):
        ops.searchsorted(ops.zeros((2, 2)), ops.zeros((3,)))
    with pytest.raises(ValueError, match=r"searchsorted: side must be 'left' or 'right'"):
        ops.searchsorted(ops.zeros((2,)), ops.zeros((3,)), side="middle")
    with pytest.raises(ValueError, match=r"bincount: x must hold non-negative integers"):
        ops.bincount([1, -1])
    with pytest.raises(DTypeError, match=r"bincount: indices must be integers"):
        ops.bincount([1.5])
    with pytest.raises(ShapeError, match=r"bincount: weights of shape \(2,\) must match x"):
        ops.bincount([0, 1, 1], weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"argpartition: kth=5 is out of range for axis 0"):
        ops.argpartition(ops.zeros((3,)), 5)


def test_one_hot_casts_float_labels_as_keras_does():
    # Keras's TensorFlow and PyTorch backends cast labels to integers (truncating toward
    # zero, as torch's .long() does); its NumPy backend fails on float indices.
    labels = np.array([[0.0, 2.0, 1.0], [2.9, -0.5, 3.0]], "float32")
    classes = T.tensor(labels).long().numpy()  # [[0, 2, 1], [2, 0, 3]]
    expected = (classes[..., None] == np.arange(3)).astype("float32")
    for dtype in ["float16", "float32", "float64"]:
        out = ops.one_hot(labels.astype(dtype), 3)
        assert out.dtype == "float32"
        np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(
        ops.one_hot([2.0, 0.0], 3, axis=0).numpy(), [[0, 1], [0, 0], [1, 0]]
    )
    with pytest.raises(DTypeError, match=r"one_hot.*bool"):
        ops.one_hot(np.array([True, False]), 2)
