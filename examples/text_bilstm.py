"""A bidirectional LSTM text classifier on integer sequences, written the Keras way.

Reviews as word ids (as ``nerve.datasets.imdb.load_data`` returns them), padded to a
fixed length with ``pad_sequences``; ``Embedding(mask_zero=True)`` marks the padding,
and the mask flows through ``Bidirectional(LSTM)`` so padded steps change nothing.

So that it runs without a download, the script makes its own "reviews": sequences of
random word ids of varying length in which a few "positive" and "negative" words are
planted; the label says which kind is more frequent. Point ``load_reviews`` at
``nerve.datasets.imdb.load_data(num_words=VOCAB)`` to train on real IMDB reviews.

Run it with ``python examples/text_bilstm.py``.
"""

import numpy as np

import nerve
from nerve import layers

VOCAB = 2000
POSITIVE = np.arange(10, 20)
NEGATIVE = np.arange(20, 30)


def load_reviews(count, seed):
    """Variable-length id sequences (ids 3..VOCAB-1; 0 is padding) and 0/1 labels."""
    rng = np.random.default_rng(seed)
    reviews, labels = [], []
    for _ in range(count):
        length = int(rng.integers(20, 120))
        words = rng.integers(30, VOCAB, length)
        label = int(rng.integers(0, 2))
        strong, weak = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
        spots = rng.choice(length, size=6, replace=False)
        words[spots[:4]] = rng.choice(strong, 4)
        words[spots[4:5]] = rng.choice(weak, 1)
        reviews.append(words.tolist())
        labels.append(label)
    return reviews, np.array(labels, dtype="float32")


def build_model(maxlen):
    return nerve.Sequential(
        [
            nerve.Input(shape=(maxlen,), dtype="int32"),
            layers.Embedding(VOCAB, 32, mask_zero=True),
            layers.Bidirectional(layers.LSTM(32)),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="bilstm_classifier",
    )


def main(epochs=4, maxlen=200, train_size=1600, verbose=0):
    nerve.utils.set_random_seed(42)
    x_train, y_train = load_reviews(train_size, seed=1)
    x_test, y_test = load_reviews(400, seed=2)
    x_train = nerve.utils.pad_sequences(x_train, maxlen=maxlen)
    x_test = nerve.utils.pad_sequences(x_test, maxlen=maxlen)

    model = build_model(maxlen)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
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
