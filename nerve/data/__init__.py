"""Input pipelines (tf.data's names): ``Dataset`` and its sources and transformations,
``AUTOTUNE``, ``TensorSpec``, and ``make_csv_dataset`` for tables in CSV files.

>>> from nerve import data
>>> [b.tolist() for b in data.Dataset.range(5).shuffle(5, seed=0).batch(5)][0] != [0, 1, 2, 3, 4]
True
"""

from nerve.data.csv_dataset import make_csv_dataset
from nerve.data.dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from nerve.graph.function import TensorSpec

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "Dataset",
    "TensorSpec",
    "make_csv_dataset",
]
