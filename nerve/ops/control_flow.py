"""Control flow: ``cond``, ``while_loop``, ``fori_loop`` and ``scan`` (Keras 3 names).

Eagerly (no ``nerve.function`` trace active) they are plain Python ``if`` and
``for``/``while`` loops over ops, so a ``GradientTape`` differentiates whatever ran.

Inside ``nerve.function`` a predicate or trip count may have no value yet, so the
branches and bodies are traced into sub-graphs (*programs*) and the whole
construct becomes one ``cond`` / ``while_loop`` / ``scan`` node whose kernel runs
the right program at run time: one trace serves every runtime value. Tensors a
branch or body uses from outside (closures, variables) become extra operands of
that node, so gradients reach them. ``cond`` and ``scan`` (hence ``fori_loop``
with a static trip count) are differentiable when traced; ``while_loop`` is not.

Sub-graphs are traced by ``nerve.graph.programs`` (the graph layer sits below
``nerve.ops``); this module decides when to trace and builds the nodes.

>>> import nerve
>>> from nerve import ops
>>> f = nerve.function(lambda x: ops.cond(ops.sum(x) > 0, lambda: x * 2.0, lambda: -x))
>>> f(ops.ones((2,))).numpy(), f(-ops.ones((2,))).numpy(), f.trace_count
(array([2., 2.], dtype=float32), array([1., 1.], dtype=float32), 1)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from nerve import tensor as tensor_module
from nerve.backend import backend_of
from nerve.core import tree
from nerve.core.errors import ShapeError, with_location
from nerve.graph.programs import ProgramBuilder
from nerve.ops._convert import require_bool, tensor
from nerve.primitives.control_flow import cond_p, scan_p, while_p
from nerve.primitives.registry import Aval
from nerve.tensor import Tensor

__all__ = [
    "associative_scan",
    "cond",
    "fori_loop",
    "map",
    "scan",
    "switch",
    "vectorized_map",
    "while_loop",
]

_staged_depth = 0


@contextlib.contextmanager
def staged() -> Iterator[None]:
    """Run control flow as its primitives even eagerly, the way traced code runs it
    (sub-graph programs, one ``cond``/``while_loop``/``scan`` node). For tests and
    debugging: it lets the eager op-test harness check those primitives' gradients.

    >>> from nerve import ops
    >>> with staged():
    ...     float(ops.fori_loop(0, 3, lambda i, x: x + 1.0, ops.convert_to_tensor(0.0)))
    3.0
    """
    global _staged_depth
    _staged_depth += 1
    try:
        yield
    finally:
        _staged_depth -= 1


def _tracing() -> bool:
    """Build sub-graph primitives (inside ``nerve.function``, or under ``staged``)."""
    return bool(tensor_module._trace_hooks) or _staged_depth > 0


# -- helpers ------------------------------------------------------------------------------


def _aval_of(x: Any) -> Aval:
    return Aval(tuple(x.shape), x.dtype)


def _tensors(op: str, what: str, structure: Any) -> tuple[list, Callable]:
    leaves, rebuild = tree.flatten(structure)
    out = []
    for leaf in leaves:
        if leaf is None:
            raise TypeError(with_location(f"{op}: {what} contains None; pass tensors."))
        out.append(tensor(leaf))
    return out, rebuild


def _structure_of(structure: Any) -> Any:
    leaves, rebuild = tree.flatten(structure)
    return rebuild(["*" if leaf is not None else None for leaf in leaves])


def _scalar_bool(op: str, pred: Any) -> Tensor:
    from nerve.primitives.shape import reshape

    pred = require_bool(pred)
    if pred.shape != ():
        if pred.size != 1:
            raise ShapeError(
                with_location(
                    f"{op}: the predicate must be a scalar (one element), got shape {pred.shape}."
                )
            )
        pred = reshape(pred, ())
    return pred


# -- cond ---------------------------------------------------------------------------------


def cond(pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
    """``true_fn()`` if ``pred`` else ``false_fn()``.

    Both branches take no arguments and must return the same structure of tensors
    with the same shapes and dtypes (checked when traced). Inside ``nerve.function``
    both branches are traced and the choice is made at run time.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor(3.0)
    >>> float(ops.cond(x > 2.0, lambda: x * x, lambda: x))
    9.0
    """
    if not _tracing() or not (_staged_depth or _is_traced(pred)):
        return true_fn() if bool(_scalar_bool("cond", pred)) else false_fn()
    pred = _scalar_bool("cond", pred)
    builder = ProgramBuilder("cond_branch")
    true_outs, rebuild = builder.trace(true_fn, ())
    false_outs, rebuild_false = builder.trace(false_fn, ())
    true_structure = _structure_of(rebuild(["*"] * len(true_outs)))
    false_structure = _structure_of(rebuild_false(["*"] * len(false_outs)))
    if true_structure != false_structure:
        raise ValueError(
            with_location(
                f"cond: true_fn returned the structure {true_structure!r} but false_fn "
                f"returned {false_structure!r}; both branches must return the same structure."
            )
        )
    true_program, false_program = builder.programs()
    outs = cond_p.bind(
        pred, *builder.operands(), true_program=true_program, false_program=false_program
    )
    return rebuild(list(outs))


def _is_traced(x: Any) -> bool:
    return isinstance(x, Tensor) and backend_of(x._value).name == "abstract"


# -- while_loop ------------------------------------------------------------------------------


def while_loop(
    cond: Callable[..., Any],
    body: Callable[..., Any],
    loop_vars: Any,
    maximum_iterations: int | None = None,
) -> Any:
    """Repeat ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``.

    ``loop_vars`` is a tuple or list (unpacked into ``cond`` and ``body``) or a
    single tensor; the result has the same structure. The body must keep every
    loop variable's shape and dtype. At most ``maximum_iterations`` iterations run.
    Traced while loops cannot be differentiated (use ``scan``/``fori_loop``).

    >>> from nerve import ops
    >>> ops.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s + i), (0, 0))
    (Tensor(4, dtype=int32), Tensor(6, dtype=int32))
    """
    is_tuple = isinstance(loop_vars, (tuple, list))
    loop_vars = tuple(loop_vars) if is_tuple else (loop_vars,)
    leaves, rebuild = _tensors("while_loop", "loop_vars", loop_vars)
    if maximum_iterations is not None:
        maximum_iterations = int(maximum_iterations)

    def as_tuple(result: Any) -> tuple:
        return tuple(result) if isinstance(result, (tuple, list)) else (result,)

    if not _tracing():
        loop_vars = rebuild(leaves)
        steps = 0
        while maximum_iterations is None or steps < maximum_iterations:
            if not bool(_scalar_bool("while_loop", cond(*loop_vars))):
                break
            new_leaves, _ = _tensors("while_loop", "body's result", as_tuple(body(*loop_vars)))
            _check_carry("while_loop", "body", leaves, new_leaves)
            loop_vars = rebuild(new_leaves)
            steps += 1
        return loop_vars if is_tuple else loop_vars[0]

    avals = tuple(_aval_of(x) for x in leaves)
    builder = ProgramBuilder("while")
    builder.trace(lambda *xs: _scalar_bool("while_loop", cond(*rebuild(list(xs)))), avals)

    def body_fn(*xs):
        new_leaves, _ = _tensors("while_loop", "body's result", as_tuple(body(*rebuild(list(xs)))))
        _check_carry("while_loop", "body", leaves, new_leaves)
        return new_leaves

    builder.trace(body_fn, avals)
    cond_program, body_program = builder.programs()
    outs = while_p.bind(
        *leaves,
        *builder.operands(),
        cond_program=cond_program,
        body_program=body_program,
        num_carry=len(leaves),
        maximum_iterations=maximum_iterations,
    )
    loop_vars = rebuild(list(outs))
    return loop_vars if is_tuple else loop_vars[0]


def _check_carry(op: str, fn: str, old: list, new: list) -> None:
    before = [(x.shape, x.dtype) for x in old]
    after = [(x.shape, x.dtype) for x in new]
    if before != after:
        raise ShapeError(
            with_location(
                f"{op}: the loop carry (shape, dtype) went from {before} to {after} after "
                f"{fn}; {fn} must keep every carried tensor's shape and dtype."
            )
        )


# -- fori_loop -------------------------------------------------------------------------------


def fori_loop(lower: Any, upper: Any, body_fun: Callable[[Any, Any], Any], init_val: Any) -> Any:
    """``val = body_fun(i, val)`` for ``i`` from ``lower`` to ``upper - 1``; returns ``val``.

    Eagerly ``i`` is a Python int; traced, an int32 tensor. With static bounds the
    traced loop is a ``scan`` (differentiable); with tensor bounds, a ``while_loop``.

    >>> from nerve import ops
    >>> float(ops.fori_loop(0, 5, lambda i, x: x * 2.0, ops.convert_to_tensor(1.0)))
    32.0
    """
    if not _tracing():
        val = init_val
        for i in range(int(lower), int(upper)):
            val = body_fun(i, val)
        return val
    if _is_traced(lower) or _is_traced(upper):
        from nerve.ops.elementwise import add, less

        _, val = while_loop(
            lambda i, val: less(i, upper),
            lambda i, val: (add(i, 1), body_fun(i, val)),
            (tensor(lower), init_val),
        )
        return val
    lower, upper = int(lower), int(upper)
    from nerve.ops.elementwise import add

    def step(carry, _):
        i, val = carry
        return (add(i, 1), body_fun(i, val)), None

    start = tensor(lower)
    (_, val), _ = scan(step, (start, init_val), length=max(upper - lower, 0))
    return val


# -- scan -------------------------------------------------------------------------------------


def scan(
    f: Callable[[Any, Any], Any],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    unroll: int = 1,
) -> tuple[Any, Any]:
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``.

    Returns the final carry and the ``y``s stacked along a new leading axis.
    ``init`` and ``xs`` may be nested structures; ``xs=None`` needs ``length``.
    ``reverse=True`` walks ``xs`` from the end (the stacked ``y``s still line up
    with ``xs``). ``unroll`` is accepted for Keras compatibility and ignored.

    >>> from nerve import ops
    >>> carry, ys = ops.scan(lambda c, x: (c + x, c * x), 0.0, ops.arange(1.0, 4.0))
    >>> float(carry), ys.numpy()
    (6.0, array([0., 2., 9.], dtype=float32))
    """
    if not callable(f):
        raise TypeError(with_location(f"scan: `f` should be a callable, got {f!r}."))
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(
            with_location(f"scan: `unroll` must be an positive integer or boolean, got {unroll!r}.")
        )
    del unroll  # checked as Keras does; a NumPy-backed loop gains nothing from unrolling
    carry_leaves, rebuild_carry = _tensors("scan", "init", init)
    x_leaves: list[Tensor]
    rebuild_x: Callable | None
    if xs is None:
        x_leaves, rebuild_x = [], None
    else:
        x_leaves, rebuild_x = _tensors("scan", "xs", xs)
    length = _scan_length(x_leaves, length)

    def slice_x(leaves: list) -> Any:
        return None if rebuild_x is None else rebuild_x(leaves)

    if not _tracing() and length > 0:
        return _eager_scan(f, carry_leaves, rebuild_carry, x_leaves, slice_x, length, reverse)

    nc = len(carry_leaves)
    avals = tuple(_aval_of(x) for x in carry_leaves) + tuple(
        Aval(tuple(x.shape[1:]), x.dtype) for x in x_leaves
    )
    builder = ProgramBuilder("scan_body")
    rebuild_y = []

    def body_fn(*args):
        new_carry, y = _split_step(f(rebuild_carry(list(args[:nc])), slice_x(list(args[nc:]))))
        new_leaves, _ = _tensors("scan", "f's carry", new_carry)
        _check_carry("scan", "f", carry_leaves, new_leaves)
        y_leaves, rebuild = tree.flatten(y)
        rebuild_y.append(rebuild)
        return (*new_leaves, *y_leaves)

    outs, rebuild_outs = builder.trace(body_fn, avals)
    (body_program,) = builder.programs(captures_at=nc)  # scan_p's order: carry, consts, xs
    consts = builder.operands()
    results = scan_p.bind(
        *carry_leaves,
        *consts,
        *x_leaves,
        body_program=body_program,
        num_carry=nc,
        num_consts=len(consts),
        length=length,
        reverse=bool(reverse),
        history=False,
    )
    # Outputs: carry, stacked ys (None leaves of y were dropped).
    full = rebuild_outs(list(results[: len(outs)]))
    return rebuild_carry(list(full[:nc])), rebuild_y[0](list(full[nc:]))


