"""``ConvLSTM1D``, ``ConvLSTM2D``, ``ConvLSTM3D`` (Shi et al., 2015), as Keras 3 has them.

An LSTM whose input and recurrent transformations are convolutions: the states
``h`` and ``c`` are feature maps of shape ``(batch, *spatial, filters)``
(``channels_last``) or ``(batch, filters, *spatial)`` (``channels_first``). Weights
(Keras's names, shapes and gate order i, f, c, o along the last axis):
``kernel`` ``(*kernel_size, in_channels, 4 * filters)``, ``recurrent_kernel``
``(*kernel_size, filters, 4 * filters)``, ``bias`` ``(4 * filters,)`` whose forget
block starts at one (``unit_forget_bias``). The input convolution uses the layer's
``strides``, ``padding`` and ``dilation_rate``; the recurrent one is always stride 1,
``"same"`` padding, no dilation, so the states keep the input convolution's output size.

**The loop.** As for ``LSTM``, the input convolution is hoisted out of the time loop:
the time axis is folded into the batch axis and the ``4 * filters`` gate maps of every
step come from one convolution before the ``scan``, whose body holds only the
recurrent convolution and the gate arithmetic. ``ConvLSTMCell`` is the cell; Keras
does not export it, so neither does ``nerve.layers``.

>>> from nerve import layers, ops
>>> layer = layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True)
>>> layer(ops.ones((2, 5, 8, 8, 3))).shape
(2, 5, 8, 8, 4)
>>> [(w.path, w.shape) for w in layer.weights]  # doctest: +NORMALIZE_WHITESPACE
[('conv_lstm_cell/kernel', (3, 3, 3, 16)),
 ('conv_lstm_cell/recurrent_kernel', (3, 3, 4, 16)),
 ('conv_lstm_cell/bias', (16,))]
"""

from __future__ import annotations

from typing import Any, ClassVar

from nerve import activations, constraints, initializers, ops, regularizers
from nerve import random as nrandom
from nerve.core import config, tree
from nerve.core.errors import ShapeError, with_location
from nerve.layers._spatial import DATA_FORMATS, int_tuple
from nerve.layers.base import Layer
from nerve.layers.convolutional.base import conv_output_size, positive_int
from nerve.layers.rnn.dropout_rnn_cell import DropoutRNNCell
from nerve.layers.rnn.rnn import BuiltinRNN
from nerve.tensor import Tensor

