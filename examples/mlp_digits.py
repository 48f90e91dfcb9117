"""A multilayer perceptron on handwritten digits, ported from Keras 3.

Port of the Keras workflow shown in keras.io's "The Sequential model" guide and the
"Simple MNIST" style examples: a ``Sequential`` stack (``Input`` -> ``Rescaling`` ->
``Flatten`` -> ``Dense``/``Dropout`` -> softmax), ``compile``/``fit``/``evaluate`` with
``EarlyStopping(restore_best_weights=True)``, then a ``.keras`` save / ``load_model``
round trip. The only changes from the Keras code: ``import keras`` became
``import nerve``, and MNIST became the 8x8 digits that ship with nerve
(``nerve.datasets.digits``), so the script trains in a few seconds on a CPU.

Run it with ``python examples/mlp_digits.py``.
"""

import numpy as np

import nerve
from nerve import layers


def main(epochs=30, verbose=0):
    nerve.utils.set_random_seed(1337)

    # The data: 8x8 grey-scale images with values 0..16, labels 0..9.
    (x_train, y_train), (x_test, y_test) = nerve.datasets.digits.load_data()

    model = nerve.Sequential(
        [
            nerve.Input(shape=(8, 8)),
            layers.Rescaling(1 / 16),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ],
        name="digits_mlp",
    )
    if verbose:
        model.summary()

    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = [
        nerve.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
    ]
    history = model.fit(
        x_train,
        y_train,
        batch_size=64,
        epochs=epochs,
        validation_split=0.1,
        callbacks=callbacks,
        verbose=verbose,
    )
    score = model.evaluate(x_test, y_test, verbose=verbose, return_dict=True)

    # Save the whole model (architecture, weights, optimizer state) and load it back.
    model.save("digits_mlp.keras")
    restored = nerve.saving.load_model("digits_mlp.keras")
    predictions = model.predict(x_test, verbose=verbose)
    restored_predictions = restored.predict(x_test, verbose=verbose)
    restored_score = restored.evaluate(x_test, y_test, verbose=verbose, return_dict=True)

    return {
        "epochs_run": len(history.history["loss"]),
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "test_loss": score["loss"],
        "test_accuracy": score["accuracy"],
        "restored_test_accuracy": restored_score["accuracy"],
        "max_prediction_diff": float(np.max(np.abs(predictions - restored_predictions))),
    }


if __name__ == "__main__":
    print(main(verbose=1))
