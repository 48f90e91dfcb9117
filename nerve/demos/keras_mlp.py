"""``nerve demo``: a Keras-style MLP on the embedded 8x8 digits, end to end.

It is the Keras 3 script from the project's README with ``keras`` replaced by
``nerve``: build a ``Sequential`` model, ``compile``, ``fit`` with a progress bar
and early stopping, ``evaluate`` on held-out digits, ``save`` to a ``.keras`` file
and load it back, and draw the training curves (matplotlib, an optional extra).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import nerve
from nerve import layers

__all__ = ["KerasDemoResult", "build_model", "run_keras_demo"]


@dataclass
class KerasDemoResult:
    test_accuracy: float
    test_loss: float
    epochs_run: int
    seconds: float
    model_path: str
    plot_path: str | None
    history: dict = field(repr=False, default_factory=dict)


def build_model() -> nerve.Model:
    """The README's model: rescale, flatten, one hidden ReLU layer, dropout, softmax."""
    return nerve.Sequential(
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


def run_keras_demo(
    epochs: int = 100,
    batch_size: int = 64,
    patience: int = 10,
    seed: int = 1337,
    output_dir: str = ".",
    verbose: str | int = "auto",
    plot: bool = True,
    log=print,
) -> KerasDemoResult:
    """Train, evaluate, save, reload and plot; returns the figures.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     result = run_keras_demo(epochs=2, output_dir=out, verbose=0, plot=False,
    ...                             log=lambda *a: None)
    >>> result.epochs_run
    2
    """
    start = time.perf_counter()
    nerve.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = nerve.datasets.digits.load_data()
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary(print_fn=log)
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.1,
        verbose=verbose,
        callbacks=[nerve.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)],
    )
    results = model.evaluate(x_test, y_test, return_dict=True, verbose=0)
    log(f"test accuracy: {results['accuracy']:.4f}  test loss: {results['loss']:.4f}")

    os.makedirs(output_dir, exist_ok=True)
    model_path = os.path.join(output_dir, "digits.keras")
    model.save(model_path)
    restored = nerve.saving.load_model(model_path)
    same = (restored.predict(x_test, verbose=0) == model.predict(x_test, verbose=0)).all()
    log(f"saved {model_path}; reloaded model predicts {'identically' if same else 'DIFFERENTLY'}")
    if not same:
        raise RuntimeError("The reloaded model's predictions differ from the trained model's.")

    plot_path = _plot(history.history, output_dir, log) if plot else None
    return KerasDemoResult(
        test_accuracy=float(results["accuracy"]),
        test_loss=float(results["loss"]),
        epochs_run=len(history.history["loss"]),
        seconds=time.perf_counter() - start,
        model_path=model_path,
        plot_path=plot_path,
        history=history.history,
    )


def _plot(history: dict, output_dir: str, log) -> str | None:
    """Loss and accuracy per epoch, training and validation, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        log(
            "training-curve plot skipped: matplotlib is not installed "
            "(pip install 'nerve[plot]' to enable it)"
        )
        return None
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = range(1, len(history["loss"]) + 1)
    for axes, key, title in ((loss_axes, "loss", "loss"), (accuracy_axes, "accuracy", "accuracy")):
        axes.plot(epochs, history[key], label="training")
        if f"val_{key}" in history:
            axes.plot(epochs, history[f"val_{key}"], label="validation")
        axes.set_xlabel("epoch")
        axes.set_title(title)
        axes.legend()
    figure.suptitle("nerve demo: MLP on the UCI digits")
    figure.tight_layout()
    path = os.path.join(output_dir, "training_curve.png")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    log(f"training curves: {path}")
    return path
