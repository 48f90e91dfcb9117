"""``nerve.ops`` and its namespaces hold Keras 3's names (``keras.ops``, ``.numpy``,
``.nn``, ``.linalg``, ``.image``, and the math and core groups of
``keras/src/ops/{math,core}.py``, which Keras exports at the top level).

Keras (NumPy backend) is the reference; the names nerve does not have yet are listed
once, in ``MISSING``, with who or what they wait for. The list may only shrink: a
listed name that nerve now has fails the test until it is removed here.
"""

import importlib
import types

import pytest

keras = pytest.importorskip("keras")

import nerve.ops  # noqa: E402

NAMESPACES = ["ops", "numpy", "nn", "math", "core", "linalg", "image"]

# namespace -> {name: why it is missing}
MISSING: dict[str, dict[str, str]] = {
    "numpy": {},
    "nn": {},
    "math": {},
    "core": {},
    "linalg": {},
    "image": {},
}
# The top level holds every function of every namespace but image.
MISSING["ops"] = {name: why for ns in NAMESPACES[1:-1] for name, why in MISSING[ns].items()}


def keras_names(namespace: str) -> set[str]:
    """Keras's public function names of one namespace."""
    if namespace == "ops":
        return {
            n
            for n in dir(keras.ops)
            if not n.startswith("_") and not isinstance(getattr(keras.ops, n), types.ModuleType)
        }
    if namespace in ("math", "core"):
        # Exported at the top level; the group is the module that defines them.
        module = importlib.import_module(f"keras.src.ops.{namespace}")
        return {
            n
            for n in dir(module)
            if not n.startswith("_") and getattr(keras.ops, n, None) is getattr(module, n)
        }
    return {n for n in dir(getattr(keras.ops, namespace)) if not n.startswith("_")}


def nerve_namespace(namespace: str) -> types.ModuleType:
    return nerve.ops if namespace == "ops" else importlib.import_module(f"nerve.ops.{namespace}")


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_namespace_has_kerass_names(namespace):
    module = nerve_namespace(namespace)
    expected = keras_names(namespace)
    assert expected, f"keras.ops {namespace}: no names found (has Keras moved them?)"
    missing = sorted(n for n in expected if not hasattr(module, n))
    unlisted = [n for n in missing if n not in MISSING[namespace]]
    assert not unlisted, (
        f"nerve.ops{'' if namespace == 'ops' else '.' + namespace} lacks Keras's {unlisted}: "
        "add them (or list them in MISSING with the reason)"
    )
    landed = sorted(n for n in MISSING[namespace] if n not in missing)
    assert not landed, (
        f"{landed} are in nerve.ops{'' if namespace == 'ops' else '.' + namespace} now (or no "
        "longer in Keras): remove them from MISSING in tests/ops/test_namespaces.py"
    )


@pytest.mark.parametrize("namespace", NAMESPACES[1:])
def test_namespace_functions_are_the_top_level_ones(namespace):
    """A namespace only gathers: ``ops.numpy.sum is ops.sum``, one function per name."""
    module = nerve_namespace(namespace)
    different = [
        name
        for name in module.__all__
        if hasattr(nerve.ops, name) and getattr(module, name) is not getattr(nerve.ops, name)
    ]
    assert not different, f"nerve.ops.{namespace} has other functions than nerve.ops: {different}"
    # Keras's top level holds every namespace's functions but image's.
    top_level = keras_names("ops") & keras_names(namespace) & set(module.__all__)
    absent = sorted(name for name in top_level if not hasattr(nerve.ops, name))
    assert not absent, f"nerve.ops.{namespace} exports {absent}, which nerve.ops lacks"


def test_missing_list_catches_an_unlisted_name(monkeypatch):
    """The check can fail: a name Keras has and nerve lacks, unlisted, is reported."""
    monkeypatch.delattr(nerve.ops.math, "cdist")
    with pytest.raises(AssertionError, match="cdist"):
        test_namespace_has_kerass_names("math")
