"""A Transformer-block text classifier, written the Keras way: a token-and-position
embedding layer and a Transformer block as custom layers, then pooling and a
classifier.

So that it runs without a download, the "reviews" are random word ids in which words
of two kinds are planted (three of one kind, one of the other); the label is the
kind in the majority. The model sees ids of length ``MAXLEN``; with
``nerve.datasets.imdb.load_data`` and ``pad_sequences`` it trains on real reviews.

Run it with ``python examples/text_transformer.py``.
"""

import numpy as np

import nerve
from nerve import layers, ops

VOCAB = 500
MAXLEN = 40
KINDS = (np.arange(10, 20), np.arange(20, 30))


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(vocab_size, embed_dim)
        self.pos_emb = layers.Embedding(maxlen, embed_dim)

    def call(self, x):
        positions = ops.arange(0, x.shape[-1])
        return self.token_emb(x) + self.pos_emb(positions)


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = nerve.Sequential(
            [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)]
        )
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training=None):
        attention = self.att(inputs, inputs)
        out1 = self.layernorm1(inputs + self.dropout1(attention, training=training))
        ffn_output = self.ffn(out1)
        return self.layernorm2(out1 + self.dropout2(ffn_output, training=training))


def make_sentences(count, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(30, VOCAB, (count, MAXLEN)).astype("int32")
    y = rng.integers(0, 2, count).astype("int32")
    for row in range(count):
        spots = rng.choice(MAXLEN, size=4, replace=False)
        x[row, spots[:3]] = rng.choice(KINDS[y[row]], 3)
        x[row, spots[3]] = rng.choice(KINDS[1 - y[row]])
    return x, y


def build_model(embed_dim=32, num_heads=2, ff_dim=32):
    inputs = nerve.Input(shape=(MAXLEN,), dtype="int32")
    x = TokenAndPositionEmbedding(MAXLEN, VOCAB, embed_dim)(inputs)
    x = TransformerBlock(embed_dim, num_heads, ff_dim)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return nerve.Model(inputs=inputs, outputs=outputs, name="transformer_classifier")


def main(epochs=6, train_size=3000, verbose=0):
    nerve.utils.set_random_seed(3)
    x_train, y_train = make_sentences(train_size, seed=1)
    x_test, y_test = make_sentences(500, seed=2)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
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
