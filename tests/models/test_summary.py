"""Model.summary: the table, parameter counts, FLOPs and activation memory."""

import pytest

import nerve
from nerve import layers, ops
from nerve.layers.base import kernel_flops


def _summary(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return "\n".join(lines)


def _row(text, name):
    return next(line for line in text.splitlines() if f" {name} (" in line)


def _cells(row):
    return [cell.strip() for cell in row.strip("│").split("│")]


def test_sequential_summary_counts_by_hand():
    model = nerve.Sequential(
        [nerve.Input(shape=(8, 8)), layers.Rescaling(1 / 16), layers.Flatten(name="flat"),
         layers.Dense(64, activation="relu", name="hidden"), layers.Dropout(0.2),
         layers.Dense(10, activation="softmax", name="probs")],
        name="digits",
    )  # fmt: skip
    text = _summary(model)
    assert text.splitlines()[0] == 'Model: "digits"'
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text
    assert "Connected to" not in text  # a plain stack, as in Keras
    # hidden: 64 inputs * 64 units + 64 biases; FLOPs 2 * 64 * 64; output 64 float32s.
    assert _cells(_row(text, "hidden")) == [
        "hidden (Dense)",
        "(None, 64)",
        "4,160",
        "8,192",
        "256.00 B",
    ]
    assert _cells(_row(text, "probs")) == ["probs (Dense)", "(None, 10)", "650", "1,280", "40.00 B"]
    assert _cells(_row(text, "flat"))[1:] == ["(None, 64)", "0", "0", "256.00 B"]
    assert " Total params: 4,810 (18.79 KB)" in text
    assert " Trainable params: 4,810 (18.79 KB)" in text
    assert " Non-trainable params: 0 (0.00 B)" in text
    assert "FLOPs per example (forward, 2 x multiply-adds): 9,472" in text


def test_functional_summary_shows_connections_and_frozen_weights():
    a, b = nerve.Input(shape=(3,), name="left"), nerve.Input(shape=(5,), name="right")
    frozen = layers.Dense(3, name="frozen", trainable=False)
    merged = layers.Lambda(lambda xs: xs[0] + xs[1], name="add")([a, frozen(b)])
    model = nerve.Model([a, b], layers.Dense(2, name="head")(merged), name="two_inputs")
    text = _summary(model, show_trainable=True)
    assert "Connected to" in text and "Trainable" in text
    assert _cells(_row(text, "add"))[5] == "left[0][0], frozen[0][0]"
    assert _cells(_row(text, "frozen"))[2:4] == ["18", "30"]
    assert _cells(_row(text, "frozen"))[-1] == "N"
    assert " Total params: 26 (104.00 B)" in text
    assert " Trainable params: 8 (32.00 B)" in text
    assert " Non-trainable params: 18 (72.00 B)" in text


def test_functional_summary_lists_op_nodes_as_keras_does():
    nerve.backend.clear_session()  # op names from fresh counters: get_item, multiply
    a = nerve.Input(shape=(8,), name="a")
    sliced = layers.Dense(6, name="proj")(a)[:, :5]
    model = nerve.Model(a, layers.Dense(1, name="head")(ops.relu(sliced * 2.0)))
    text = _summary(model, show_trainable=True)
    assert _cells(_row(text, "get_item")) == [
        "get_item (GetItem)", "(None, 5)", "0", "0", "20.00 B", "proj[0][0]", "-"
    ]  # fmt: skip
    assert _cells(_row(text, "multiply"))[5] == "get_item[0][0]"
    assert _cells(_row(text, "head"))[5] == "relu[0][0]"
    assert "FLOPs per example (forward, 2 x multiply-adds): 106" in text


class ConvLike(layers.Layer):
    """A layer with a convolution-shaped kernel: (3, 3, c_in, 4) -> (6, 6, 4) outputs,
    counting its FLOPs as a convolution layer does."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(3, 3, input_shape[-1], 4), name="kernel")

    def call(self, inputs):
        return ops.zeros((inputs.shape[0], 6, 6, 4)) + ops.sum(self.kernel)

    def compute_flops(self, input_shape, output_shape):
        return kernel_flops(self.kernel.shape, output_shape)


def test_convolution_flops_use_kernel_and_output_shapes():
    model = nerve.Sequential([nerve.Input(shape=(8, 8, 2)), ConvLike(name="conv")])
    # 6 * 6 output positions, each a 3 * 3 * 2 -> 4 product: 2 * 36 * 72 FLOPs.
    assert _cells(_row(_summary(model), "conv"))[1:5] == [
        "(None, 6, 6, 4)",
        "72",
        "5,184",
        "576.00 B",
    ]


def test_nested_model_rows_and_expand_nested():
    inner = nerve.Sequential(
        [nerve.Input(shape=(4,)), layers.Dense(3, name="inner_dense")], name="inner"
    )
    x = nerve.Input(shape=(4,))
    model = nerve.Model(x, layers.Dense(1, name="outer_dense")(inner(x)))
    text = _summary(model)
    assert _cells(_row(text, "inner"))[1:4] == ["(None, 3)", "15", "24"]
    assert "inner_dense" not in text
    assert "└ inner_dense (Dense)" in _summary(model, expand_nested=True)


def test_subclassed_summary_before_and_after_building():
    class Net(nerve.Model):
        def __init__(self):
            super().__init__(name="net")
            self.dense = layers.Dense(2, name="net_dense")

        def call(self, inputs):
            return self.dense(inputs)

    model = Net()
    text = _summary(model)
    assert _cells(_row(text, "net_dense"))[1:3] == ["?", "0"]
    model(ops.ones((1, 3)))
    text = _summary(model)
    assert _cells(_row(text, "net_dense"))[1:4] == ["?", "8", "?"]
    assert " Total params: 8 (32.00 B)" in text
    assert "FLOPs per example (forward, 2 x multiply-adds): at least 0" in text


def test_unbuilt_sequential_then_built():
    model = nerve.Sequential([layers.Dense(4, name="late")])
    assert _cells(_row(_summary(model), "late"))[1] == "?"
    model(ops.ones((2, 3)))
    assert _cells(_row(_summary(model), "late"))[1:3] == ["(None, 4)", "16"]


@pytest.mark.parametrize("positions", [[0.4, 0.6, 0.7, 0.85, 1.0], [30, 45, 55, 70, 80]])
def test_line_length_and_positions(positions):
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])
    lines = []
    model.summary(line_length=80, positions=positions, print_fn=lines.append)
    table = [line for line in lines if line[:1] in "┏┃┡│├└"]
    assert {len(line) for line in table} == {len(table[0])}
    assert abs(len(table[0]) - 80) <= 6
    lines = []
    model.summary(line_length=120, print_fn=lines.append)
    assert abs(len(lines[1]) - 120) <= 6


class Lookup(layers.Layer):
    """An embedding: a 2-D weight used as a table, not in a matrix product."""

    def build(self, input_shape):
        self.table = self.add_weight(shape=(50, 8), name="table")

    def call(self, inputs):
        return ops.take(self.table, ops.cast(inputs, "int32"), axis=0)


class CountedLookup(Lookup):
    def compute_flops(self, input_shape, output_shape):
        return 0  # gathering rows does no arithmetic


def test_weights_the_layer_does_not_explain_count_as_unknown_not_as_a_matmul():
    model = nerve.Sequential(
        [nerve.Input(shape=(5,)), Lookup(name="lookup"), layers.Dense(3, name="head")]
    )
    text = _summary(model)
    # Not 2 * 5 positions * 400 table entries: the summary cannot tell a table from a kernel.
    assert _cells(_row(text, "lookup"))[1:4] == ["(None, 5, 8)", "400", "?"]
    assert _cells(_row(text, "head"))[1:4] == ["(None, 5, 3)", "27", "240"]  # 2 * 5 * 8 * 3
    assert (
        "FLOPs per example (forward, 2 x multiply-adds): at least 240 "
        "(some layers' counts are unknown: ?)" in text
    )

    model = nerve.Sequential(
        [nerve.Input(shape=(5,)), CountedLookup(name="lookup"), layers.Dense(3, name="head")]
    )
    text = _summary(model)
    assert _cells(_row(text, "lookup"))[1:4] == ["(None, 5, 8)", "400", "0"]
    assert "FLOPs per example (forward, 2 x multiply-adds): 240\n" in text + "\n"


def test_dense_stack_counts_two_flops_per_kernel_entry_and_position():
    sizes = [7, 5, 3, 2]
    dense = [layers.Dense(n, name=f"d{i}", use_bias=i % 2 == 0) for i, n in enumerate(sizes[1:])]
    model = nerve.Sequential([nerve.Input(shape=(sizes[0],)), *dense])
    text = _summary(model)
    expected = [2 * n_in * n_out for n_in, n_out in zip(sizes, sizes[1:])]
    for i, flops in enumerate(expected):
        assert _cells(_row(text, f"d{i}"))[3] == f"{flops:,}"
        layer = model.get_layer(f"d{i}")
        assert layer.compute_flops((None, sizes[i]), (None, sizes[i + 1])) == flops
    assert f"FLOPs per example (forward, 2 x multiply-adds): {sum(expected):,}\n" in text + "\n"
    # Dense on a sequence: the product repeats at each of the 4 positions.
    assert layers.Dense(3).compute_flops((None, 4, 6), (None, 4, 3)) == 4 * 2 * 6 * 3
    assert layers.Dense(3).compute_flops((None, 6), None) is None  # output shape unknown


def test_layer_flops_contract_defaults():
    class Table(layers.Layer):
        def build(self, input_shape):
            self.table = self.add_weight(shape=(4, 4))

    table = Table()
    table.build((None, 4))
    assert table.compute_flops((None, 4), (None, 4)) is None
    wrapper = layers.Layer()
    wrapper.inner = layers.Dense(2)
    wrapper.inner.build((None, 3))
    assert wrapper.compute_flops((None, 3), (None, 2)) is None  # a sublayer's weights count
    assert layers.Dropout(0.5).compute_flops((None, 3), (None, 3)) == 0
    assert kernel_flops((3, 3, 2, 4), (None, 6, None, 4)) is None
