"""``GradientTape``: what the eager interpreter (``nerve.autodiff.eager``) records onto.

After each eager bind computes its result, each recording tape that tracks one of
the inputs appends a ``Node`` (``record``). A tape tracks what it was told to
``watch``, trainable variables it sees used (unless
``watch_accessed_variables=False``), and every float output of a node it
recorded. Nodes are kept in execution order, so walking the list backwards is a
valid reverse topological order: the engine needs no graph sort and no recursion.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from nerve.core import tree
from nerve.core.dtypes import is_differentiable
from nerve.core.errors import ShapeError, with_location
from nerve.tensor import Tensor, Variable, convert_to_tensor, snapshot_owner

__all__ = [
    "GradientTape",
    "Node",
    "active_tapes",
    "is_recording",
    "record",
    "stop_recording",
]

_object_new = object.__new__


class _ThreadState(threading.local):
    """Per-thread recording state: like TensorFlow's, a tape sees only its own thread."""

    def __init__(self) -> None:
        # Tapes that are inside their ``with`` block and not paused, innermost last.
        self.tapes: list[GradientTape] = []


_state = _ThreadState()

# How many tapes are inside their ``with`` block in any thread: a plain global the
# eager hot path can test before it pays for the thread-local lookup.
_recording_threads = 0
_count_lock = threading.Lock()


def _count_tape(delta: int) -> None:
    global _recording_threads
    with _count_lock:
        _recording_threads += delta


class Node:
    """One recorded application of a primitive (or of a custom gradient)."""

    __slots__ = ("inputs", "outputs", "params", "prim")

    def __init__(self, prim, inputs: tuple, params: dict, outputs: tuple):
        self.prim = prim
        self.inputs = inputs
        self.params = params
        self.outputs = outputs


