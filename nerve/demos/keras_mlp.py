"""``nerve demo``: a Keras-style model on the embedded digits, end to end.

It is the Keras 3 script from the project's README with ``keras`` replaced by
``nerve``: build a ``Sequential`` model, ``compile``, ``fit`` with a progress bar
and early stopping, ``evaluate`` on held-out digits, ``save`` to a ``.keras`` file
and load it back, and draw the training curves (matplotlib, an optional extra).
Two models: the README's MLP on the 8x8 images (``nerve demo``), and the classic
small MNIST convnet on the digits resampled to 28x28 (``nerve demo --convnet``).
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nerve
from nerve import layers
from nerve.demos import DEFAULT_OUTPUT_DIR

__all__ = ["DEMOS", "KerasDemoResult", "build_convnet", "build_model", "run_keras_demo"]


@dataclass
class KerasDemoResult:
    test_accuracy: float
    test_loss: float
    epochs_run: int
    seconds: float
    model_path: str | None  # None when h5py is missing and saving was skipped
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


def build_convnet() -> nerve.Model:
    """The classic small MNIST convnet: two 3x3 convolutions (32, 64 filters) each
    followed by 2x2 max pooling, then flatten, dropout 0.5 and a softmax."""
    return nerve.Sequential(
        [
            nerve.Input(shape=(28, 28, 1)),
            layers.Rescaling(1 / 16),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ],
        name="digits_convnet",
    )


@dataclass(frozen=True)
class _Demo:
    build: Callable[[], nerve.Model]
    image_size: int  # digits resampled to this side; a channel axis is added for convnets
    channels: bool
    file_name: str
    title: str


#: The demo models by name (``nerve demo``, ``nerve demo --convnet``).
DEMOS = {
    "mlp": _Demo(build_model, 8, False, "digits.keras", "MLP on the UCI digits"),
    "convnet": _Demo(
        build_convnet, 28, True, "digits_convnet.keras", "convnet on the digits at 28x28"
    ),
}


def run_keras_demo(
    epochs: int = 100,
    batch_size: int = 64,
    patience: int = 10,
    seed: int = 1337,
    output_dir: str = DEFAULT_OUTPUT_DIR,
    verbose: str | int = "auto",
    plot: bool = True,
    log=print,
    model: str = "mlp",
) -> KerasDemoResult:
    """Train ``DEMOS[model]``, evaluate, save, reload and plot; returns the figures.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     result = run_keras_demo(epochs=2, output_dir=out, verbose=0, plot=False,
    ...                             log=lambda *a: None)
    >>> result.epochs_run
    2
    """
    if model not in DEMOS:
        raise ValueError(f"Unknown demo model {model!r}; expected one of {sorted(DEMOS)}.")
    demo = DEMOS[model]
    start = time.perf_counter()
    nerve.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = nerve.datasets.digits.load_data(
        image_size=demo.image_size
    )
    if demo.channels:
        x_train, x_test = x_train[..., None], x_test[..., None]
    network = demo.build()
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    network.summary(print_fn=log)
    history = network.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.1,
        verbose=verbose,
        callbacks=[nerve.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)],
    )
    results = network.evaluate(x_test, y_test, return_dict=True, verbose=0)
    log(f"test accuracy: {results['accuracy']:.4f}  test loss: {results['loss']:.4f}")

    os.makedirs(output_dir, exist_ok=True)
    model_path = _save_and_reload(network, os.path.join(output_dir, demo.file_name), x_test, log)

    plot_path = _plot(history.history, output_dir, log, demo.title) if plot else None
    return KerasDemoResult(
        test_accuracy=float(results["accuracy"]),
        test_loss=float(results["loss"]),
        epochs_run=len(history.history["loss"]),
        seconds=time.perf_counter() - start,
        model_path=model_path,
        plot_path=plot_path,
        history=history.history,
    )


def _save_and_reload(network: Any, path: str, x_test: Any, log) -> str | None:
    """Save to ``path``, load it back and check the predictions are the same; without
    h5py (which the ``.keras`` format's weights need) say how to get it and go on."""
    if importlib.util.find_spec("h5py") is None:
        log(
            "saving skipped: .keras files store their weights with h5py, which is not "
            "installed (pip install 'nerve[demo]' to enable it)"
        )
        return None
    network.save(path)
    restored = nerve.saving.load_model(path)
    same = (restored.predict(x_test, verbose=0) == network.predict(x_test, verbose=0)).all()
    log(f"saved {path}; reloaded model predicts {'identically' if same else 'DIFFERENTLY'}")
    if not same:
        raise RuntimeError("The reloaded model's predictions differ from the trained model's.")
    return path


def _plot(history: dict, output_dir: str, log, title: str) -> str | None:
    """Loss and accuracy per epoch, training and validation, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        log(
            "training-curve plot skipped: matplotlib is not installed "
            "(pip install 'nerve[demo]' to enable it)"
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
    figure.suptitle(f"nerve demo: {title}")
    figure.tight_layout()
    path = os.path.join(output_dir, "training_curve.png")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    log(f"training curves: {path}")
    return path
