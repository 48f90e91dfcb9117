"""Learn from a folder of image files: ``image_dataset_from_directory``, then a convnet.

The way Keras's "image classification from scratch" guide starts: a directory with
one sub-folder per class, images of any size inside, read with
``image_dataset_from_directory`` (labels from the folder names, a seeded
training/validation split, resizing on the fly) and fed to ``fit`` through a
prefetching pipeline.

So that it runs without a download, the script first writes its own folder: nerve's
embedded handwritten digits saved as PNG files in ``digits/0`` ... ``digits/9``, at
three different sizes (so resizing has work to do), plus a corrupt file that the
loader must report. Written against ``nerve`` with Keras 3's names: change the import
to ``keras`` and point it at your own folder, and it is a Keras script.

Run it with ``python examples/image_folder.py`` (needs Pillow: ``pip install
"nerve[image]"``).
"""

from pathlib import Path

import numpy as np

import nerve
from nerve import layers

IMAGE_SIZE = (28, 28)


def write_image_folder(root):
    """The digits as PNG files in one folder per class, at mixed sizes."""
    from PIL import Image

    (x_train, y_train), (x_test, y_test) = nerve.datasets.digits.load_data()
    images = np.concatenate([x_train, x_test])
    labels = np.concatenate([y_train, y_test])
    for index, (image, label) in enumerate(zip(images, labels)):
        folder = Path(root) / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (image * (255 / 16)).astype(np.uint8)
        side = (24, 32, 40)[index % 3]
        Image.fromarray(pixels, mode="L").resize((side, side), Image.BILINEAR).save(
            folder / f"digit_{index:04d}.png"
        )
    return len(labels)


def build_model():
    return nerve.Sequential(
        [
            nerve.Input(shape=(*IMAGE_SIZE, 1)),
            layers.Rescaling(1 / 255),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(10, activation="softmax"),
        ],
        name="folder_convnet",
    )


def main(epochs=8, folder=".", verbose=0):
    nerve.utils.set_random_seed(7)
    root = Path(folder) / "digits"
    count = write_image_folder(root)

    train, validation = nerve.utils.image_dataset_from_directory(
        root,
        color_mode="grayscale",
        image_size=IMAGE_SIZE,
        batch_size=32,
        validation_split=0.2,
        subset="both",
        seed=1337,
        verbose=bool(verbose),
    )
    class_names = train.class_names
    train = train.prefetch(nerve.data.AUTOTUNE)
    validation = validation.prefetch(nerve.data.AUTOTUNE)

    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, epochs=epochs, validation_data=validation, verbose=verbose)

    # A damaged file in the folder is named, not silently skipped.
    (root / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    try:
        for _ in nerve.utils.image_dataset_from_directory(root, verbose=False):
            pass
        corrupt_error = None
    except Exception as error:  # the loader's own error type may vary
        corrupt_error = str(error)
    return {
        "files": count,
        "class_names": class_names,
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "val_accuracy": history.history["val_accuracy"][-1],
        "corrupt_error": corrupt_error,
    }


if __name__ == "__main__":
    print(main(verbose=2))