class GradientTape:
    """Records operations for reverse-mode differentiation (TensorFlow's semantics).

    >>> import nerve
    >>> from nerve import ops
    >>> x = nerve.Variable([1.0, 2.0, 3.0])
    >>> with nerve.GradientTape() as tape:
    ...     y = ops.sum(x * x)
    >>> tape.gradient(y, x).numpy()
    array([2., 4., 6.], dtype=float32)

    Constants must be watched; unconnected sources give ``None``:

    >>> c = ops.convert_to_tensor(3.0)
    >>> with nerve.GradientTape(persistent=True) as tape:
    ...     tape.watch(c)
    ...     y = c * c
    >>> float(tape.gradient(y, c)), tape.gradient(y, x)
    (6.0, None)
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self._persistent = persistent
        self._watch_accessed_variables = watch_accessed_variables
        self._active = False
        self._used = False
        self.reset()

    # -- context ------------------------------------------------------------------
    def __enter__(self) -> GradientTape:
        if self._active:
            raise RuntimeError("This GradientTape is already recording; tapes are not reentrant.")
        self._active = True
        _count_tape(+1)
        _state.tapes.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        self._active = False
        if self in _state.tapes:
            _state.tapes.remove(self)
        _count_tape(-1)

    @contextlib.contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Operations inside this block are not recorded on this tape."""
        if not self._active:
            raise RuntimeError("stop_recording() needs the tape to be recording (inside `with`).")
        _state.tapes.remove(self)
        try:
            yield
        finally:
            _state.tapes.append(self)

    def reset(self) -> None:
        """Forget everything recorded so far."""
        self._nodes: list[Node] = []
        self._tracked: dict[int, Tensor] = {}
        self._watched_variables: dict[int, Variable] = {}
        self._variable_reads: dict[int, list[Tensor]] = {}

    # -- watching -----------------------------------------------------------------
    def watch(self, tensor: Any) -> None:
        """Track ``tensor`` (or every tensor in a nested structure)."""
        for t in tree.flatten(tensor)[0]:
            if isinstance(t, Variable):
                self._watched_variables[id(t)] = t
            elif isinstance(t, Tensor):
                self._tracked[id(t)] = t
            else:
                raise TypeError(
                    with_location(
                        f"GradientTape.watch expects tensors or variables, got "
                        f"{type(t).__name__}. Convert it with nerve.ops.convert_to_tensor first."
                    )
                )

    def tracks(self, tensor: Tensor) -> bool:
        """Whether gradients through ``tensor`` are recorded here: it was watched, or
        computed by an op this tape recorded (a query: it changes nothing)."""
        return id(tensor) in self._tracked

    def watched_variables(self) -> tuple[Variable, ...]:
        """Variables this tape has watched, in the order first seen."""
        return tuple(self._watched_variables.values())

    def _tracks(self, x: Tensor) -> bool:
        if id(x) in self._tracked:
            return True
        if isinstance(x, Variable):
            return self._tracks_variable(x)
        owner = snapshot_owner.get(x)
        if owner is not None and self._tracks_variable(owner):
            # A value read from a watched variable (e.g. convert_to_tensor(variable)).
            self._tracked[id(x)] = x
            self._variable_reads.setdefault(id(owner), []).append(x)
            return True
        return False

    def _tracks_variable(self, variable: Variable) -> bool:
        if id(variable) in self._watched_variables:
            return True
        if self._watch_accessed_variables and variable.trainable:
            self._watched_variables[id(variable)] = variable
            return True
        return False

    def _as_input(self, x: Tensor) -> Tensor:
        """What a node records for input ``x``: a variable is recorded as the value it
        had at that moment, so later assignments don't change recorded gradients."""
        if not isinstance(x, Variable):
            return x
        snapshot = x.value
        if id(snapshot) not in self._tracked:
            self._tracked[id(snapshot)] = snapshot
            self._variable_reads.setdefault(id(x), []).append(snapshot)
        return snapshot

    def _record(self, prim, args: tuple, params: dict, outputs: tuple) -> None:
        for a in args:
            if self._tracks(a):
                break
        else:
            return
        inputs = tuple(self._as_input(a) for a in args)
        self._nodes.append(Node(prim, inputs, params, outputs))
        for o in outputs:
            if is_differentiable(o.dtype):
                self._tracked[id(o)] = o

    # -- differentiation --------------------------------------------------------------
    def gradient(
        self,
        target: Any,
        sources: Any,
        output_gradients: Any = None,
        unconnected_gradients: str = "none",
    ) -> Any:
        """Gradients of ``target`` (summed, if not scalar) with respect to ``sources``.

        Returns the structure of ``sources``, with ``None`` where a source is not
        connected to the target (or zeros with ``unconnected_gradients="zero"``).
        """
        from nerve.autodiff.engine import backward, zeros_like

        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(
                f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}."
            )
        if self._used and not self._persistent:
            raise RuntimeError(
                "A non-persistent GradientTape can compute gradients only once. "
                "Create it with GradientTape(persistent=True) to call gradient() again."
            )
        self._used = True
        targets = tree.flatten(target)[0]
        source_leaves, rebuild = tree.flatten(sources)
        if output_gradients is None:
            given = [None] * len(targets)
        else:
            given = tree.flatten(output_gradients)[0]
            if len(given) != len(targets):
                raise ValueError(
                    f"output_gradients has {len(given)} entries for {len(targets)} targets."
                )
        seeds = []
        for t, seed in zip(targets, given):
            if not isinstance(t, Tensor):
                continue  # a Python number depends on nothing: its sources get None
            if isinstance(t, Variable):
                t = self._as_input(t)  # differentiate the value it holds now
            seeds.append((t, self._seed(t, seed)))
        keys = [self._source_keys(s) for s in source_leaves]
        paused = self in _state.tapes
        if paused:
            _state.tapes.remove(self)
        try:
            cotangents = backward(self._nodes, seeds, {k for ks in keys for k in ks})
        finally:
            if paused:
                _state.tapes.append(self)
        if not self._persistent:
            self.reset()
        grads = []
        for source, source_keys in zip(source_leaves, keys):
            found = [cotangents[k] for k in source_keys if k in cotangents]
            grad = found[0] if found else None
            for extra in found[1:]:
                grad = grad + extra
            if grad is None and unconnected_gradients == "zero":
                grad = zeros_like(source.value if isinstance(source, Variable) else source)
            grads.append(grad)
        return rebuild(grads)

    @staticmethod
    def _seed(target: Tensor, given: Any) -> Tensor:
        """The initial cotangent of ``target``: ones, or the given output gradient."""
        from nerve.autodiff.engine import ones_like

        if given is None:
            return ones_like(target)
        seed = convert_to_tensor(given, target.dtype)
        if seed.shape != target.shape:
            raise ShapeError(
                with_location(
                    f"GradientTape.gradient: an output gradient of shape {seed.shape} was given "
                    f"for a target of shape {target.shape}; they must match."
                )
            )
        return seed

    def _source_keys(self, source: Any) -> list[int]:
        if isinstance(source, Variable):
            return [id(s) for s in self._variable_reads.get(id(source), [])]
        if isinstance(source, Tensor):
            return [id(source)]
        raise TypeError(
            with_location(
                f"GradientTape.gradient sources must be tensors or variables, got "
                f"{type(source).__name__}."
            )
        )


@contextlib.contextmanager
def stop_recording() -> Iterator[None]:
    """No tape records inside this block."""
    saved = _state.tapes[:]
    _state.tapes.clear()
    try:
        yield
    finally:
        _state.tapes[:] = saved


def is_recording() -> bool:
    """Whether a tape records in this thread now (cheap: for per-call checks above)."""
    return bool(_recording_threads and _state.tapes)


def active_tapes() -> list[GradientTape]:
    """The tapes recording in this thread now, innermost last (a copy)."""
    return list(_state.tapes)


def record(prim, args: tuple, params: dict, outputs: tuple) -> None:
    """Record a node on every tape that tracks one of ``args``."""
    for tape in _state.tapes:
        tape._record(prim, args, params, outputs)