def _split_step(result: Any) -> tuple[Any, Any]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            with_location(f"scan: f must return a pair (carry, y), got {type(result).__name__}.")
        )
    return result[0], result[1]


def _scan_length(x_leaves: list, length: int | None) -> int:
    if any(not x.shape for x in x_leaves):
        raise ShapeError(with_location("scan: every xs leaf needs a leading axis to scan over."))
    lengths = {x.shape[0] for x in x_leaves}
    if len(lengths) > 1:
        shapes = [x.shape for x in x_leaves]
        raise ShapeError(
            with_location(f"scan: xs leaves have different leading lengths: shapes {shapes}.")
        )
    if length is not None:
        length = int(length)
        if lengths and lengths != {length}:
            raise ShapeError(
                with_location(f"scan: length={length} but xs have leading length {lengths.pop()}.")
            )
        return length
    if not lengths:
        raise ValueError(
            with_location("scan: got no `xs` to scan over and `length` not provided; pass one.")
        )
    return lengths.pop()


def _eager_scan(f, carry_leaves, rebuild_carry, x_leaves, slice_x, length, reverse):
    from nerve.ops.shape import stack

    carry = rebuild_carry(carry_leaves)
    ys = []
    for i in range(length - 1, -1, -1) if reverse else range(length):
        carry, y = _split_step(f(carry, slice_x([x[i] for x in x_leaves])))
        new_leaves, _ = _tensors("scan", "f's carry", carry)
        _check_carry("scan", "f", carry_leaves, new_leaves)
        ys.append(y)
    if reverse:
        ys.reverse()
    y_leaves, rebuild_y = tree.flatten(ys[0])
    per_step = [tree.flatten(y)[0] for y in ys]
    stacked = [
        None if leaf is None else stack([step[j] for step in per_step])
        for j, leaf in enumerate(y_leaves)
    ]
    return carry, rebuild_y(stacked)


