"""``RNN``: run a cell over the time axis of a sequence (Keras 3's ``keras.layers.RNN``).

A *cell* is Keras's contract: ``call(inputs, states, training=None)`` returning
``(output, new_states)`` for one time step, a ``state_size`` (an int or a list of
ints, one per state), optionally ``output_size`` and ``get_initial_state(batch_size)``.
A list of cells is stacked (``StackedRNNCells``).

**The loop.** The time loop is one ``ops.scan`` over the time-major sequence, so under
``nerve.function`` a recurrent layer is a single ``scan`` node, and its gradient a
reverse scan over the saved states. For the built-in cells (``RecurrentCell``:
``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, and a stack whose first cell is one) the
input projection is hoisted out of the loop: ``inputs @ kernel + bias`` is one matrix
product over all time steps before the scan, and the scan body holds only the
recurrent product and the gate arithmetic. ``unroll=True`` runs the same step function
in a Python loop instead.

**Masks** (``mask=`` or an input's implicit mask, shape ``(batch, timesteps)``): at a
masked step every state keeps its previous value and the output repeats the previous
one (zeros with ``zero_output_for_mask=True``, which ``Bidirectional`` sets), so a
right- or left-padded batch gives what each sequence gives alone. The output mask is
the input mask with ``return_sequences=True``, else none.

**Dropout** masks of a ``DropoutRNNCell`` are drawn once per call, before the loop (one
set per sequence, as in Keras), and forgotten after it.

**Differences from Keras 3.15.** Masks are drawn only when ``training`` is true (Keras
draws them on every call and ignores them at inference, so only the seed stream
differs). With ``unroll=True`` a masked *first* step outputs the initial state, as the
scan does (Keras's unrolled loop outputs zeros there; with the default zero initial
state both agree). Cells take one input tensor per step (no nested inputs, no
``constants``). ``SimpleRNN``'s config keeps its ``seed`` (Keras's drops it).

>>> import numpy as np
>>> from nerve import layers, ops
>>> x = ops.convert_to_tensor(np.ones((2, 5, 3), "float32"))
>>> layers.RNN(layers.LSTMCell(4), return_sequences=True)(x).shape
(2, 5, 4)
>>> out, h, c = layers.LSTM(4, return_state=True)(x)
>>> out.shape, h.shape, c.shape
((2, 4), (2, 4), (2, 4))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from nerve import ops, regularizers
from nerve.core import tree
from nerve.core.errors import ShapeError, with_location
from nerve.graph.trace import init_scope
from nerve.layers.base import Layer
from nerve.layers.rnn._configs import deserialize_layer, serialize_layer
from nerve.layers.rnn.dropout_rnn_cell import DropoutRNNCell
from nerve.layers.rnn.stacked_rnn_cells import StackedRNNCells
from nerve.tensor import Tensor, Variable

__all__ = ["RNN", "BuiltinRNN"]


def _state_structure(state_size: Any, leaves: list) -> list:
    """``leaves`` arranged like ``state_size`` (a list per list, a tensor per int)."""
    position = iter(leaves)

    def arrange(size: Any) -> Any:
        if isinstance(size, (list, tuple)):
            return [arrange(s) for s in size]
        return next(position)

    return [arrange(size) for size in state_size]


def _against(mask_t: Tensor, value: Tensor) -> Tensor:
    """One step's ``(batch, 1)`` mask, shaped to broadcast against ``value``: a state of
    rank above 2 (a ConvLSTM's feature maps) needs ``(batch, 1, ..., 1)``."""
    if value.ndim <= 2:
        return mask_t
    return ops.reshape(mask_t, (mask_t.shape[0], *(1,) * (value.ndim - 1)))


def _flat_sizes(state_size: Any) -> list:
    return tree.flatten(list(state_size))[0]


class RNN(Layer):
    """Base class of the recurrent layers: a cell run over the time axis.

    Sequences of shape ``(batch, timesteps, ...)`` give the last step's output,
    ``(batch, output_size)``, or every step's, ``(batch, timesteps, output_size)``,
    with ``return_sequences=True``; with ``return_state=True`` the final states
    follow the output.

    Args:
        cell: the step to run: a cell (see the module docstring) or a list of cells,
            which are stacked with ``StackedRNNCells``.
        return_sequences: whether the output holds every step (true) or only the
            last (false, the default).
        return_state: whether the final states are returned too, after the output
            (false by default).
        go_backwards: whether the sequence is read from its last step to its first;
            the outputs then come in that reversed order (false by default).
        stateful: whether the final states of each batch become the initial states
            of the next (false by default); the batch size must then be fixed, and
            ``reset_states()`` sets the states back to zeros.
        unroll: whether the steps run as a Python loop instead of one ``scan``
            (false by default; the results are the same).
        zero_output_for_mask: whether a masked step outputs zeros instead of
            repeating the previous output (false by default; ``Bidirectional`` sets it).

    Call arguments:
        sequences: a tensor of shape ``(batch, timesteps, ...)``.
        initial_state: optional list of initial state tensors; by default the cell's
            ``get_initial_state`` or zeros.
        mask: optional boolean ``(batch, timesteps)`` tensor; a masked step keeps the
            previous states. By default the implicit mask the inputs carry.
        training: passed to the cell (whether dropout applies).

    A user-written cell:

    >>> import numpy as np
    >>> from nerve import layers, ops
    >>> class MinimalCell(layers.Layer):
    ...     def __init__(self, units, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.units = self.state_size = units
    ...     def build(self, input_shape):
    ...         self.kernel = self.add_weight(shape=(input_shape[-1], self.units))
    ...     def call(self, inputs, states):
    ...         output = ops.matmul(inputs, self.kernel) + states[0]
    ...         return output, [output]
    >>> rnn = layers.RNN(MinimalCell(2), return_sequences=True)
    >>> rnn(ops.ones((3, 4, 5))).shape
    (3, 4, 2)
    """

    #: The rank the inputs must have (``None``: at least 3).
    _input_rank: ClassVar[int | None] = None

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(list(cell))
        if not callable(getattr(cell, "call", None)):
            raise ValueError(
                f"{type(self).__name__}: the cell must have a `call(inputs, states)` method; "
                f"received {cell!r}."
            )
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states: list | None = None
        state_size = getattr(cell, "state_size", None)
        if state_size is None:
            raise ValueError(
                f"{type(self).__name__}: the cell {cell!r} has no `state_size`; an RNN cell "
                "must say the size of its state (an int, or a list with one per state)."
            )
        if not isinstance(state_size, (int, list, tuple)):
            raise ValueError(
                f"{type(self).__name__}: the cell's state_size must be an int or a list/tuple "
                f"of ints (one per state tensor); received {state_size!r}."
            )

    # -- the cell's description ----------------------------------------------------------
    @property
    def state_size(self) -> list:
        """The cell's state sizes, always as a list (Keras's ``RNN.state_size``)."""
        size = self.cell.state_size
        return [size] if isinstance(size, int) else list(size)

    def _output_size(self) -> int:
        size = getattr(self.cell, "output_size", None)
        return size if size is not None else _flat_sizes(self.state_size)[0]

    def _describe(self) -> str:
        return f"Layer {self.name!r} ({type(self).__name__})"

    # -- shapes and checks ---------------------------------------------------------------
    def _check_sequences(self, shape: tuple) -> None:
        rank, wanted = len(shape), self._input_rank
        if (wanted is not None and rank != wanted) or rank < 3:
            expected = f"rank {wanted}" if wanted is not None else "rank 3 or more"
            raise ShapeError(
                with_location(
                    f"{self._describe()} expects sequences of shape (batch, timesteps, "
                    f"features) ({expected}), but received a tensor of shape {shape} "
                    f"(rank {rank})."
                )
            )
        built_for = getattr(self, "_feature_shape", None)
        if built_for is not None and tuple(shape[2:]) != built_for:
            raise ShapeError(
                with_location(
                    f"{self._describe()} was built for sequences of shape (batch, timesteps, "
                    f"{', '.join(map(str, built_for))}), but received a tensor of shape "
                    f"{shape}: the feature size must stay the same between calls."
                )
            )

    def _check_mask(self, mask: Any, sequences: Tensor) -> Tensor | None:
        if mask is None:
            return None
        if isinstance(mask, (list, tuple)):  # Keras: one mask per input, the first counts
            mask = mask[0]
        mask = ops.convert_to_tensor(mask)
        expected = tuple(sequences.shape[:2])
        if tuple(mask.shape) != expected:
            raise ShapeError(
                with_location(
                    f"{self._describe()} received a mask of shape {tuple(mask.shape)} for "
                    f"sequences of shape {tuple(sequences.shape)}; the mask must have shape "
                    f"(batch, timesteps) = {expected}."
                )
            )
        return mask if mask.dtype == "bool" else ops.cast(mask, "bool")

    def compute_output_shape(self, sequences_shape: Any, initial_state_shape: Any = None) -> Any:
        batch, length = sequences_shape[0], sequences_shape[1]
        states = [
            [(batch, s) for s in size] if isinstance(size, (list, tuple)) else (batch, size)
            for size in self.state_size
        ]
        size = self._output_size()
        output = (batch, length, size) if self.return_sequences else (batch, size)
        return (output, *states) if self.return_state else output

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None for _ in self.state_size]
        return output_mask

    # -- building ------------------------------------------------------------------------
    def build(self, sequences_shape: Any, initial_state_shape: Any = None) -> None:
        sequences_shape = tuple(sequences_shape)
        self._check_sequences(sequences_shape)
        step_shape = (sequences_shape[0], *sequences_shape[2:])
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build(step_shape)
        self._feature_shape = tuple(sequences_shape[2:])
        if self.stateful:
            batch = sequences_shape[0]
            if not isinstance(batch, int):
                raise ValueError(
                    f"{self._describe()}: with stateful=True the batch size must be fixed; "
                    f"received sequences of shape {sequences_shape}. Give the input a batch "
                    "size (nerve.Input(batch_shape=...)) or call the layer on data."
                )
            with init_scope():
                zeros = tree.flatten(self.get_initial_state(batch))[0]
                self.states = [
                    Variable(z, trainable=False, dtype=z.dtype, name="rnn_state") for z in zeros
                ]

    def get_initial_state(self, batch_size: Any) -> list:
        """The cell's initial states (zeros unless the cell says otherwise), as a list."""
        make = getattr(self.cell, "get_initial_state", None)
        if make is not None:
            states = make(batch_size=batch_size)
            leaves = tree.flatten(states)[0]
        else:
            dtype = getattr(self.cell, "compute_dtype", self.compute_dtype)
            leaves = [ops.zeros((batch_size, d), dtype=dtype) for d in _flat_sizes(self.state_size)]
        return _state_structure(self.state_size, leaves)

    def reset_state(self) -> None:
        """Zero the states of a stateful layer (Keras's ``reset_state``)."""
        for variable in self.states or []:
            variable.assign(ops.zeros_like(variable))

    def reset_states(self) -> None:
        """Alias of ``reset_state`` (Keras keeps both names)."""
        self.reset_state()

    # -- calling -------------------------------------------------------------------------
    def call(
        self,
        sequences: Tensor,
        initial_state: Any = None,
        mask: Any = None,
        training: Any = False,
    ) -> Any:
        shape = tuple(sequences.shape)
        self._check_sequences(shape)
        mask = self._check_mask(mask, sequences)
        states = self._initial_states(sequences, initial_state)
        self._prepare_dropout(self.cell, (shape[0], *shape[2:]), states, training)
        try:
            last_output, outputs, final_states = self._loop(sequences, states, mask, training)
        finally:
            self._forget_dropout(self.cell)
        if self.stateful and self.states is not None:
            for variable, value in zip(self.states, tree.flatten(final_states)[0]):
                variable.assign(value)
        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return (output, *final_states)
        return output

    def _initial_states(self, sequences: Tensor, initial_state: Any) -> list:
        batch = sequences.shape[0]
        if initial_state is None:
            if self.stateful and self.states is not None:
                expected = self.states[0].shape[0]
                if batch != expected:
                    raise ValueError(
                        with_location(
                            f"{self._describe()} is stateful, so the batch size must stay the "
                            f"one its states were made for. Expected batch size: {expected}; "
                            f"received sequences of shape {tuple(sequences.shape)} (batch size "
                            f"{batch}). Call reset_states() does not change this: build a new "
                            "layer for another batch size."
                        )
                    )
                return _state_structure(self.state_size, [v.value for v in self.states])
            return self.get_initial_state(batch)
        leaves = [ops.convert_to_tensor(s) for s in tree.flatten(initial_state)[0]]
        sizes = _flat_sizes(self.state_size)
        expected = [(batch, size) for size in sizes]
        received = [tuple(s.shape) for s in leaves]
        if len(leaves) != len(sizes) or any(
            isinstance(size, int) and r[-1:] != (size,) for r, size in zip(received, sizes)
        ):
            raise ShapeError(
                with_location(
                    f"{self._describe()} expected an initial_state of {len(sizes)} tensor(s) "
                    f"of shapes {expected}, but received {len(leaves)} of shapes {received}."
                )
            )
        dtype = getattr(self.cell, "compute_dtype", self.compute_dtype)
        leaves = [s if s.dtype == dtype else ops.cast(s, dtype) for s in leaves]
        return _state_structure(self.state_size, leaves)

    # -- dropout masks, drawn once per sequence ------------------------------------------
    def _prepare_dropout(self, cell: Any, step_shape: tuple, states: Any, training: Any) -> None:
        if not training:
            return
        if isinstance(cell, DropoutRNNCell):
            first_state = tree.flatten(states)[0][0]
            dtype = first_state.dtype
            if 0.0 < cell.dropout < 1.0:
                cell.get_dropout_mask(ops.zeros(step_shape, dtype=dtype))
            if 0.0 < cell.recurrent_dropout < 1.0:
                cell.get_recurrent_dropout_mask(first_state)
        if isinstance(cell, StackedRNNCells):
            for inner, inner_states in zip(cell.cells, states):
                inner_states = inner_states if isinstance(inner_states, list) else [inner_states]
                self._prepare_dropout(inner, step_shape, inner_states, training)
                step_shape = (step_shape[0], StackedRNNCells.output_size_of(inner))

    def _forget_dropout(self, cell: Any) -> None:
        if isinstance(cell, DropoutRNNCell):
            cell.reset_dropout_mask()
            cell.reset_recurrent_dropout_mask()
        for inner in getattr(cell, "cells", []) if isinstance(cell, StackedRNNCells) else []:
            self._forget_dropout(inner)

    # -- the time loop -------------------------------------------------------------------
    def _step_function(self, training: Any) -> tuple[Callable, Callable[[Tensor], Tensor]]:
        """``(step(x_t, states) -> (output, states), prepare(time-major sequences))``."""
        cell = self.cell
        if getattr(cell, "_projects_inputs", False):
            return (
                lambda x, states: cell.step(x, states, training),
                lambda xs: cell.project_inputs(xs, training),
            )
        call = cell if callable(cell) else cell.call
        kwargs = {}
        signature = getattr(cell, "_call_signature", None) or inspect.signature(cell.call)
        if "training" in signature.parameters:
            kwargs["training"] = training
        return (lambda x, states: call(x, states, **kwargs)), (lambda xs: xs)

    def _loop(self, sequences: Tensor, states: list, mask: Tensor | None, training: Any) -> tuple:
        step, prepare = self._step_function(training)
        flat_states, _ = tree.flatten(states)
        count = len(flat_states)
        ndim = sequences.ndim
        xs: Any = prepare(ops.transpose(sequences, (1, 0, *range(2, ndim))))
        if mask is not None:
            xs = (xs, ops.expand_dims(ops.transpose(mask, (1, 0)), -1))
        index = getattr(self.cell, "_output_state_index", None)
        keep_sequence = self.return_sequences

        def body(carry: tuple, inputs: Any) -> tuple:
            old = list(carry[0])
            x_t, mask_t = inputs if mask is not None else (inputs, None)
            output, new_states = step(x_t, _state_structure(self.state_size, old))
            new = tree.flatten(
                new_states if isinstance(new_states, (list, tuple)) else [new_states]
            )[0]
            if len(new) != count:
                raise ValueError(
                    f"{self._describe()}: the cell returned {len(new)} state tensor(s), but its "
                    f"state_size {self.cell.state_size!r} says {count}."
                )
            sequence_output = output
            if mask_t is not None:
                previous = old[index] if index is not None else carry[1]
                new = [ops.where(_against(mask_t, n), n, o) for n, o in zip(new, old)]
                output = ops.where(_against(mask_t, output), output, previous)
                sequence_output = (
                    ops.where(
                        _against(mask_t, output), sequence_output, ops.zeros_like(sequence_output)
                    )
                    if self.zero_output_for_mask
                    else output
                )
            new_carry = (new,) if index is not None else (new, output)
            return new_carry, (sequence_output if keep_sequence else None)

        init: tuple = (flat_states,)
        if index is None:
            init = (flat_states, self._previous_output_seed(states, sequences))
        carry, ys = self._scan(body, init, xs)
        final_flat = list(carry[0])
        last_output = final_flat[index] if index is not None else carry[1]
        outputs = None
        if keep_sequence:
            if self.go_backwards:
                ys = ops.flip(ys, axis=0)
            outputs = ops.transpose(ys, (1, 0, *range(2, ys.ndim)))
        return last_output, outputs, _state_structure(self.state_size, final_flat)

    def _previous_output_seed(self, states: list, sequences: Tensor) -> Tensor:
        """What a masked first step outputs: the first state (of the last cell of a
        stack), as Keras's loop does, when it has the output's shape; else zeros."""
        last = states[-1] if isinstance(self.cell, StackedRNNCells) else states
        first = tree.flatten(last)[0][0]
        shape = (sequences.shape[0], self._output_size())
        return first if tuple(first.shape) == shape else ops.zeros(shape, dtype=first.dtype)

    def _scan(self, body: Callable, init: tuple, xs: Any) -> tuple:
        if not self.unroll:
            return ops.scan(body, init, xs, reverse=self.go_backwards)
        leaves, rebuild = tree.flatten(xs)
        length = leaves[0].shape[0]
        carry, ys = init, []
        for t in reversed(range(length)) if self.go_backwards else range(length):
            carry, y = body(carry, rebuild([leaf[t] for leaf in leaves]))
            ys.append(y)
        if self.go_backwards:
            ys.reverse()
        return carry, (None if ys[0] is None else ops.stack(ys))

    # -- serialization ---------------------------------------------------------------------
    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "cell": serialize_layer(self.cell),
        }

    @classmethod
    def from_config(cls, config: dict) -> RNN:
        config = dict(config)
        cell = deserialize_layer(config.pop("cell"), "cell")
        return cls(cell, **config)


