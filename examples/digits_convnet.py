"""An all-convolutional digit classifier: batch normalization, strided convolutions,
global pooling, no dense hidden layer.

The digits that ship with nerve (8x8, values 0..16) are resampled to 12x12 by the
loader (``load_data(image_size=12)``), so there is room for three stages of 3x3
convolutions (12x12, 6x6, 3x3). Each stage is convolution -> ``BatchNormalization``
-> ReLU; the second and third halve the resolution with a stride of 2 instead of a
pooling layer, and ``GlobalAveragePooling2D`` turns the last feature maps into one
vector per image, so the only dense layer is the classifier itself.
``SpatialDropout2D`` drops whole feature maps. The moving statistics use a momentum
of 0.9: with a small data set the default (0.99) would still remember its initial
values after a dozen epochs. A ``ModelCheckpoint`` keeps the weights of the epoch
with the best validation accuracy; they are loaded back before the test.

Run it with ``python examples/digits_convnet.py``.
"""

import numpy as np

import nerve
from nerve import layers

IMAGE_SIZE = 12
NUM_CLASSES = 10


def stage(filters: int, strides: int) -> list[nerve.Layer]:
    return [
        layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False),
        # 1,600 images make ~50 steps an epoch: the moving statistics must follow
        # faster than Keras's default momentum (0.99) lets them.
        layers.BatchNormalization(momentum=0.9),
        layers.ReLU(),
    ]


def build_model() -> nerve.Sequential:
    return nerve.Sequential(
        [
            nerve.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1)),
            layers.Rescaling(1 / 16),
            *stage(16, strides=1),
            *stage(32, strides=2),
            layers.SpatialDropout2D(0.1),
            *stage(48, strides=2),
            layers.GlobalAveragePooling2D(),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="digit_convnet",
    )


def main(epochs=12, batch_size=32, verbose=0):
    nerve.utils.set_random_seed(7)
    (x_train, y_train), (x_test, y_test) = nerve.datasets.digits.load_data(image_size=IMAGE_SIZE)
    x_train, x_test = x_train[..., np.newaxis], x_test[..., np.newaxis]  # one channel, last

    model = build_model()
    if verbose:
        model.summary()
    model.compile(
        optimizer=nerve.optimizers.Adam(2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    checkpoint = nerve.callbacks.ModelCheckpoint(
        "best_digit_convnet.weights.h5",
        monitor="val_accuracy",
        mode="max",
        save_best_only=True,
        save_weights_only=True,
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.1,
        callbacks=[checkpoint],
        verbose=verbose,
    )
    model.load_weights("best_digit_convnet.weights.h5")
    score = model.evaluate(x_test, y_test, verbose=verbose, return_dict=True)
    return {
        "epochs_run": len(history.history["loss"]),
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "best_val_accuracy": max(history.history["val_accuracy"]),
        "test_accuracy": score["accuracy"],
    }


if __name__ == "__main__":
    print(main(verbose=1))
