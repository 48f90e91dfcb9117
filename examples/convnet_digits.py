"""The classic small MNIST convnet, written the Keras 3 way, trained on digits.

The architecture of the well-known "Simple MNIST convnet": two 3x3 convolutions
(32 and 64 filters, ReLU), each followed by 2x2 max pooling, then flatten,
dropout 0.5 and a 10-way softmax, trained with Adam on 28x28x1 images. Here the
images are nerve's embedded 8x8 digits resampled to 28x28
(``nerve.datasets.digits.load_data(image_size=28)``), so the script needs no
download and trains in well under a minute on a CPU. Written against ``nerve``
with Keras 3's names and arguments: change the import to ``keras`` (and the data
to MNIST) and it is a Keras script.

Run it with ``python examples/convnet_digits.py``.
"""

import numpy as np

import nerve
from nerve import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def build_model():
    return nerve.Sequential(
        [
            nerve.Input(shape=INPUT_SHAPE),
            layers.Rescaling(1 / 16),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="digits_convnet",
    )


def main(epochs=15, batch_size=64, verbose=0):
    nerve.utils.set_random_seed(1337)
    (x_train, y_train), (x_test, y_test) = nerve.datasets.digits.load_data(image_size=28)
    # Channels last: one grey-scale channel.
    x_train, x_test = x_train[..., np.newaxis], x_test[..., np.newaxis]

    model = build_model()
    if verbose:
        model.summary()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.1,
        verbose=verbose,
    )
    score = model.evaluate(x_test, y_test, verbose=verbose, return_dict=True)
    return {
        "epochs_run": len(history.history["loss"]),
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "test_loss": score["loss"],
        "test_accuracy": score["accuracy"],
    }


if __name__ == "__main__":
    print(main(verbose=1))