# -- built on the above: map, switch, vectorized_map, associative_scan -----------------------


def map(f: Callable[[Any], Any], xs: Any) -> Any:
    """``f`` applied to each slice of ``xs`` along its leading axis, the results
    stacked: a ``scan`` with no carry (so it traces and differentiates like one).

    >>> from nerve import ops
    >>> ops.map(lambda x: x * x, ops.arange(4.0)).numpy()
    array([0., 1., 4., 9.], dtype=float32)
    """
    return scan(lambda carry, x: (carry, f(x)), (), xs)[1]


def switch(index: Any, branches: list, *operands: Any) -> Any:
    """``branches[index](*operands)``, with ``index`` clamped to the valid range (as
    Keras's backends do). Traced, every branch is traced and the choice is made at run
    time by nested ``cond``s, so all branches must return the same structure.

    >>> from nerve import ops
    >>> branches = [lambda x: x + 1, lambda x: x * 10]
    >>> float(ops.switch(1, branches, 2.0)), float(ops.switch(5, branches, 2.0))
    (20.0, 20.0)
    """
    from nerve.ops._convert import cast
    from nerve.ops.elementwise import clip, equal

    if not branches:
        raise ValueError(with_location("switch: branches must hold at least one function."))
    index = clip(cast(index, "int32"), 0, len(branches) - 1)

    def pick(i: int) -> Any:
        if i == len(branches) - 1:
            return branches[i](*operands)
        return cond(equal(index, i), lambda: branches[i](*operands), lambda: pick(i + 1))

    return pick(0)


