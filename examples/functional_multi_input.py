"""A multi-input, multi-output Functional model, ported from Keras 3.

Port of the "Models with multiple inputs and outputs" section of keras.io's
"The Functional API" guide: a ticket classifier that reads a ticket's title, body and
tags (three inputs) and predicts its priority (a score) and the department that should
handle it (a softmax over departments), with one loss per output and ``loss_weights``.
Inputs, outputs and losses are given as dicts keyed by name, as in the guide.

Changes from the Keras code, besides ``import keras`` -> ``import nerve``:

* nerve has no ``Embedding``/``LSTM`` layers yet, so the title and body are bag-of-words
  count vectors over a small vocabulary, encoded by ``Dense`` layers;
* the synthetic targets follow a hidden rule of the inputs (rather than being pure
  noise), so the run shows the model learning; the data is small so it runs in seconds.

Run it with ``python examples/functional_multi_input.py``.
"""

import numpy as np

import nerve
from nerve import layers

num_tags = 12  # Number of unique issue tags
num_words = 50  # Size of vocabulary (the guide uses 10,000 with an Embedding)
num_departments = 4  # Number of departments for predictions


def make_data(num_samples=1280, seed=0):
    """Synthetic tickets: word counts for title and body, binary tags, and targets that
    depend on them (priority on the title and tags, department on the body)."""
    rng = np.random.default_rng(seed)
    title_data = rng.poisson(0.3, size=(num_samples, num_words)).astype("float32")
    body_data = rng.poisson(1.0, size=(num_samples, num_words)).astype("float32")
    tags_data = rng.integers(0, 2, size=(num_samples, num_tags)).astype("float32")

    priority_logit = title_data[:, :5].sum(axis=1) - title_data[:, 5:10].sum(axis=1)
    priority_logit += tags_data[:, 0] - tags_data[:, 1]
    priority_targets = (priority_logit > 0).astype("float32")[:, None]
    word_groups = body_data[:, : 5 * num_departments].reshape(num_samples, num_departments, 5)
    word_groups = word_groups.sum(axis=2)
    dept_targets = np.eye(num_departments, dtype="float32")[word_groups.argmax(axis=1)]

    inputs = {"title": title_data, "body": body_data, "tags": tags_data}
    targets = {"priority": priority_targets, "department": dept_targets}
    return inputs, targets


def build_model():
    title_input = nerve.Input(shape=(num_words,), name="title")  # word counts in the title
    body_input = nerve.Input(shape=(num_words,), name="body")  # word counts in the body
    tags_input = nerve.Input(shape=(num_tags,), name="tags")  # binary tag vectors

    # Encode the title and the body (the guide: Embedding, then LSTM(128) / LSTM(32)).
    title_features = layers.Dense(32, activation="relu", name="title_encoder")(title_input)
    body_features = layers.Dense(16, activation="relu", name="body_encoder")(body_input)

    # Merge all available features into a single large vector via concatenation.
    x = layers.concatenate([title_features, body_features, tags_input])

    # Stick a logistic regression for priority prediction on top of the features.
    priority_pred = layers.Dense(1, name="priority")(x)
    # Stick a department classifier on top of the features.
    department_pred = layers.Dense(num_departments, name="department")(x)

    # Instantiate an end-to-end model predicting both priority and department.
    return nerve.Model(
        inputs=[title_input, body_input, tags_input],
        outputs={"priority": priority_pred, "department": department_pred},
    )


def main(epochs=20, verbose=0):
    nerve.utils.set_random_seed(42)
    model = build_model()
    if verbose:
        model.summary()

    model.compile(
        optimizer=nerve.optimizers.RMSprop(1e-3),
        loss={
            "priority": nerve.losses.BinaryCrossentropy(from_logits=True),
            "department": nerve.losses.CategoricalCrossentropy(from_logits=True),
        },
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={
            "priority": [nerve.metrics.BinaryAccuracy(threshold=0.0)],
            "department": [nerve.metrics.CategoricalAccuracy()],
        },
    )

    inputs, targets = make_data()
    history = model.fit(inputs, targets, epochs=epochs, batch_size=32, verbose=verbose)

    test_inputs, test_targets = make_data(num_samples=256, seed=1)
    score = model.evaluate(test_inputs, test_targets, verbose=verbose, return_dict=True)
    predictions = model.predict(test_inputs, verbose=verbose)

    return {
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "history_keys": sorted(history.history),
        "test_scores": score,
        "prediction_shapes": {name: pred.shape for name, pred in predictions.items()},
    }


if __name__ == "__main__":
    print(main(verbose=1))
