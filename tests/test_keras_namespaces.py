"""nerve's public namespaces against Keras 3's: every public name of ``keras``,
``keras.layers``, ``keras.ops``... exists in the matching ``nerve`` namespace, or is in
``MISSING`` with the reason it is not there yet.

Two ways to fail: a Keras name that nerve lacks and ``MISSING`` does not list (a new
gap: add it, or list it with a reason), and a listed name that nerve now has (a filled
gap: remove it from ``MISSING``). Runs where Keras is installed (CI installs it), on
Keras's NumPy backend (tests/conftest.py sets KERAS_BACKEND). ``keras.ops`` and its
submodules are compared in tests/ops/test_namespaces.py.
"""

import importlib

import pytest

NAMESPACES = [
    "",
    "activations",
    "backend",
    "callbacks",
    "config",
    "constraints",
    "datasets",
    "dtype_policies",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "optimizers",
    "optimizers.schedules",
    "random",
    "regularizers",
    "saving",
    "tree",
    "utils",
]

# Reasons, shared by the names they cover.
ADAPTIVE = "adaptive pooling layers not written yet (their ops exist)"
APPLICATIONS = "no pretrained model zoo: the weights are downloads nerve does not ship"
BACKEND_KERAS_TENSOR = (
    "nerve.backend is the engine layer below nerve.layers, where KerasTensor lives; "
    "use nerve.utils.is_keras_tensor"
)
CONFIG_CLASS = "keras.utils.Config (attribute-access config dict) not written yet"
DESERIALIZE = "module-level serialize/deserialize not written for this namespace yet"
DISTILLATION = "knowledge-distillation models not written yet"
DOT = "the Dot merging layer not written yet"
EMA = "needs the optimizer's use_ema weights, which nerve's optimizers do not keep yet"
EXPORT = "SavedModel/ONNX export belongs to the export work, not this namespace"
FILE_EDITOR = ".keras archive editor not written yet"
FLASH = "no flash-attention kernels: attention runs through nerve.ops"
FOREIGN = "wraps another framework's objects (JAX/Flax/TF/Torch/Orbax); nerve runs its own engine"
INPUT_SPEC = "layers check inputs through their own build; no InputSpec class yet"
INTERACTIVE = "the progress bar follows whether the stream is a terminal; no global switch yet"
LAYER_MISC = "layer not written yet"
LEGACY = "Keras 2 compatibility shims are out of scope"
MAX_EPOCHS = "global caps on epochs/steps (a Keras debugging aid) not written yet"
NO_OPERATION = "nerve.ops functions are plain functions over primitives; no Operation base class"
OPTIMIZER = "optimizer not written yet"
PREPROCESSING = "preprocessing/feature utilities not written yet"
PREPROCESSING_LAYER = "preprocessing and augmentation layers are a layer family still to come"
QUANT = "quantization (int8/int4/float8/GPTQ/AWQ) not implemented"
REMAT = "no rematerialization (gradient checkpointing) scope yet"
REMOTE = "posts logs to a server over HTTP; not written"
SOURCE_INPUTS = "get_source_inputs not written yet"
STATELESS = "no stateless/symbolic scopes: nerve traces through nerve.function instead"
STFT = "STFT initializer/layers not written yet"
TRACEBACK = "nerve does not filter tracebacks"
TREE = "rarer keras.tree helpers not written yet"
UNSAFE = "nerve never deserializes code (lambdas) from files, so there is nothing to enable"
UTILS_SERIALIZE = (
    "lives in nerve.saving, which sits above nerve.utils in the layering; "
    "use nerve.saving.serialize_keras_object/deserialize_keras_object"
)
VISUALIZATION = "bounding-box/image plotting helpers not written yet"
WRAPPERS = "scikit-learn wrappers not written yet"

