"""The HDF5 weights store, in Keras 3's layout.

Each saved object owns a group ``<path>/vars`` (``vars`` at the root) holding
its variables as datasets ``"0"``, ``"1"``, ... in order; a layer's path is the
chain of attribute names (``layers/dense``), as Keras's ``H5IOStore`` writes it.
bfloat16 arrays are stored as Keras stores them: HDF5 opaque 2-byte values
tagged with the attribute ``dtype="bfloat16"``.

Reading accepts only numeric datasets: HDF5 holds plain arrays, and nothing
read here is unpickled or evaluated.
"""

from __future__ import annotations

from typing import Any

from nerve.core.errors import NerveError

__all__ = ["H5Reader", "H5Writer", "WeightsFileError"]

_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float


class WeightsFileError(NerveError, ValueError):
    """A weights file is missing, corrupt, or not in the expected layout."""


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - h5py is in the h5/test extras
        raise ImportError(
            "Saving and loading weights needs h5py: `pip install h5py` "
            "(or `pip install nerve[h5]`)."
        ) from error
    return h5py


def _vars_path(path: str) -> str:
    return f"{path}/vars" if path else "vars"


class H5Writer:
    """Writes ``<path>/vars/<i>`` datasets to an HDF5 file (a path or a binary file object)."""

    def __init__(self, target: Any):
        self.file = _h5py().File(target, mode="w")

    def make(self, path: str, name: str | None = None) -> Any:
        """The (new) ``vars`` group for the object at ``path``, tagged with the
        object's name as Keras tags it (informational; loading goes by path)."""
        group = self.file.require_group(_vars_path(path))
        if name is not None:
            group.attrs["name"] = str(name)
        return group

    @staticmethod
    def write(group: Any, key: str, array: Any) -> None:
        if str(array.dtype) == "bfloat16":
            dataset = group.create_dataset(key, data=array)  # h5py stores it opaque ("V2")
            dataset.attrs["dtype"] = "bfloat16"
        else:
            group.create_dataset(key, data=array)

    def close(self) -> None:
        self.file.close()


class H5Reader:
    """Reads a file written by ``H5Writer`` (or by Keras 3)."""

    def __init__(self, source: Any, description: str):
        h5py = _h5py()
        self.description = description
        try:
            self.file = h5py.File(source, mode="r")
        except (OSError, ValueError) as error:
            raise WeightsFileError(
                f"{description} is not a readable HDF5 weights file ({error}). It may be "
                "truncated or corrupt; weights files are written by save_weights / save_model."
            ) from error

    def get(self, path: str) -> Any | None:
        """The ``vars`` group of the object at ``path``, or ``None`` if absent."""
        vars_path = _vars_path(path)
        if vars_path in self.file:
            group = self.file[vars_path]
            if isinstance(group, _h5py().Group):
                return group
        return None

    def read(self, group: Any, key: str, where: str) -> Any:
        """Dataset ``key`` of ``group`` as an array; ``where`` names it in errors."""
        dataset = group[key]
        if not isinstance(dataset, _h5py().Dataset):
            raise WeightsFileError(f"{where} in {self.description} is a group, not an array.")
        if dataset.attrs.get("dtype") == "bfloat16":
            import ml_dtypes

            raw = dataset[()]
            # Opaque 2-byte values (Keras, nerve); a float array if a writer upcast them.
            if raw.dtype.kind == "V":
                return raw.view(ml_dtypes.bfloat16)
            return raw.astype(ml_dtypes.bfloat16)
        if dataset.dtype.kind not in _NUMERIC_KINDS:
            raise WeightsFileError(
                f"{where} in {self.description} has dtype {dataset.dtype}, which is not a "
                "numeric array; refusing to load it."
            )
        return dataset[()]

    @staticmethod
    def shape(group: Any, key: str) -> tuple:
        return tuple(group[key].shape)

    @staticmethod
    def keys(group: Any) -> list[str]:
        """Variable keys in numeric order ("0", "1", ..., "10")."""
        return sorted(group.keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else k))

    def close(self) -> None:
        self.file.close()
