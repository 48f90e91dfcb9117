"""Every public class of the Keras-style API documents each argument of its constructor.

A class passes when its docstring (or, for an alias, the class it names) has an
``Args:`` section in which every named parameter of ``__init__`` appears as an entry
(``name: ...``, or several names sharing one entry: ``a, b: ...``). ``*args`` and
``**kwargs`` are exempt: they carry the base class's arguments (``name``, ``dtype``...),
documented on the base class.
"""

from __future__ import annotations

import inspect
import re

import pytest

import nerve

NAMESPACES = ["layers", "models", "optimizers", "losses", "metrics", "callbacks"]

# Names in these namespaces that are not user-facing classes of that namespace.
NOT_DOCUMENTED_HERE = {"losses.Tensor"}

# Shrinks to empty as issue 9 item 8 lands: classes whose Args section is incomplete.
NOT_YET_DOCUMENTED = {
    "layers.Activation",
    "layers.ActivityRegularization",
    "layers.Add",
    "layers.AdditiveAttention",
    "layers.AlphaDropout",
    "layers.Attention",
    "layers.Average",
    "layers.AveragePooling1D",
    "layers.AveragePooling2D",
    "layers.AveragePooling3D",
    "layers.AvgPool1D",
    "layers.AvgPool2D",
    "layers.AvgPool3D",
    "layers.BatchNormalization",
    "layers.Bidirectional",
    "layers.Concatenate",
    "layers.Conv1D",
    "layers.Conv1DTranspose",
    "layers.Conv2D",
    "layers.Conv2DTranspose",
    "layers.Conv3D",
    "layers.Conv3DTranspose",
    "layers.ConvLSTM1D",
    "layers.ConvLSTM2D",
    "layers.ConvLSTM3D",
    "layers.Convolution1D",
    "layers.Convolution1DTranspose",
    "layers.Convolution2D",
    "layers.Convolution2DTranspose",
    "layers.Convolution3D",
    "layers.Convolution3DTranspose",
    "layers.Cropping1D",
    "layers.Cropping2D",
    "layers.Cropping3D",
    "layers.DTypePolicy",
    "layers.Dense",
    "layers.DepthwiseConv1D",
    "layers.DepthwiseConv2D",
    "layers.Dropout",
    "layers.ELU",
    "layers.EinsumDense",
    "layers.Embedding",
    "layers.Flatten",
    "layers.GRU",
    "layers.GRUCell",
    "layers.GaussianDropout",
    "layers.GaussianNoise",
    "layers.GlobalAveragePooling1D",
    "layers.GlobalAveragePooling2D",
    "layers.GlobalAveragePooling3D",
    "layers.GlobalAvgPool1D",
    "layers.GlobalAvgPool2D",
    "layers.GlobalAvgPool3D",
    "layers.GlobalMaxPool1D",
    "layers.GlobalMaxPool2D",
    "layers.GlobalMaxPool3D",
    "layers.GlobalMaxPooling1D",
    "layers.GlobalMaxPooling2D",
    "layers.GlobalMaxPooling3D",
    "layers.GroupNormalization",
    "layers.GroupQueryAttention",
    "layers.GroupedQueryAttention",
    "layers.Identity",
    "layers.InputLayer",
    "layers.LSTM",
    "layers.LSTMCell",
    "layers.Lambda",
    "layers.Layer",
    "layers.LayerNormalization",
    "layers.LeakyReLU",
    "layers.Masking",
    "layers.MaxPool1D",
    "layers.MaxPool2D",
    "layers.MaxPool3D",
    "layers.MaxPooling1D",
    "layers.MaxPooling2D",
    "layers.MaxPooling3D",
    "layers.Maximum",
    "layers.Minimum",
    "layers.MultiHeadAttention",
    "layers.Multiply",
    "layers.PReLU",
    "layers.Permute",
    "layers.RMSNormalization",
    "layers.RNN",
    "layers.ReLU",
    "layers.RepeatVector",
    "layers.Rescaling",
    "layers.Reshape",
    "layers.SeparableConv1D",
    "layers.SeparableConv2D",
    "layers.SeparableConvolution1D",
    "layers.SeparableConvolution2D",
    "layers.SimpleRNN",
    "layers.SimpleRNNCell",
    "layers.Softmax",
    "layers.SpatialDropout1D",
    "layers.SpatialDropout2D",
    "layers.SpatialDropout3D",
    "layers.StackedRNNCells",
    "layers.Subtract",
    "layers.TimeDistributed",
    "layers.UnitNormalization",
    "layers.UpSampling1D",
    "layers.UpSampling2D",
    "layers.UpSampling3D",
    "layers.ZeroPadding1D",
    "layers.ZeroPadding2D",
    "layers.ZeroPadding3D",
}

_ENTRY = re.compile(r"^(\s*)([A-Za-z_*][\w*]*(?:\s*,\s*[A-Za-z_*][\w*]*)*)\s*(?:\([^)]*\))?\s*:")


def documented_arguments(doc: str) -> set[str]:
    """The parameter names listed in the ``Args:`` section of ``doc``."""
    names: set[str] = set()
    lines = doc.splitlines()
    heading = [i for i, line in enumerate(lines) if line.strip() in ("Args:", "Arguments:")]
    if not heading:
        return names
    start = heading[0]
    section_indent = len(lines[start]) - len(lines[start].lstrip())
    entry_indent = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= section_indent:
            break
        if entry_indent is None:
            entry_indent = indent
        if indent != entry_indent:
            continue
        match = _ENTRY.match(line)
        if match:
            names.update(n.strip().lstrip("*") for n in match.group(2).split(","))
    return names


def _public_classes() -> list[tuple[str, type]]:
    found = []
    for namespace in NAMESPACES:
        module = getattr(nerve, namespace)
        for name in sorted(dir(module)):
            value = getattr(module, name)
            qualified = f"{namespace}.{name}"
            if name.startswith("_") or not inspect.isclass(value):
                continue
            if qualified in NOT_DOCUMENTED_HERE:
                continue
            found.append((qualified, value))
    return found


def _constructor_arguments(cls: type) -> list[str]:
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


@pytest.mark.parametrize(
    ("qualified", "cls"), _public_classes(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_constructor_arguments_are_documented(qualified: str, cls: type) -> None:
    arguments = _constructor_arguments(cls)
    if not arguments:
        return
    documented = documented_arguments(inspect.getdoc(cls) or "")
    missing = [a for a in arguments if a not in documented]
    if qualified in NOT_YET_DOCUMENTED:
        assert missing, f"{qualified} is documented now: remove it from NOT_YET_DOCUMENTED"
        return
    assert not missing, (
        f"{qualified}: the docstring's Args section does not describe {missing} "
        f"(constructor arguments: {arguments})"
    )


def test_the_parser_reads_grouped_and_nested_entries() -> None:
    doc = """Summary.

    Args:
        units: how many.
            activation: not an entry (deeper indent: part of the text above).
        kernel_initializer, bias_initializer: as Keras's.
        axis (int): the axis.

    Returns:
        value: not an argument.
    """
    assert documented_arguments(inspect.cleandoc(doc)) == {
        "units",
        "kernel_initializer",
        "bias_initializer",
        "axis",
    }
    assert documented_arguments("No sections here.") == set()