# "namespace.name" -> why nerve does not have it yet. ONE list: keep it sorted by namespace.
MISSING = {
    "InputSpec": INPUT_SPEC,
    "Operation": NO_OPERATION,
    "Quantizer": QUANT,
    "RematScope": REMAT,
    "StatelessScope": STATELESS,
    "SymbolicScope": STATELESS,
    "applications": APPLICATIONS,
    "distillation": DISTILLATION,
    "export": EXPORT,
    "legacy": LEGACY,
    "preprocessing": PREPROCESSING,
    "quantizers": QUANT,
    "remat": REMAT,
    "visualization": VISUALIZATION,
    "wrappers": WRAPPERS,
    "backend.is_keras_tensor": BACKEND_KERAS_TENSOR,
    "callbacks.OrbaxCheckpoint": FOREIGN,
    "callbacks.RemoteMonitor": REMOTE,
    "callbacks.SwapEMAWeights": EMA,
    "config.disable_flash_attention": FLASH,
    "config.disable_interactive_logging": INTERACTIVE,
    "config.disable_traceback_filtering": TRACEBACK,
    "config.enable_flash_attention": FLASH,
    "config.enable_interactive_logging": INTERACTIVE,
    "config.enable_traceback_filtering": TRACEBACK,
    "config.enable_unsafe_deserialization": UNSAFE,
    "config.is_flash_attention_enabled": FLASH,
    "config.is_interactive_logging_enabled": INTERACTIVE,
    "config.is_nnx_enabled": FOREIGN,
    "config.is_traceback_filtering_enabled": TRACEBACK,
    "config.max_epochs": MAX_EPOCHS,
    "config.max_steps_per_epoch": MAX_EPOCHS,
    "config.set_backend": FOREIGN,
    "config.set_max_epochs": MAX_EPOCHS,
    "config.set_max_steps_per_epoch": MAX_EPOCHS,
    "dtype_policies.AWQDTypePolicy": QUANT,
    "dtype_policies.DTypePolicyMap": QUANT,
    "dtype_policies.GPTQDTypePolicy": QUANT,
    "dtype_policies.Int4DTypePolicy": QUANT,
    "dtype_policies.QuantizedDTypePolicy": QUANT,
    "dtype_policies.QuantizedFloat8DTypePolicy": QUANT,
    "initializers.STFT": STFT,
    "initializers.STFTInitializer": STFT,
    "initializers.stft": STFT,
    "layers.AdaptiveAveragePooling1D": ADAPTIVE,
    "layers.AdaptiveAveragePooling2D": ADAPTIVE,
    "layers.AdaptiveAveragePooling3D": ADAPTIVE,
    "layers.AdaptiveMaxPooling1D": ADAPTIVE,
    "layers.AdaptiveMaxPooling2D": ADAPTIVE,
    "layers.AdaptiveMaxPooling3D": ADAPTIVE,
    "layers.AugMix": PREPROCESSING_LAYER,
    "layers.AutoContrast": PREPROCESSING_LAYER,
    "layers.CategoryEncoding": PREPROCESSING_LAYER,
    "layers.CenterCrop": PREPROCESSING_LAYER,
    "layers.ContrastLimitedAdaptiveHistogramEqualization": PREPROCESSING_LAYER,
    "layers.CutMix": PREPROCESSING_LAYER,
    "layers.Discretization": PREPROCESSING_LAYER,
    "layers.Dot": DOT,
    "layers.Equalization": PREPROCESSING_LAYER,
    "layers.FlaxLayer": FOREIGN,
    "layers.HashedCrossing": PREPROCESSING_LAYER,
    "layers.Hashing": PREPROCESSING_LAYER,
    "layers.InputSpec": INPUT_SPEC,
    "layers.IntegerLookup": PREPROCESSING_LAYER,
    "layers.JaxLayer": FOREIGN,
    "layers.MaxNumBoundingBoxes": PREPROCESSING_LAYER,
    "layers.MelSpectrogram": LAYER_MISC,
    "layers.MixUp": PREPROCESSING_LAYER,
    "layers.Normalization": PREPROCESSING_LAYER,
    "layers.Pipeline": LAYER_MISC,
    "layers.RandAugment": PREPROCESSING_LAYER,
    "layers.RandomBrightness": PREPROCESSING_LAYER,
    "layers.RandomColorDegeneration": PREPROCESSING_LAYER,
    "layers.RandomColorJitter": PREPROCESSING_LAYER,
    "layers.RandomContrast": PREPROCESSING_LAYER,
    "layers.RandomCrop": PREPROCESSING_LAYER,
    "layers.RandomElasticTransform": PREPROCESSING_LAYER,
    "layers.RandomErasing": PREPROCESSING_LAYER,
    "layers.RandomFlip": PREPROCESSING_LAYER,
    "layers.RandomGaussianBlur": PREPROCESSING_LAYER,
    "layers.RandomGrayscale": PREPROCESSING_LAYER,
    "layers.RandomHue": PREPROCESSING_LAYER,
    "layers.RandomInvert": PREPROCESSING_LAYER,
    "layers.RandomPerspective": PREPROCESSING_LAYER,
    "layers.RandomPosterization": PREPROCESSING_LAYER,
    "layers.RandomRotation": PREPROCESSING_LAYER,
    "layers.RandomSaturation": PREPROCESSING_LAYER,
    "layers.RandomSharpness": PREPROCESSING_LAYER,
    "layers.RandomShear": PREPROCESSING_LAYER,
    "layers.RandomTranslation": PREPROCESSING_LAYER,
    "layers.RandomZoom": PREPROCESSING_LAYER,
    "layers.Resizing": PREPROCESSING_LAYER,
    "layers.ReversibleEmbedding": LAYER_MISC,
    "layers.STFTSpectrogram": LAYER_MISC,
    "layers.Solarization": PREPROCESSING_LAYER,
    "layers.SpectralNormalization": LAYER_MISC,
    "layers.StringLookup": PREPROCESSING_LAYER,
    "layers.TFSMLayer": FOREIGN,
    "layers.TextVectorization": PREPROCESSING_LAYER,
    "layers.TorchModuleWrapper": FOREIGN,
    "layers.Wrapper": LAYER_MISC,
    "layers.deserialize": DESERIALIZE,
    "layers.dot": DOT,
    "layers.serialize": DESERIALIZE,
    "optimizers.MultiOptimizer": OPTIMIZER,
    "optimizers.OptimizerMap": OPTIMIZER,
    "optimizers.legacy": LEGACY,
    "saving.KerasFileEditor": FILE_EDITOR,
    "tree.MAP_TO_NONE": TREE,
    "tree.assert_same_paths": TREE,
    "tree.map_shape_structure": TREE,
    "tree.map_structure_up_to": TREE,
    "utils.Config": CONFIG_CLASS,
    "utils.FeatureSpace": PREPROCESSING,
    "utils.bounding_boxes": PREPROCESSING,
    "utils.deserialize_keras_object": UTILS_SERIALIZE,
    "utils.disable_interactive_logging": INTERACTIVE,
    "utils.enable_interactive_logging": INTERACTIVE,
    "utils.get_source_inputs": SOURCE_INPUTS,
    "utils.is_interactive_logging_enabled": INTERACTIVE,
    "utils.legacy": LEGACY,
    "utils.serialize_keras_object": UTILS_SERIALIZE,
}


