"""A restricted unpickler for data sets stored as Python pickles (CIFAR, later imdb and
reuters): it rebuilds only the NumPy objects those files need and refuses everything
else, so loading a file never runs code from it.

A pickle names the callables that rebuild its objects (``module`` and ``name``) and
the standard ``pickle.Unpickler`` imports and calls whatever it names; that is how a
malicious file runs ``os.system``. Here ``find_class`` looks the pair up in a fixed
table of allowed objects (``ALLOWED_NUMPY``) and raises ``pickle.UnpicklingError``
naming the pair for anything else. Nothing is imported by name: the table holds the
objects themselves, so the old ``numpy.core`` spelling of Python 2 era files works on
NumPy 2 without touching its deprecated module.

>>> import io, pickle
>>> import numpy as np
>>> data = pickle.dumps({b"data": np.arange(3, dtype=np.uint8)}, protocol=3)
>>> safe_load(io.BytesIO(data))
{b'data': array([0, 1, 2], dtype=uint8)}
>>> safe_load(io.BytesIO(pickle.dumps(print, protocol=3)))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
_pickle.UnpicklingError: refusing to load builtins.print from a pickle: ...
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import IO

import numpy as np

__all__ = ["ALLOWED_NUMPY", "RestrictedUnpickler", "safe_load"]

# The function NumPy's ndarray.__reduce__ names; taken from NumPy itself so that it is
# the same object whichever module spelling a file uses.
_reconstruct = np.zeros(0).__reduce__()[0]

#: What a pickled NumPy array (protocol 0 to 4) needs: the array rebuilder, under its
#: NumPy 1 (``numpy.core``) and NumPy 2 (``numpy._core``) module names, and the two
#: classes it rebuilds. Their states are set by ``__setstate__``, which is not looked up
#: through ``find_class``.
ALLOWED_NUMPY: Mapping[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` whose globals come only from ``allowed`` (default
    ``ALLOWED_NUMPY``); any other ``module.name`` raises ``pickle.UnpicklingError``.

    Args:
        file: a binary file open for reading.
        allowed: ``(module, name) -> object``, the only globals the pickle may name.
        encoding: how Python 2 ``str`` objects are decoded (``"bytes"``: kept as bytes,
            as the CIFAR batches need).
        source: what to call the file in error messages (for example its path).
    """

    def __init__(
        self,
        file: IO[bytes],
        *,
        allowed: Mapping[tuple[str, str], object] = ALLOWED_NUMPY,
        encoding: str = "bytes",
        source: str = "",
    ) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = dict(allowed)
        self._source = source

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            where = f" ({self._source})" if self._source else ""
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in self._allowed))
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from a pickle{where}: only {allowed} "
                "may be loaded, because unpickling anything else can run code. The "
                "file is not the expected data set file; delete it and download it again."
            ) from None

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError(
            f"refusing a persistent id in a pickle ({self._source or 'stream'}): "
            "data set files have none."
        )


def safe_load(
    file: IO[bytes],
    *,
    allowed: Mapping[tuple[str, str], object] = ALLOWED_NUMPY,
    encoding: str = "bytes",
    source: str = "",
) -> object:
    """Unpickle one object from ``file`` with ``RestrictedUnpickler``."""
    return RestrictedUnpickler(file, allowed=allowed, encoding=encoding, source=source).load()