#: The cell arguments a built-in layer shows as its own (``lstm.units``), as Keras's properties.
_CELL_ARGUMENTS = frozenset(
    {
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "unit_forget_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "kernel_regularizer",
        "recurrent_regularizer",
        "bias_regularizer",
        "kernel_constraint",
        "recurrent_constraint",
        "bias_constraint",
        "dropout",
        "recurrent_dropout",
        "reset_after",
    }
)


class BuiltinRNN(RNN):
    """What ``SimpleRNN``, ``LSTM`` and ``GRU`` share: the cell made from the layer's
    arguments, Keras's flat config (the cell's arguments next to the RNN's), and the
    cell's arguments readable on the layer (``lstm.units``)."""

    cell_class: ClassVar[type]
    cell_name: ClassVar[str]
    _input_rank = 3
    #: Keras's LSTM and GRU take ``use_cudnn`` (no meaning on a CPU); SimpleRNN doesn't.
    _takes_use_cudnn: ClassVar[bool] = True

    def __init__(
        self,
        units: int,
        *,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        activity_regularizer: Any = None,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        **cell_arguments: Any,
    ):
        use_cudnn = cell_arguments.pop("use_cudnn", "auto")
        if not self._takes_use_cudnn and use_cudnn != "auto":
            raise TypeError(f"{type(self).__name__} got an unexpected argument 'use_cudnn'.")
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                f"{type(self).__name__}: use_cudnn must be one of 'auto', True, False; "
                f"received use_cudnn={use_cudnn!r}."
            )
        layer_arguments = {
            key: cell_arguments.pop(key)
            for key in ("input_shape", "input_dim", "shared_object_id")
            if key in cell_arguments
        }
        cell = self.cell_class(
            units, dtype=dtype, trainable=trainable, name=self.cell_name, **cell_arguments
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            activity_regularizer=activity_regularizer,
            name=name,
            trainable=trainable,
            dtype=dtype,
            **layer_arguments,
        )
        self.use_cudnn = use_cudnn

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes the layer lacks: the cell's arguments (lstm.units).
        cell = self.__dict__.get("cell")
        if cell is not None and name in _CELL_ARGUMENTS:
            return getattr(cell, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_config(self) -> dict:
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        config.update(cell_config)
        config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> RNN:
        return cls(**config)