def _public(module) -> set[str]:
    return {name for name in dir(module) if not name.startswith("_")} - {"src"}


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda n: n or "keras")
def test_nerve_has_every_keras_name_or_lists_it(namespace):
    pytest.importorskip("keras")
    suffix = f".{namespace}" if namespace else ""
    theirs = _public(importlib.import_module("keras" + suffix))
    ours = _public(importlib.import_module("nerve" + suffix))
    prefix = f"{namespace}." if namespace else ""
    listed = {key[len(prefix) :] for key in MISSING if key.rpartition(".")[0] == namespace}
    missing = theirs - ours
    new_gaps = sorted(missing - listed)
    filled = sorted(listed & ours)
    assert not new_gaps, (
        f"Keras has {[prefix + n for n in new_gaps]} and nerve does not: add them, or list "
        "them in MISSING with a reason."
    )
    assert not filled, f"nerve now has {[prefix + n for n in filled]}: remove them from MISSING."


def test_missing_names_only_keras_names():
    """Every MISSING entry is a name Keras has (catches typos and Keras removals)."""
    keras = pytest.importorskip("keras")
    stale = []
    for key in MISSING:
        namespace, _, name = key.rpartition(".")
        module = importlib.import_module(f"keras.{namespace}" if namespace else "keras")
        if not hasattr(module, name) or namespace not in NAMESPACES:
            stale.append(key)
    assert not stale, f"MISSING lists names Keras {keras.__version__} does not have: {stale}"
