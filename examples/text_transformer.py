"""A small pre-norm Transformer encoder that classifies id sequences.

Two custom layers carry the model: ``LearnedPositions`` adds a trainable vector per
position to the word vectors (its table is a weight made in ``build``), and
``PreNormEncoderBlock`` is one encoder block in the pre-normalization arrangement
(normalize, then attend or transform, then add back), which trains stably without a
learning-rate warm-up. Both follow the layer contract (``__init__`` stores the
settings, ``build`` makes weights, ``call`` computes, ``get_config`` describes), so
the model saves to ``.keras`` and loads back.

The data are made here: sequences of ``MAXLEN`` random word ids in which three words
of one family and one of another are planted; the label is the family in the
majority. Only the planted words matter and their positions vary, which is what
self-attention plus pooling handles well.

Run it with ``python examples/text_transformer.py``.
"""

import numpy as np

import nerve
from nerve import layers

VOCAB = 500
MAXLEN = 40
FAMILIES = (np.arange(10, 20), np.arange(20, 30))


class LearnedPositions(layers.Layer):
    """Adds a learned vector for each position: inputs ``(batch, steps, dim)``."""

    def build(self, input_shape):
        self.table = self.add_weight(
            shape=tuple(input_shape[1:]), initializer="random_normal", name="table"
        )

    def call(self, vectors):
        return vectors + self.table


class PreNormEncoderBlock(layers.Layer):
    """``x + attention(norm(x))``, then ``x + feed_forward(norm(x))``."""

    def __init__(self, dim, heads, hidden, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.heads, self.hidden, self.dropout = dim, heads, hidden, dropout
        self.attention_norm = layers.LayerNormalization(epsilon=1e-5)
        self.attention = layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)
        self.feed_forward_norm = layers.LayerNormalization(epsilon=1e-5)
        self.expand = layers.Dense(hidden, activation="gelu")
        self.project = layers.Dense(dim)
        self.residual_dropout = layers.Dropout(dropout)

    def call(self, x, training=None):
        normed = self.attention_norm(x)
        x = x + self.residual_dropout(self.attention(normed, normed), training=training)
        transformed = self.project(self.expand(self.feed_forward_norm(x)))
        return x + self.residual_dropout(transformed, training=training)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads,
                "hidden": self.hidden, "dropout": self.dropout}  # fmt: skip


def make_sequences(count, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(30, VOCAB, (count, MAXLEN)).astype("int32")
    labels = rng.integers(0, 2, count).astype("int32")
    for row, label in enumerate(labels):
        spots = rng.choice(MAXLEN, size=4, replace=False)
        ids[row, spots[:3]] = rng.choice(FAMILIES[label], 3)
        ids[row, spots[3]] = rng.choice(FAMILIES[1 - label])
    return ids, labels


def build_model(dim=32, heads=4, hidden=64, blocks=2):
    ids = nerve.Input(shape=(MAXLEN,), dtype="int32", name="ids")
    x = LearnedPositions(name="positions")(layers.Embedding(VOCAB, dim, name="words")(ids))
    for index in range(blocks):
        x = PreNormEncoderBlock(dim, heads, hidden, name=f"block_{index}")(x)
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    x = layers.GlobalMaxPooling1D(name="strongest_feature")(x)
    probabilities = layers.Dense(2, activation="softmax", name="family")(x)
    return nerve.Model(ids, probabilities, name="prenorm_encoder_classifier")


def main(epochs=6, train_size=3000, verbose=0):
    nerve.utils.set_random_seed(3)
    x_train, y_train = make_sequences(train_size, seed=1)
    x_test, y_test = make_sequences(500, seed=2)
    model = build_model()
    model.compile(
        optimizer=nerve.optimizers.Adam(learning_rate=2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1, verbose=verbose
    )
    score = model.evaluate(x_test, y_test, verbose=verbose, return_dict=True)
    return {
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "test_accuracy": score["accuracy"],
    }


if __name__ == "__main__":
    print(main(verbose=2))
