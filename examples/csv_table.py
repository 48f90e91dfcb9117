"""Learn from a raw CSV table: stream it with ``make_csv_dataset``, turn columns into
features in a ``map``, and train a classifier with ``fit``.

The script first writes its own table (``loans.csv``: 6,000 loan applications with
numeric columns, a categorical ``purpose`` column, some missing incomes, and whether
the loan was repaid), so it needs no download. Then, as with any CSV file nobody
prepared:

1. ``nerve.data.make_csv_dataset`` infers each column's type and streams batches of
   ``(features, label)``; missing incomes arrive as NaN, explicitly.
2. One pass over the training file computes each numeric column's mean and standard
   deviation (ignoring NaN), the way a ``Normalization`` layer would ``adapt``.
3. A ``map`` standardizes the numbers, fills the missing ones with the mean, adds a
   "was missing" indicator and one-hot encodes ``purpose``.
4. ``fit`` reads the pipeline afresh every epoch, shuffled by a seeded buffer.

Run it with ``python examples/csv_table.py``.
"""

from pathlib import Path

import numpy as np

import nerve
from nerve import layers
from nerve.data import make_csv_dataset

NUMERIC = ["age", "income", "loan_amount", "years_employed", "open_accounts"]
PURPOSES = ["car", "education", "home", "business"]


def write_table(path, rows, seed):
    """A synthetic loan table: repayment depends on income vs loan size, employment,
    age and purpose, plus noise."""
    rng = np.random.default_rng(seed)
    age = rng.integers(21, 70, rows)
    income = rng.lognormal(10.5, 0.5, rows).round(0)
    loan = (rng.lognormal(9.5, 0.7, rows)).round(0)
    years = np.minimum(rng.exponential(6, rows), age - 18).round(1)
    accounts = rng.poisson(4, rows)
    purpose = rng.integers(0, len(PURPOSES), rows)
    score = (
        2.0 * np.log(income / loan)
        + 0.15 * years
        + 0.02 * (age - 40)
        - 0.2 * accounts
        + np.array([0.3, -0.2, 0.6, -0.8])[purpose]
        + rng.normal(0, 0.7, rows)
    )
    repaid = (score > np.median(score)).astype(int)
    with open(path, "w") as stream:
        stream.write(",".join([*NUMERIC, "purpose", "repaid"]) + "\n")
        for i in range(rows):
            shown_income = "" if rng.random() < 0.05 else f"{income[i]:.0f}"
            stream.write(
                f"{age[i]},{shown_income},{loan[i]:.0f},{years[i]},{accounts[i]},"
                f"{PURPOSES[purpose[i]]},{repaid[i]}\n"
            )


def column_statistics(path):
    """Mean and standard deviation of each numeric column, NaN ignored (one pass)."""
    total = np.zeros(len(NUMERIC))
    squares = np.zeros(len(NUMERIC))
    count = np.zeros(len(NUMERIC))
    table = make_csv_dataset(path, batch_size=1024, label_name="repaid", num_epochs=1,
                             shuffle=False)  # fmt: skip
    for features, _ in table:
        values = np.stack([features[name].astype("float64") for name in NUMERIC], axis=1)
        present = ~np.isnan(values)
        total += np.where(present, values, 0).sum(0)
        squares += np.where(present, values**2, 0).sum(0)
        count += present.sum(0)
    mean = total / count
    return mean, np.sqrt(squares / count - mean**2)


def make_pipeline(path, mean, std, shuffle):
    def encode(features, label):
        values = np.stack([features[name] for name in NUMERIC], axis=1).astype("float32")
        missing = np.isnan(values)
        values = np.where(missing, mean, values)
        scaled = ((values - mean) / std).astype("float32")
        purpose = features["purpose"][:, None] == np.array(PURPOSES)[None, :]
        x = np.concatenate([scaled, missing[:, 1:2], purpose], axis=1).astype("float32")
        return x, label.astype("float32")

    table = make_csv_dataset(path, batch_size=64, label_name="repaid", num_epochs=1,
                             shuffle=shuffle, shuffle_seed=7)  # fmt: skip
    return table.map(encode).prefetch(2)


def build_model(num_features):
    return nerve.Sequential(
        [
            nerve.Input(shape=(num_features,)),
            layers.Dense(32, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(16, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="loan_classifier",
    )


def main(epochs=12, folder=".", verbose=0):
    nerve.utils.set_random_seed(2024)
    folder = Path(folder)
    train_path, test_path = folder / "loans.csv", folder / "loans_test.csv"
    write_table(train_path, 6000, seed=1)
    write_table(test_path, 1500, seed=2)

    mean, std = column_statistics(str(train_path))
    train = make_pipeline(str(train_path), mean, std, shuffle=True)
    test = make_pipeline(str(test_path), mean, std, shuffle=False)
    num_features = next(iter(train))[0].shape[1]

    model = build_model(num_features)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train, epochs=epochs, validation_data=test, verbose=verbose)
    score = model.evaluate(test, verbose=verbose, return_dict=True)
    return {
        "num_features": num_features,
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "test_accuracy": score["accuracy"],
    }


if __name__ == "__main__":
    print(main(verbose=2))
