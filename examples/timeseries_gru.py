"""Forecast a time series with a GRU: windows from ``timeseries_dataset_from_array``.

A daily "temperature" series is made of a yearly cycle, a weekly cycle and noise (so
the script needs no download). Every window of the past ``WINDOW`` days, scaled by the
training part's mean and standard deviation, predicts the next day. The model is
the classic small forecaster: ``GRU(32)`` then ``Dense(1)``, trained on the first 70 %
of the series and evaluated on the last 30 %, and compared with the naive forecast
"tomorrow equals today".

Run it with ``python examples/timeseries_gru.py``.
"""

import numpy as np

import nerve
from nerve import layers

WINDOW = 30


def make_series(days, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    series = (
        10 * np.sin(2 * np.pi * t / 365.25)
        + 2 * np.sin(2 * np.pi * t / 7)
        + rng.normal(0, 0.8, days)
    )
    return series.astype("float32")


def windows(series, start, end, batch_size, shuffle):
    """Windows of ``WINDOW`` days in ``series[start:end]`` and the day after each."""
    return nerve.utils.timeseries_dataset_from_array(
        series[:-1, None],
        targets=series[WINDOW:],
        sequence_length=WINDOW,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=3,
        start_index=start,
        end_index=end,
    )


def main(epochs=10, days=2000, verbose=0):
    nerve.utils.set_random_seed(11)
    raw = make_series(days, seed=0)
    split = int(0.7 * days)
    mean, std = raw[:split].mean(), raw[:split].std()
    series = (raw - mean) / std

    train = windows(series, 0, split, 64, shuffle=True)
    test = windows(series, split, None, 256, shuffle=False)

    model = nerve.Sequential(
        [nerve.Input(shape=(WINDOW, 1)), layers.GRU(32), layers.Dense(1)], name="forecaster"
    )
    model.compile(optimizer=nerve.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    history = model.fit(train, epochs=epochs, validation_data=test, verbose=verbose)
    gru_mae = model.evaluate(test, verbose=verbose, return_dict=True)["mae"]

    # The naive forecast: tomorrow equals the last day of the window.
    naive = [np.abs(x[:, -1, 0] - y).mean() * len(y) for x, y in test]
    naive_mae = float(np.sum(naive) / sum(len(y) for _, y in test))
    return {
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "gru_mae_degrees": float(gru_mae * std),
        "naive_mae_degrees": float(naive_mae * std),
    }


if __name__ == "__main__":
    print(main(verbose=2))
