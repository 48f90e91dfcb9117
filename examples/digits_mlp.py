"""Which digits does a small network confuse? A dense classifier on nerve's digits.

nerve ships 1,797 hand-written digits as 8x8 grey images (``nerve.datasets.digits``),
so this script runs anywhere in seconds. It shows the everyday workflow of a
``Sequential`` model:

* preprocessing inside the model (``Rescaling`` to [0, 1], ``Flatten``), so a saved
  model takes raw pixels;
* one-hot targets with label smoothing (``CategoricalCrossentropy(label_smoothing=...)``)
  and a cosine learning-rate schedule handed to ``Adam``;
* ``EarlyStopping`` that watches validation accuracy and puts the best weights back;
* a ``.keras`` file that reloads to the same predictions, compiled state included;
* a confusion count made with plain NumPy from ``predict``: which true digit is most
  often read as which other one.

Run it with ``python examples/digits_mlp.py``.
"""

import numpy as np

import nerve
from nerve import layers

NUM_CLASSES = 10


def build_model(width: int = 96) -> nerve.Sequential:
    """Raw 8x8 pixels (0..16) in, ten class probabilities out."""
    return nerve.Sequential(
        [
            nerve.Input(shape=(8, 8)),
            layers.Rescaling(1 / 16),
            layers.Flatten(),
            layers.Dense(width, activation="gelu"),
            layers.Dropout(0.15),
            layers.Dense(width // 2, activation="gelu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="digit_reader",
    )


def most_confused(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[int, int, int]:
    """(true digit, predicted digit, count) of the most frequent mistake."""
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    np.fill_diagonal(counts, 0)
    true, predicted = np.unravel_index(np.argmax(counts), counts.shape)
    return int(true), int(predicted), int(counts[true, predicted])


def main(epochs=40, batch_size=48, verbose=0):
    nerve.utils.set_random_seed(2026)
    (x_train, y_train), (x_test, y_test) = nerve.datasets.digits.load_data()
    targets = nerve.utils.to_categorical(y_train, NUM_CLASSES)

    model = build_model()
    if verbose:
        model.summary()
    steps = epochs * int(np.ceil(0.85 * len(x_train) / batch_size))
    schedule = nerve.optimizers.schedules.CosineDecay(3e-3, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=nerve.optimizers.Adam(learning_rate=schedule),
        loss=nerve.losses.CategoricalCrossentropy(label_smoothing=0.05),
        metrics=["categorical_accuracy"],
    )
    stopper = nerve.callbacks.EarlyStopping(
        monitor="val_categorical_accuracy", mode="max", patience=6, restore_best_weights=True
    )
    history = model.fit(
        x_train,
        targets,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.15,
        callbacks=[stopper],
        verbose=verbose,
    )
    test_targets = nerve.utils.to_categorical(y_test, NUM_CLASSES)
    score = model.evaluate(x_test, test_targets, verbose=verbose, return_dict=True)

    probabilities = model.predict(x_test, verbose=verbose)
    true_digit, read_as, times = most_confused(y_test, probabilities.argmax(axis=-1))

    model.save("digit_reader.keras")
    reloaded = nerve.saving.load_model("digit_reader.keras")
    reloaded_probabilities = reloaded.predict(x_test, verbose=verbose)
    reloaded_score = reloaded.evaluate(x_test, test_targets, verbose=verbose, return_dict=True)

    return {
        "epochs_run": len(history.history["loss"]),
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "test_accuracy": score["categorical_accuracy"],
        "reloaded_test_accuracy": reloaded_score["categorical_accuracy"],
        "max_prediction_diff": float(np.max(np.abs(probabilities - reloaded_probabilities))),
        "most_confused": {"digit": true_digit, "read_as": read_as, "times": times},
    }


if __name__ == "__main__":
    print(main(verbose=1))
