"""Imports point down the package layout (STYLE.md): nothing low imports anything high.

Each nerve module is assigned to a layer; an import of a module in a higher layer
fails the test, whether at module level or deferred inside a function, unless it
is in ``ALLOWED`` with the reason it has to point up.
"""

import ast
import pathlib

import pytest

import nerve

PACKAGE = pathlib.Path(nerve.__file__).parent

# Lowest first. Modules in one layer may import each other.
LAYERS = [
    ["nerve.core", "nerve.tree"],
    ["nerve.backend"],
    ["nerve.primitives"],
    ["nerve.tensor"],
    ["nerve.autodiff"],
    ["nerve.graph"],
    ["nerve.ops"],
    ["nerve.random", "nerve.initializers", "nerve.activations", "nerve.regularizers",
     "nerve.constraints", "nerve.losses", "nerve.metrics"],
    ["nerve.layers", "nerve.config", "nerve.dtype_policies"],
    ["nerve.optimizers", "nerve.mixed_precision"],
    ["nerve.data", "nerve.callbacks", "nerve.training", "nerve.utils", "nerve.datasets"],
    ["nerve.models"],
    ["nerve.saving"],
    ["nerve.distribution"],
    ["nerve.demos", "nerve.testing", "nerve.cli", "nerve.__main__", "nerve"],
]  # fmt: skip

# (importer prefix, imported prefix): why this upward import is needed.
ALLOWED = {
    ("nerve.models.model", "nerve.saving"): (
        "Keras's convenience methods Model.save / save_weights / load_weights hand over to "
        "nerve.saving at call time (deferred import); saving itself depends on models"
    ),
    ("nerve.models.saving_api", "nerve.saving"): (
        "keras.models exposes load_model / save_model / model_from_json; they hand over "
        "to nerve.saving at call time (deferred import), as Model.save does"
    ),
    ("nerve.ops.image.sampling", "nerve.random"): (
        "keras.ops.image.elastic_transform takes keras.random's seeds (an int, a SeedGenerator, "
        "None for the global generator); its draw imports nerve.random when it runs"
    ),
}


def layer_of(module: str) -> int:
    best, level = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), index
    assert level is not None, f"{module} is in no layer: add it to LAYERS"
    return level


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            for alias in node.names:  # "from nerve import layers" imports nerve.layers
                yield f"{node.module}.{alias.name}", node.lineno


def _allowed(importer: str, imported: str) -> bool:
    return any(
        (importer == a or importer.startswith(a + "."))
        and (imported == b or imported.startswith(b + "."))
        for a, b in ALLOWED
    )


@pytest.mark.parametrize("module,path", list(modules()), ids=lambda v: str(v))
def test_imports_point_down(module, path):
    own = layer_of(module)
    upward = []
    for imported, line in imports(path):
        if not imported.startswith("nerve") or imported in ("nerve", "nerve.__version__"):
            continue
        target = ".".join(imported.split(".")[:3])
        try:
            level = layer_of(target)
        except AssertionError:
            continue  # "from nerve.x import name": the name is not a module
        if level > own and not _allowed(module, imported):
            upward.append(f"line {line}: imports {imported} (layer {level} > {own})")
    assert not upward, f"{module} imports from higher layers:\n" + "\n".join(upward)
