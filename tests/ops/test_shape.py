"""Shape and data-movement ops: one row per op; the harness does the checking."""

import numpy as np
import pytest

from nerve import ops
from nerve.core.errors import AxisError, ShapeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests


def _torch_pad(x, pairs, mode):
    """NumPy-style pad in torch: constant via F.pad, mirrors via flips and cats."""
    F = T.nn.functional
    if mode == "constant":
        flat = [v for lo_hi in reversed(pairs) for v in lo_hi]
        return F.pad(x, flat, value=1.5)
    for axis, (lo, hi) in enumerate(pairs):
        n = x.shape[axis]
        shift = 1 if mode == "reflect" else 0
        before = x.narrow(axis, shift, lo).flip(axis)
        after = x.narrow(axis, n - hi - shift, hi).flip(axis)
        x = T.cat([before, x, after], axis)
    return x


def _torch_repeat_each(x, counts, axis):
    return T.repeat_interleave(x, T.tensor(counts), dim=axis)


CASES = [
    OpCase(
        "reshape",
        lambda x: ops.reshape(x, (-1, 2)),
        [(Input((3, 4)),), (Input((2, 0)),), (Input((2,)),)],
        numpy=lambda x: np.reshape(x, (-1, 2)),
        torch=lambda x: x.reshape(-1, 2),
    ),
    OpCase(
        "reshape_scalar",
        lambda x: ops.reshape(x, (1, 1)),
        [(Input(()),)],
        numpy=lambda x: np.reshape(x, (1, 1)),
        torch=lambda x: x.reshape(1, 1),
        grad2=True,
    ),
    OpCase(
        "transpose",
        lambda x: ops.transpose(x, (2, 0, -2)),
        [(Input((2, 3, 4)),), (Input((1, 0, 3)),)],
        numpy=lambda x: np.transpose(x, (2, 0, 1)),
        torch=lambda x: x.permute(2, 0, 1),
        grad2=True,
    ),
    OpCase(
        "transpose_default",
        ops.transpose,
        [(Input((2, 3, 4)),), (Input((5,)),)],
        numpy=np.transpose,
        torch=lambda x: x.permute(*reversed(range(x.ndim))),
    ),
    OpCase(
        "expand_dims",
        lambda x: ops.expand_dims(x, (0, -1)),
        [(Input((2, 3)),), (Input(()),), (Input((0,)),)],
        numpy=lambda x: np.expand_dims(x, (0, -1)),
        torch=lambda x: x.unsqueeze(0).unsqueeze(-1),
    ),
    OpCase(
        "squeeze",
        ops.squeeze,
        [(Input((1, 3, 1)),), (Input((1,)),), (Input((0, 1)),)],
        numpy=np.squeeze,
        torch=lambda x: x.squeeze(),
    ),
    OpCase(
        "squeeze_axis",
        lambda x: ops.squeeze(x, -1),
        [(Input((1, 3, 1)),)],
        numpy=lambda x: np.squeeze(x, -1),
        torch=lambda x: x.squeeze(-1),
    ),
    OpCase(
        "broadcast_to",
        lambda x: ops.broadcast_to(x, (2, 3, 4)),
        [(Input((3, 1)),), (Input((4,)),), (Input(()),)],
        numpy=lambda x: np.broadcast_to(x, (2, 3, 4)),
        torch=lambda x: x.broadcast_to(2, 3, 4),
        grad2=True,
    ),
    OpCase(
        "concatenate",
        lambda a, b: ops.concatenate([a, b], axis=-1),
        [
            (Input((2, 3)), Input((2, 4))),
            (Input((2, 0)), Input((2, 1))),
            (Input((1, 1, 2)), Input((1, 1, 1))),
        ],
        numpy=lambda a, b: np.concatenate([a, b], axis=-1),
        torch=lambda a, b: T.cat([a, b], -1),
        grad2=True,
    ),
    OpCase(
        "concatenate_three_axis0",
        lambda a, b, c: ops.concatenate([a, b, c]),
        [(Input((1, 3)), Input((2, 3)), Input((0, 3)))],
        numpy=lambda a, b, c: np.concatenate([a, b, c]),
        torch=lambda a, b, c: T.cat([a, b, c], 0),
    ),
    OpCase(
        "concatenate_mixed_dtypes",
        lambda a, b: ops.concatenate([a, b], axis=0),
        [(Input((2,)), Input((3,), "int", -3, 3))],
        numpy=lambda a, b: np.concatenate([a, b.astype(a.dtype)]),
        torch=lambda a, b: T.cat([a, b.to(a.dtype)]),
    ),
    OpCase(
        "stack",
        lambda a, b: ops.stack([a, b], axis=-1),
        [(Input((2, 3)), Input((2, 3))), (Input(()), Input(())), (Input((0,)), Input((0,)))],
        numpy=lambda a, b: np.stack([a, b], axis=-1),
        torch=lambda a, b: T.stack([a, b], -1),
    ),
    OpCase(
        "split_sections",
        lambda x: ops.split(x, 3, axis=1),
        [(Input((2, 6)),), (Input((1, 3, 2)),)],
        numpy=lambda x: np.split(x, 3, axis=1),
        torch=lambda x: T.split(x, x.shape[1] // 3, dim=1),
        grad2=True,
    ),
    OpCase(
        "split_indices",
        lambda x: ops.split(x, [1, 3], axis=-1),
        [(Input((2, 5)),), (Input((4,)),)],
        numpy=lambda x: np.split(x, [1, 3], axis=-1),
        torch=lambda x: T.tensor_split(x, [1, 3], dim=-1),
    ),
    OpCase(
        "tile",
        lambda x: ops.tile(x, (2, 1, 3)),
        [(Input((2, 3)),), (Input((1, 2, 1)),), (Input(()),), (Input((0, 2)),)],
        numpy=lambda x: np.tile(x, (2, 1, 3)),
        torch=lambda x: x.tile((2, 1, 3)),
        grad2=True,
    ),
    OpCase(
        "repeat_int_axis",
        lambda x: ops.repeat(x, 2, axis=-2),
        [(Input((2, 3)),), (Input((1, 0)),)],
        numpy=lambda x: np.repeat(x, 2, axis=-2),
        torch=lambda x: T.repeat_interleave(x, 2, dim=-2),
    ),
    OpCase(
        "repeat_flat",
        lambda x: ops.repeat(x, 3),
        [(Input((2, 2)),), (Input(()),)],
        numpy=lambda x: np.repeat(x, 3),
        torch=lambda x: T.repeat_interleave(x, 3),
    ),
    OpCase(
        "repeat_per_element",
        lambda x: ops.repeat(x, [2, 0, 1], axis=1),
        [(Input((2, 3)),)],
        numpy=lambda x: np.repeat(x, [2, 0, 1], axis=1),
        torch=lambda x: _torch_repeat_each(x, [2, 0, 1], 1),
        grad2=True,
    ),
    OpCase(
        "pad_constant",
        lambda x: ops.pad(x, ((1, 0), (2, 3)), constant_values=1.5),
        [(Input((2, 3)),), (Input((0, 1)),)],
        numpy=lambda x: np.pad(x, ((1, 0), (2, 3)), constant_values=1.5),
        torch=lambda x: _torch_pad(x, ((1, 0), (2, 3)), "constant"),
        grad2=True,
    ),
    OpCase(
        "pad_reflect",
        lambda x: ops.pad(x, ((1, 2), (2, 1)), mode="reflect"),
        [(Input((3, 4)),), (Input((4, 3)),)],
        numpy=lambda x: np.pad(x, ((1, 2), (2, 1)), mode="reflect"),
        torch=lambda x: _torch_pad(x, ((1, 2), (2, 1)), "reflect"),
        grad2=True,
    ),
    OpCase(
        "pad_symmetric",
        lambda x: ops.pad(x, (2, 1), mode="symmetric"),
        [(Input((3, 2)),), (Input((2,)),)],
        numpy=lambda x: np.pad(x, (2, 1), mode="symmetric"),
        torch=lambda x: _torch_pad(x, [(2, 1)] * x.ndim, "symmetric"),
    ),
    OpCase(
        "pad_reflect_wide",  # pads wider than the axis mirror repeatedly, as NumPy does
        lambda x: ops.pad(x, (5, 4), mode="reflect"),
        [(Input((3,)),)],
        numpy=lambda x: np.pad(x, (5, 4), mode="reflect"),
    ),
    OpCase(
        "pad_symmetric_wide",
        lambda x: ops.pad(x, (5, 7), mode="symmetric"),
        [(Input((2,)),)],
        numpy=lambda x: np.pad(x, (5, 7), mode="symmetric"),
    ),
    OpCase(
        "flip",
        ops.flip,
        [(Input((2, 3)),), (Input(()),), (Input((0, 2)),)],
        numpy=np.flip,
        torch=lambda x: x.flip(list(range(x.ndim))),
    ),
    OpCase(
        "flip_axis",
        lambda x: ops.flip(x, axis=-1),
        [(Input((2, 3)),)],
        numpy=lambda x: np.flip(x, -1),
        torch=lambda x: x.flip(-1),
        grad2=True,
    ),
    OpCase(
        "roll",
        lambda x: ops.roll(x, -4, axis=1),
        [(Input((2, 3)),), (Input((1, 0)),)],
        numpy=lambda x: np.roll(x, -4, axis=1),
        torch=lambda x: T.roll(x, -4, 1),
    ),
    OpCase(
        "roll_flat",
        lambda x: ops.roll(x, 2),
        [(Input((2, 3)),), (Input(()),)],
        numpy=lambda x: np.roll(x, 2),
        torch=lambda x: T.roll(x, 2),
    ),
    OpCase(
        "roll_axes",
        lambda x: ops.roll(x, (1, -1), axis=(0, 2)),
        [(Input((2, 3, 4)),)],
        numpy=lambda x: np.roll(x, (1, -1), axis=(0, 2)),
        torch=lambda x: T.roll(x, (1, -1), (0, 2)),
    ),
    OpCase(
        "moveaxis",
        lambda x: ops.moveaxis(x, (0, -1), (2, 0)),
        [(Input((2, 3, 4)),)],
        numpy=lambda x: np.moveaxis(x, (0, -1), (2, 0)),
        torch=lambda x: T.movedim(x, (0, -1), (2, 0)),
    ),
    OpCase(
        "swapaxes",
        lambda x: ops.swapaxes(x, 0, -1),
        [(Input((2, 3, 4)),), (Input((0, 1)),)],
        numpy=lambda x: np.swapaxes(x, 0, -1),
        torch=lambda x: x.swapaxes(0, -1),
    ),
    OpCase(
        "ravel",
        ops.ravel,
        [(Input((2, 3)),), (Input(()),), (Input((0, 4)),)],
        numpy=np.ravel,
        torch=lambda x: x.ravel(),
    ),
]

CASES += [
    OpCase(
        "hstack",
        lambda a, b: ops.hstack([a, b]),
        [
            (Input((2, 1)), Input((2, 3))),
            (Input((3,)), Input((2,))),
            (Input((2, 0)), Input((2, 1))),
        ],
        numpy=lambda a, b: np.hstack([a, b]),
        torch=lambda a, b: T.hstack([a, b]),
        grad2=True,
    ),
    OpCase(
        "vstack",
        lambda a, b: ops.vstack([a, b]),
        [(Input((3,)), Input((2, 3))), (Input((1, 2)), Input((2, 2))), (Input(()), Input((1,)))],
        numpy=lambda a, b: np.vstack([a, b]),
        torch=lambda a, b: T.vstack([a, b]),
    ),
    OpCase(
        "unstack",
        lambda x: ops.unstack(x, axis=-1),
        [(Input((2, 3)),), (Input((0, 2)),), (Input((1,)),)],
        numpy=lambda x: list(np.moveaxis(x, -1, 0)),
        torch=lambda x: T.unbind(x, dim=-1),
        grad2=True,
    ),
    OpCase(
        "unstack_num",
        lambda x: ops.unstack(x, num=2, axis=0),
        [(Input((2, 3, 1)),)],
        numpy=lambda x: list(x),
        torch=lambda x: T.unbind(x, dim=0),
    ),
    *(
        OpCase(
            f"meshgrid_{indexing}",
            lambda a, b, c, i=indexing: ops.meshgrid(a, b, c, indexing=i),
            [(Input((3,)), Input((2,)), Input((4,))), (Input((1,)), Input((0,)), Input((2,)))],
            numpy=lambda a, b, c, i=indexing: np.meshgrid(a, b, c, indexing=i),
            torch=lambda a, b, c, i=indexing: T.meshgrid(a, b, c, indexing=i),
        )
        for indexing in ("xy", "ij")
    ),
    OpCase(
        "meshgrid_two",
        lambda a, b: ops.meshgrid(a, b),
        [(Input((3,)), Input((2,)))],
        numpy=lambda a, b: np.meshgrid(a, b),
        torch=lambda a, b: T.meshgrid(a, b, indexing="xy"),
    ),
    OpCase(
        "append_flat",
        ops.append,
        [(Input((2, 3)), Input((4,))), (Input(()), Input((0,)))],
        numpy=np.append,
        torch=lambda a, b: T.cat([a.reshape(-1), b.reshape(-1)]),
    ),
    OpCase(
        "append_axis",
        lambda a, b: ops.append(a, b, axis=-1),
        [(Input((2, 3)), Input((2, 1)))],
        numpy=lambda a, b: np.append(a, b, axis=-1),
        torch=lambda a, b: T.cat([a, b], dim=-1),
    ),
    OpCase(
        "kron",
        ops.kron,
        [
            (Input((2, 3)), Input((3, 2))),
            (Input((3,)), Input((2, 2))),  # ranks differ
            (Input((2, 0)), Input((1, 2))),
            (Input(()), Input((2,))),
        ],
        numpy=np.kron,
        torch=lambda a, b: T.kron(a, b),
        grad2=True,
    ),
]

globals().update(op_tests(CASES))


# -- errors -----------------------------------------------------------------------------


def test_concatenate_mismatch_names_op_and_shapes():
    with pytest.raises(ShapeError, match=r"concatenate: input shapes \(2, 3\) and \(4, 5\)"):
        ops.concatenate([ops.zeros((2, 3)), ops.zeros((4, 5))], axis=0)
    with pytest.raises(ShapeError, match=r"concatenate: .*\(2, 3\) and \(3,\)"):
        ops.concatenate([ops.zeros((2, 3)), ops.zeros((3,))])


def test_split_not_dividing_names_op_and_sizes():
    with pytest.raises(ShapeError, match=r"split: axis 1 of size 5 .*\(2, 5\).* 2 equal sections"):
        ops.split(ops.zeros((2, 5)), 2, axis=1)


def test_bad_pad_width_names_op_and_shape():
    with pytest.raises(ShapeError, match=r"pad: invalid pad_width .* shape \(2, 3\)"):
        ops.pad(ops.zeros((2, 3)), ((1, 1), (1, 1), (1, 1)))
    with pytest.raises(ShapeError, match=r"pad: invalid pad_width"):
        ops.pad(ops.zeros((2, 3)), ((1, -1), (0, 0)))
    with pytest.raises(ValueError, match=r"`constant_values` can only be provided when `mode =="):
        ops.pad(ops.ones((3,)), 1, mode="reflect", constant_values=0)
    with pytest.raises(ShapeError, match=r"non-negative integer or -1.*newshape=\(-2, 5\)"):
        ops.reshape(ops.ones((20,)), (-2, 5))
    with pytest.raises(ShapeError, match=r"at most one unknown dimension.*\(-1, -1, 5\)"):
        ops.reshape(ops.ones((20,)), (-1, -1, 5))
    with pytest.raises(ValueError, match=r"pad: mode must be one of"):
        ops.pad(ops.zeros((2,)), 1, mode="wrap")


def test_stack_shape_mismatch():
    with pytest.raises(ShapeError, match=r"stack: all inputs must have one shape"):
        ops.stack([ops.zeros((2,)), ops.zeros((3,))])


def test_repeat_count_mismatch():
    with pytest.raises(ShapeError, match=r"repeat: 2 repeat counts for axis 0 of size 3"):
        ops.repeat(ops.zeros((3,)), [1, 2], axis=0)


def test_bad_axis():
    with pytest.raises(AxisError, match=r"swapaxes: axis 3 is out of range"):
        ops.swapaxes(ops.zeros((2, 3)), 0, 3)


def test_pad_shorthands_match_numpy():
    x = np.arange(6.0).reshape(2, 3)
    for width in (1, (1, 2), [(1, 2)], ((0, 1), (2, 0))):
        np.testing.assert_array_equal(ops.pad(x, width).numpy(), np.pad(x, width))


def test_concatenate_axis_none_flattens():
    out = ops.concatenate([ops.ones((2, 2)), ops.zeros((3,))], axis=None)
    np.testing.assert_array_equal(out.numpy(), [1, 1, 1, 1, 0, 0, 0])


def test_unstack_num_mismatch_names_op_and_size():
    with pytest.raises(ShapeError, match=r"unstack: num=3 does not match axis 0 of size 2"):
        ops.unstack(ops.zeros((2, 4)), num=3)


def test_meshgrid_bad_indexing():
    with pytest.raises(ValueError, match=r"meshgrid: indexing must be 'xy' or 'ij', got 'yx'"):
        ops.meshgrid(ops.zeros((2,)), indexing="yx")