__all__ = ["ConvLSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "ConvLSTMCell"]

#: Keras's positional order of a ConvLSTM layer's arguments after ``filters``.
_POSITIONAL = (
    "kernel_size",
    "strides",
    "padding",
    "data_format",
    "dilation_rate",
    "activation",
    "recurrent_activation",
)

#: The cell arguments a ConvLSTM layer shows as its own (``layer.filters``), as Keras's properties.
_CELL_ARGUMENTS = frozenset(
    {
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "data_format",
        "dilation_rate",
        "activation",
        "recurrent_activation",
        "use_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "unit_forget_bias",
        "kernel_regularizer",
        "recurrent_regularizer",
        "bias_regularizer",
        "kernel_constraint",
        "recurrent_constraint",
        "bias_constraint",
        "dropout",
        "recurrent_dropout",
    }
)


class ConvLSTMCell(DropoutRNNCell, Layer):
    """One ConvLSTM step over a ``(batch, *spatial, channels)`` input (or
    ``(batch, channels, *spatial)``); the states are ``[h, c]`` and the output is ``h``::

        i, f, c~, o = split(conv(x, kernel) + bias + conv_same(h, recurrent_kernel), 4)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(c~);  h' = sigmoid(o) * tanh(c')

    Arguments are the ConvLSTM layers' cell arguments, plus ``rank`` (1, 2 or 3; not
    in the config: the layer that makes the cell knows it). As ``LSTMCell``, the work
    splits into ``project_inputs`` (the input convolution, for one step or a whole
    time-major sequence) and ``step`` (the recurrence), so ``RNN`` hoists the first
    out of its loop.

    >>> from nerve import ops
    >>> cell = ConvLSTMCell(2, 3, rank=1, padding="same")
    >>> h, [h_again, c] = cell(ops.ones((4, 6, 5)), [ops.zeros((4, 6, 2))] * 2)
    >>> h.shape, c.shape, cell.kernel.shape
    ((4, 6, 2), (4, 6, 2), (3, 5, 8))
    """

    dropout_mask_count = 4  # one mask per gate, as Keras's ConvLSTMCell
    #: RNN may call ``project_inputs`` once for the whole sequence, then ``step``.
    _projects_inputs: ClassVar[bool] = True
    #: The output is the first state, so RNN need not carry it separately.
    _output_state_index: ClassVar[int | None] = 0

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        *,
        rank: int,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        layer = type(self).__name__
        if rank not in (1, 2, 3):
            raise ValueError(f"{layer}: rank must be 1, 2 or 3, got rank={rank!r}.")
        self.rank = rank
        self.filters = positive_int(filters, "filters", layer)
        self.kernel_size = int_tuple(kernel_size, rank, "kernel_size", layer)
        self.strides = int_tuple(strides, rank, "strides", layer)
        self.dilation_rate = int_tuple(dilation_rate, rank, "dilation_rate", layer)
        name = padding.lower() if isinstance(padding, str) else padding
        if name not in ("valid", "same"):
            raise ValueError(f"{layer}: padding must be 'valid' or 'same', got {padding!r}.")
        self.padding = name
        data_format = config.image_data_format() if data_format is None else data_format
        if data_format not in DATA_FORMATS:
            raise ValueError(
                f"{layer}: data_format must be 'channels_last' or 'channels_first', "
                f"got {data_format!r}."
            )
        self.data_format = data_format
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{layer}: strides > 1 cannot be combined with dilation_rate > 1 (as in "
                f"Keras); got strides={self.strides} and dilation_rate={self.dilation_rate}."
            )
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        # Keras clips the rates into [0, 1]; a rate of 1 then drops nothing (as in Keras).
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self.seed_generator = nrandom.SeedGenerator(seed)
        self.state_size: Any = [self.filters, self.filters]
        self.output_size = self.filters
        self._state_shape: tuple | None = None  # (*spatial, filters) laid out, once built

    # -- layout ----------------------------------------------------------------------------
    @property
    def _channel_axis(self) -> int:
        """The channel axis of one step's tensors (inputs, states, gate maps)."""
        return 1 if self.data_format == "channels_first" else -1

    def split_step_shape(self, shape: tuple) -> tuple[tuple, Any]:
        """The spatial sizes and the channel count of one step's input shape."""
        if self.data_format == "channels_first":
            return tuple(shape[2:]), shape[1]
        return tuple(shape[1:-1]), shape[-1]

    def output_spatial(self, spatial: tuple) -> tuple:
        """The states' spatial sizes for inputs of spatial sizes ``spatial``."""
        return tuple(
            conv_output_size(n, k, s, d, self.padding)
            for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        )

    def compute_output_shape(self, inputs_shape: Any, states_shape: Any = None) -> tuple:
        """``(output shape, [h shape, c shape])`` for one step's input shape (Keras's)."""
        spatial, _ = self.split_step_shape(tuple(inputs_shape))
        out = self.output_spatial(spatial)
        batch = inputs_shape[0]
        if self.data_format == "channels_first":
            shape = (batch, self.filters, *out)
        else:
            shape = (batch, *out, self.filters)
        return shape, [shape, shape]

    # -- weights ---------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        spatial, channels = self.split_step_shape(shape)
        width = 4 * self.filters
        self.kernel = self.add_weight(
            shape=(*self.kernel_size, channels, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(*self.kernel_size, self.filters, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(width,),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self._state_shape = self.compute_output_shape((None, *shape[1:]))[0][1:]

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        filters, initializer = self.filters, self.bias_initializer

        def forget_gate_ones(shape: Any, dtype: Any = None) -> Tensor:
            return ops.concatenate(
                [
                    initializer((filters,), dtype=dtype),
                    ops.ones((filters,), dtype=dtype),
                    initializer((2 * filters,), dtype=dtype),
                ]
            )

        return forget_gate_ones

    # -- the two halves of a step ------------------------------------------------------------
    def _input_convolution(self, inputs: Tensor, kernel: Tensor) -> Tensor:
        """``conv(inputs, kernel)`` for inputs shaped ``(..., batch, *step axes)``: the
        leading axes are folded into the batch, so it is one convolution."""
        first_step_axis = inputs.ndim - (self.rank + 1)
        leading = tuple(inputs.shape[:first_step_axis])
        folded = ops.reshape(inputs, (-1, *inputs.shape[first_step_axis:]))
        outputs = ops.conv(
            folded,
            kernel,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )
        return ops.reshape(outputs, (*leading, *outputs.shape[1:]))

    def project_inputs(self, inputs: Tensor, training: Any = False) -> Tensor:
        """The input convolution plus the bias (input dropout applied, one mask per
        gate), for one step ``(batch, *step axes)`` or a time-major sequence
        ``(timesteps, batch, *step axes)``: the four gates' maps, concatenated on the
        channel axis."""
        kernel = self._cast(self.kernel)
        masks = None
        if training and 0.0 < self.dropout < 1.0:
            step = inputs if inputs.ndim == self.rank + 2 else inputs[0]
            masks = self.get_dropout_mask(step)
        if masks is None:
            projected = self._input_convolution(inputs, kernel)
        else:
            blocks = ops.split(kernel, 4, axis=-1)
            projected = ops.concatenate(
                [self._input_convolution(inputs * m, k) for m, k in zip(masks, blocks)],
                axis=self._channel_axis,
            )
        if self.bias is not None:
            bias = self._cast(self.bias)
            if self.data_format == "channels_first":
                bias = ops.reshape(bias, (-1, *(1,) * self.rank))
            projected = projected + bias
        return projected

    def _recurrent_convolution(self, h: Tensor, training: Any) -> Tensor:
        """``conv(h, recurrent_kernel)``, stride 1 and ``"same"`` padding (Keras's), with
        recurrent dropout (one mask per gate)."""
        kernel = self._cast(self.recurrent_kernel)

        def convolve(x: Tensor, k: Tensor) -> Tensor:
            return ops.conv(x, k, strides=1, padding="same", data_format=self.data_format)

        masks = self.__dict__.get("_recurrent_dropout_mask") if training else None
        if masks is None:
            return convolve(h, kernel)
        blocks = ops.split(kernel, 4, axis=-1)
        return ops.concatenate(
            [convolve(h * m, k) for m, k in zip(masks, blocks)], axis=self._channel_axis
        )

    def step(self, projected: Tensor, states: Any, training: Any = False) -> tuple[Tensor, Any]:
        """One time step from ``project_inputs``'s result: ``(h, [h, c])``."""
        h, c = states[0], states[1]
        z = projected + self._recurrent_convolution(h, training)
        i, f, candidate, o = ops.split(z, 4, axis=self._channel_axis)
        gate = self.recurrent_activation
        c = gate(f) * c + gate(i) * self.activation(candidate)
        h = gate(o) * self.activation(c)
        return h, [h, c]

    # -- Keras's cell contract -----------------------------------------------------------------
    def call(self, inputs: Tensor, states: Any, training: Any = False) -> tuple[Tensor, Any]:
        if training and 0.0 < self.recurrent_dropout < 1.0:
            self.get_recurrent_dropout_mask(states[0])
        return self.step(self.project_inputs(inputs, training), states, training)

    def get_initial_state(self, batch_size: Any = None) -> list[Tensor]:
        """Zeros for ``h`` and ``c``, each ``(batch_size, *state axes)``."""
        if self._state_shape is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: the state shape depends on the "
                "input's spatial size; build the cell (or call the layer) first."
            )
        shape = (batch_size, *self._state_shape)
        return [ops.zeros(shape, dtype=self.compute_dtype) for _ in range(2)]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }


class ConvLSTM(BuiltinRNN):
    """The shared part of ``ConvLSTM1D``/``2D``/``3D`` (an abstract base: a subclass
    sets ``rank``): ``RNN(ConvLSTMCell(...))`` with the cell's arguments on the layer
    and in its flat config, Keras's arguments and defaults. Sequences are
    ``(batch, timesteps, *spatial, channels)`` (``channels_last``) or
    ``(batch, timesteps, channels, *spatial)`` (``channels_first``); ``return_state=True``
    returns ``(output, h, c)``. Masks, ``go_backwards``, ``stateful``, ``unroll`` and
    dropout behave as in the other recurrent layers.

    >>> from nerve import layers, ops
    >>> output, h, c = layers.ConvLSTM1D(3, 2, return_state=True)(ops.ones((2, 4, 6, 5)))
    >>> output.shape, h.shape, c.shape
    ((2, 5, 3), (2, 5, 3), (2, 5, 3))
    """

    rank: ClassVar[int] = 0
    cell_class = ConvLSTMCell
    cell_name = "conv_lstm_cell"
    _takes_use_cudnn = False
    cell: ConvLSTMCell

    def __init__(self, filters: int, *args: Any, **kwargs: Any):
        if self.rank not in (1, 2, 3):
            raise TypeError(
                f"{type(self).__name__}: ConvLSTM is abstract; use ConvLSTM1D, ConvLSTM2D "
                "or ConvLSTM3D."
            )
        if len(args) > len(_POSITIONAL):
            raise TypeError(
                f"{type(self).__name__} takes at most {len(_POSITIONAL) + 1} positional "
                f"arguments (filters, {', '.join(_POSITIONAL)}); got {len(args) + 1}."
            )
        kwargs.update(zip(_POSITIONAL, args))
        if "kernel_size" not in kwargs:
            raise TypeError(f"{type(self).__name__} missing required argument 'kernel_size'.")
        super().__init__(filters, rank=self.rank, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes the layer lacks: the cell's arguments (layer.filters).
        cell = self.__dict__.get("cell")
        if cell is not None and name in _CELL_ARGUMENTS:
            return getattr(cell, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- shapes and checks ---------------------------------------------------------------------
    def _layout(self) -> str:
        if self.cell.data_format == "channels_first":
            return "(batch, timesteps, channels, *spatial)"
        return "(batch, timesteps, *spatial, channels)"

    def _check_sequences(self, shape: tuple) -> None:
        rank = len(shape)
        if rank != self.rank + 3:
            raise ShapeError(
                with_location(
                    f"{self._describe()} expects sequences of rank {self.rank + 3}, laid out "
                    f"{self._layout()} for data_format={self.cell.data_format!r}, but "
                    f"received a tensor of shape {shape} (rank {rank})."
                )
            )
        spatial, channels = self.cell.split_step_shape((shape[0], *shape[2:]))
        if not all(isinstance(n, int) for n in (*spatial, channels)):
            raise ShapeError(
                with_location(
                    f"{self._describe()} needs sequences whose spatial and channel axes are "
                    f"known (laid out {self._layout()}); received shape {shape}."
                )
            )
        out = self.cell.output_spatial(spatial)
        if any(size is not None and size <= 0 for size in out):
            raise ShapeError(
                with_location(
                    f"{self._describe()}: kernel_size {self.cell.kernel_size} with "
                    f"dilation_rate {self.cell.dilation_rate} does not fit the spatial shape "
                    f"{spatial} of sequences of shape {shape} (padding='valid'); the states "
                    f"would have spatial shape {out}. Use padding='same', a smaller kernel "
                    "or larger inputs."
                )
            )
        super()._check_sequences(shape)

    def _state_shape(self, sequences_shape: tuple) -> tuple:
        step = (sequences_shape[0], *sequences_shape[2:])
        return tuple(self.cell.compute_output_shape(step)[0])

    def compute_output_shape(self, sequences_shape: Any, initial_state_shape: Any = None) -> Any:
        shape = tuple(sequences_shape)
        self._check_sequences(shape)
        state = self._state_shape(shape)
        output = (state[0], shape[1], *state[1:]) if self.return_sequences else state
        return (output, state, state) if self.return_state else output

    def _initial_states(self, sequences: Tensor, initial_state: Any) -> list:
        if initial_state is None:
            return super()._initial_states(sequences, None)
        leaves = [ops.convert_to_tensor(s) for s in tree.flatten(initial_state)[0]]
        expected = self._state_shape(tuple(sequences.shape))
        received = [tuple(s.shape) for s in leaves]
        if received != [expected, expected]:
            raise ShapeError(
                with_location(
                    f"{self._describe()} expected an initial_state of 2 tensors (h, c) of "
                    f"shape {expected}, but received {len(leaves)} of shapes {received}."
                )
            )
        dtype = self.cell.compute_dtype
        return [s if s.dtype == dtype else ops.cast(s, dtype) for s in leaves]


class ConvLSTM1D(ConvLSTM):
    """1-D convolutional LSTM over ``(batch, timesteps, steps, channels)`` sequences:
    an ``LSTM`` whose products are 1-D convolutions, so its states are
    ``(batch, new_steps, filters)`` feature maps. The output is the last ``h``, or
    ``(batch, timesteps, new_steps, filters)`` with ``return_sequences=True``.

    Args:
        filters: the number of channels of the states and the output (a positive
            int).
        kernel_size: the window length of both convolutions, an int or a tuple of
            one int.
        strides: the input convolution's step, an int or a tuple of one
            int; 1 by default. Strides above 1 cannot be combined with a ``dilation_rate``
            above 1.
        padding: the input convolution's padding, ``"valid"`` (the default) or
            ``"same"``; the recurrent convolution always pads ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (channels right after
            the time axis); ``None`` uses ``nerve.config.image_data_format()``.
        dilation_rate: the spacing between the input convolution's taps, an int or a
            tuple of one int; 1 by default.
        activation: the function applied to the candidate and to the cell state
            before the output gate; ``"tanh"`` by default.
        recurrent_activation: the function producing the gates; ``"sigmoid"`` by
            default.
        use_bias: whether a bias is added (true by default).
        kernel_initializer: how the input kernel starts; ``"glorot_uniform"`` by
            default.
        recurrent_initializer: how the recurrent kernel starts; ``"orthogonal"`` by
            default.
        bias_initializer: how the bias starts; zeros by default.
        unit_forget_bias: whether the forget gate's bias starts at one (true by
            default); the other blocks use ``bias_initializer``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: optional penalties
            on the three weights, added to the layer's ``losses``.
        kernel_constraint, recurrent_constraint, bias_constraint: optional functions
            applied to the three weights after each optimizer step.
        dropout: the fraction of the input entries to drop while training, in
            ``[0, 1]`` (values outside are clipped; 0 and 1 drop nothing); one mask per
            gate is drawn per sequence and used at every step.
        recurrent_dropout: the same for the previous ``h`` fed back at each step.
        seed: an int to make the dropout masks reproducible; ``None`` draws a fresh
            seed.
        return_sequences: whether the output holds every step's ``h`` (true) or
            only the last (false, the default).
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
        activity_regularizer: an optional penalty on the layer's output.
        name, trainable, dtype: as for every layer (see ``Layer``); ``trainable``
            and ``dtype`` apply to the cell as well.

    Call arguments:
        sequences: a tensor of shape ``(batch, timesteps, steps, channels)``.
        initial_state: optional ``[h, c]``, two tensors shaped like one step's output;
            zeros by default.
        mask: optional boolean ``(batch, timesteps)`` tensor; a masked step keeps the
            previous states. By default the implicit mask the inputs carry.
        training: whether dropout applies (true inside ``fit``).

    >>> from nerve import layers, ops
    >>> layers.ConvLSTM1D(4, 3, padding="same")(ops.ones((2, 5, 10, 3))).shape
    (2, 10, 4)
    """

    rank = 1
    _input_rank = 4


class ConvLSTM2D(ConvLSTM):
    """2-D convolutional LSTM over ``(batch, timesteps, height, width, channels)`` sequences:
    an ``LSTM`` whose products are 2-D convolutions, so its states are
    ``(batch, new_height, new_width, filters)`` feature maps (e.g. for video frames).
    The output is the last ``h``, or ``(batch, timesteps, new_height, new_width,
    filters)`` with ``return_sequences=True``.

    Args:
        filters: the number of channels of the states and the output (a positive
            int).
        kernel_size: the window height and width of both convolutions, an int or a
            tuple of two.
        strides: the input convolution's step, an int or a tuple of two; 1 by
            default. Strides above 1 cannot be combined with a ``dilation_rate``
            above 1.
        padding: the input convolution's padding, ``"valid"`` (the default) or
            ``"same"``; the recurrent convolution always pads ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (channels right after
            the time axis); ``None`` uses ``nerve.config.image_data_format()``.
        dilation_rate: the spacing between the input convolution's taps, an int or a
            tuple of two; 1 by default.
        activation: the function applied to the candidate and to the cell state
            before the output gate; ``"tanh"`` by default.
        recurrent_activation: the function producing the gates; ``"sigmoid"`` by
            default.
        use_bias: whether a bias is added (true by default).
        kernel_initializer: how the input kernel starts; ``"glorot_uniform"`` by
            default.
        recurrent_initializer: how the recurrent kernel starts; ``"orthogonal"`` by
            default.
        bias_initializer: how the bias starts; zeros by default.
        unit_forget_bias: whether the forget gate's bias starts at one (true by
            default); the other blocks use ``bias_initializer``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: optional penalties
            on the three weights, added to the layer's ``losses``.
        kernel_constraint, recurrent_constraint, bias_constraint: optional functions
            applied to the three weights after each optimizer step.
        dropout: the fraction of the input entries to drop while training, in
            ``[0, 1]`` (values outside are clipped; 0 and 1 drop nothing); one mask per
            gate is drawn per sequence and used at every step.
        recurrent_dropout: the same for the previous ``h`` fed back at each step.
        seed: an int to make the dropout masks reproducible; ``None`` draws a fresh
            seed.
        return_sequences: whether the output holds every step's ``h`` (true) or
            only the last (false, the default).
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
        activity_regularizer: an optional penalty on the layer's output.
        name, trainable, dtype: as for every layer (see ``Layer``); ``trainable``
            and ``dtype`` apply to the cell as well.

    Call arguments:
        sequences: a tensor of shape ``(batch, timesteps, height, width, channels)``.
        initial_state: optional ``[h, c]``, two tensors shaped like one step's output;
            zeros by default.
        mask: optional boolean ``(batch, timesteps)`` tensor; a masked step keeps the
            previous states. By default the implicit mask the inputs carry.
        training: whether dropout applies (true inside ``fit``).

    >>> from nerve import layers, ops
    >>> layers.ConvLSTM2D(4, 3, strides=2)(ops.ones((2, 5, 9, 9, 3))).shape
    (2, 4, 4, 4)
    """

    rank = 2
    _input_rank = 5


class ConvLSTM3D(ConvLSTM):
    """3-D convolutional LSTM over ``(batch, timesteps, depth, height, width, channels)``
    sequences: an ``LSTM`` whose products are 3-D convolutions, so its states are
    ``(batch, new_depth, new_height, new_width, filters)`` feature maps. The output is
    the last ``h``, or the ``h`` of every step (a time axis after the batch axis) with
    ``return_sequences=True``.

    Args:
        filters: the number of channels of the states and the output (a positive
            int).
        kernel_size: the window depth, height and width of both convolutions, an int
            or a tuple of three.
        strides: the input convolution's step, an int or a tuple of three; 1
            by default. Strides above 1 cannot be combined with a ``dilation_rate``
            above 1.
        padding: the input convolution's padding, ``"valid"`` (the default) or
            ``"same"``; the recurrent convolution always pads ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (channels right after
            the time axis); ``None`` uses ``nerve.config.image_data_format()``.
        dilation_rate: the spacing between the input convolution's taps, an int or a
            tuple of three; 1 by default.
        activation: the function applied to the candidate and to the cell state
            before the output gate; ``"tanh"`` by default.
        recurrent_activation: the function producing the gates; ``"sigmoid"`` by
            default.
        use_bias: whether a bias is added (true by default).
        kernel_initializer: how the input kernel starts; ``"glorot_uniform"`` by
            default.
        recurrent_initializer: how the recurrent kernel starts; ``"orthogonal"`` by
            default.
        bias_initializer: how the bias starts; zeros by default.
        unit_forget_bias: whether the forget gate's bias starts at one (true by
            default); the other blocks use ``bias_initializer``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: optional penalties
            on the three weights, added to the layer's ``losses``.
        kernel_constraint, recurrent_constraint, bias_constraint: optional functions
            applied to the three weights after each optimizer step.
        dropout: the fraction of the input entries to drop while training, in
            ``[0, 1]`` (values outside are clipped; 0 and 1 drop nothing); one mask per
            gate is drawn per sequence and used at every step.
        recurrent_dropout: the same for the previous ``h`` fed back at each step.
        seed: an int to make the dropout masks reproducible; ``None`` draws a fresh
            seed.
        return_sequences: whether the output holds every step's ``h`` (true) or
            only the last (false, the default).
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
        activity_regularizer: an optional penalty on the layer's output.
        name, trainable, dtype: as for every layer (see ``Layer``); ``trainable``
            and ``dtype`` apply to the cell as well.

    Call arguments:
        sequences: a tensor of shape ``(batch, timesteps, depth, height, width,
            channels)``.
        initial_state: optional ``[h, c]``, two tensors shaped like one step's output;
            zeros by default.
        mask: optional boolean ``(batch, timesteps)`` tensor; a masked step keeps the
            previous states. By default the implicit mask the inputs carry.
        training: whether dropout applies (true inside ``fit``).

    >>> from nerve import layers, ops
    >>> layers.ConvLSTM3D(2, (1, 3, 3), padding="same")(ops.ones((1, 3, 2, 5, 5, 1))).shape
    (1, 2, 5, 5, 2)
    """

    rank = 3
    _input_rank = 6