def vectorized_map(function: Callable[[Any], Any], elements: Any) -> Any:
    """``function`` applied to each slice of ``elements`` (a tensor or a nested
    structure of tensors with one leading length) along the leading axis; the
    results (a tensor or structure) stacked.

    >>> from nerve import ops
    >>> ops.vectorized_map(lambda row: ops.sum(row), ops.ones((3, 2))).numpy()
    array([2., 2., 2.], dtype=float32)
    >>> ops.vectorized_map(lambda ab: ab[0] * ab[1], (ops.arange(3), ops.arange(3))).numpy()
    array([0, 1, 4], dtype=int32)
    """
    from nerve.ops.shape import stack

    leaves, rebuild = _tensors("vectorized_map", "elements", elements)
    lengths = {leaf.shape[0] if leaf.ndim else None for leaf in leaves}
    if len(lengths) != 1 or None in lengths:
        raise ShapeError(
            with_location(
                "vectorized_map: every element must have the same leading length, got shapes "
                f"{[leaf.shape for leaf in leaves]}."
            )
        )
    length = int(lengths.pop() or 0)
    if length == 0:
        raise ValueError(with_location("vectorized_map: the elements' leading length is 0."))
    results = [function(rebuild([leaf[i] for leaf in leaves])) for i in range(length)]
    out_leaves, rebuild_out = tree.flatten(results[0])
    per_call = [tree.flatten(r)[0] for r in results]
    return rebuild_out([stack([call[j] for call in per_call]) for j in range(len(out_leaves))])


