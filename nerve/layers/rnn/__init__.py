"""Keras 3's recurrent layers, one module per job: the generic ``RNN`` loop (``rnn``),
the built-in cells' shared base (``recurrent_cell``) and dropout masks
(``dropout_rnn_cell``), ``SimpleRNN``/``LSTM``/``GRU`` with their cells,
``ConvLSTM1D``/``2D``/``3D`` (``conv_lstm``), stacking (``stacked_rnn_cells``) and the
wrappers ``Bidirectional`` and ``TimeDistributed``."""

from nerve.layers.rnn.bidirectional import Bidirectional
from nerve.layers.rnn.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from nerve.layers.rnn.dropout_rnn_cell import DropoutRNNCell
from nerve.layers.rnn.gru import GRU, GRUCell
from nerve.layers.rnn.lstm import LSTM, LSTMCell
from nerve.layers.rnn.recurrent_cell import RecurrentCell
from nerve.layers.rnn.rnn import RNN
from nerve.layers.rnn.simple_rnn import SimpleRNN, SimpleRNNCell
from nerve.layers.rnn.stacked_rnn_cells import StackedRNNCells
from nerve.layers.rnn.time_distributed import TimeDistributed

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "DropoutRNNCell",
    "GRUCell",
    "LSTMCell",
    "RecurrentCell",
    "SimpleRNN",
    "SimpleRNNCell",
    "StackedRNNCells",
    "TimeDistributed",
]
