"""An LSTM's training graph for the lowering-pass tests: the loss of a scanned LSTM
cell and its gradients, with the forward and backward scan bodies picked out."""

import numpy as np

import nerve
from nerve import ops


def graph_of(f, *shapes):
    """The optimized graph of ``f`` (before lowering) on arrays of ones."""
    return nerve.function(f).get_concrete_function(*[ops.ones(s) for s in shapes]).graph


def lstm_training_graph(rows: int, cols: int, steps: int = 5, sequence: bool = False):
    """``(graph, forward_body, backward_body)``: the graph of an LSTM's loss and its
    gradients over ``steps`` steps (``sequence``: the loss also reads every step's
    output), and the bodies of its forward and backward scans."""
    rng = np.random.default_rng(1)
    kernel = nerve.Variable(rng.standard_normal((cols, 4 * cols)) * 0.3, dtype="float32")

    def step(carry, x):
        h, c = carry
        i, f, g, o = ops.split(x + h @ kernel, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return (h, c), (h if sequence else None)

    def loss_and_grads(xs, h0):
        with nerve.GradientTape() as tape:
            tape.watch([xs, h0])
            (h, c), ys = ops.scan(step, (h0, h0 * 0.5), xs)
            loss = ops.sum(h * h) + ops.sum(c)
            if sequence:
                loss = loss + ops.sum(ys)
        return (loss, *tape.gradient(loss, [xs, h0, kernel]))

    graph = graph_of(loss_and_grads, (steps, rows, 4 * cols), (rows, cols))
    scans = {
        n.params["reverse"]: n.params["body_program"].graph
        for n in graph.nodes
        if n.prim.name == "scan"
    }
    return graph, scans[False], scans[True]