def associative_scan(
    f: Callable[[Any, Any], Any], elems: Any, reverse: bool = False, axis: int = 0
) -> Any:
    """All prefix combinations of ``elems`` along ``axis`` under the associative
    ``f(a, b)`` (a tensor or a nested structure of tensors), in O(log n) rounds of
    vectorized calls: ``f`` must accept whole slices. ``reverse`` combines from the
    end. With ``f = add`` this is ``cumsum``.

    >>> from nerve import ops
    >>> ops.associative_scan(lambda a, b: a + b, ops.arange(1.0, 6.0)).numpy()
    array([ 1.,  3.,  6., 10., 15.], dtype=float32)
    """
    from nerve.core.errors import normalize_axis
    from nerve.ops.shape import flip

    if not callable(f):
        raise TypeError(with_location(f"associative_scan: `f` should be a callable, got {f!r}."))
    leaves, rebuild = _tensors("associative_scan", "elems", elems)
    if not leaves:
        raise ValueError(with_location("associative_scan: elems holds no tensor."))
    axis = normalize_axis(axis, leaves[0].ndim, "associative_scan")
    lengths = {leaf.shape[axis] if leaf.ndim > axis else None for leaf in leaves}
    if len(lengths) != 1 or None in lengths:
        raise ShapeError(
            with_location(
                "associative_scan: every element of elems must have the same first dimension "
                f"(its length along axis {axis}), got shapes {[leaf.shape for leaf in leaves]}."
            )
        )
    if reverse:
        leaves = [flip(leaf, axis=axis) for leaf in leaves]

    def combine(a: list, b: list) -> list:
        out, _ = _tensors("associative_scan", "f's result", f(rebuild(a), rebuild(b)))
        return out

    result = _prefix_scan(combine, leaves, axis)
    if reverse:
        result = [flip(leaf, axis=axis) for leaf in result]
    return rebuild(result)


def _along(x: Tensor, axis: int, start: Any, stop: Any, step: Any = None) -> Tensor:
    return x[(slice(None),) * axis + (slice(start, stop, step),)]


def _prefix_scan(combine: Callable[[list, list], list], leaves: list, axis: int) -> list:
    """The recursive doubling scan: combine neighbours pairwise, scan the half-length
    result, then fill in the even positions from it."""
    from nerve.ops.shape import concatenate

    n = leaves[0].shape[axis]
    if n < 2:
        return leaves
    pairs = combine([_along(x, axis, 0, -1, 2) for x in leaves],
                    [_along(x, axis, 1, None, 2) for x in leaves])  # fmt: skip
    odd = _prefix_scan(combine, pairs, axis)  # the prefixes ending at positions 1, 3, 5, ...
    rest = [_along(x, axis, 2, None, 2) for x in leaves]
    head = [_along(o, axis, 0, -1) for o in odd] if n % 2 == 0 else odd
    even = combine(head, rest) if rest[0].shape[axis] else rest
    even = [concatenate([_along(x, axis, 0, 1), e], axis=axis) for x, e in zip(leaves, even)]
    return [_interleave(e, o, axis) for e, o in zip(even, odd)]


def _interleave(even: Tensor, odd: Tensor, axis: int) -> Tensor:
    """``even[0], odd[0], even[1], odd[1], ...`` along ``axis`` (``even`` may be one
    longer)."""
    from nerve.ops.shape import concatenate, reshape, stack

    paired = even if even.shape[axis] == odd.shape[axis] else _along(even, axis, 0, -1)
    woven = stack([paired, odd], axis=axis + 1)
    shape = list(odd.shape)
    shape[axis] = 2 * odd.shape[axis]
    woven = reshape(woven, tuple(shape))
    if even.shape[axis] == odd.shape[axis]:
        return woven
    return concatenate([woven, _along(even, axis, -1, None)], axis=axis)
