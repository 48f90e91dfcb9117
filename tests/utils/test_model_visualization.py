import re
import shutil

import pytest

import nerve
from nerve import layers
from nerve.utils import model_to_dot, model_visualization, plot_model

HAS_DOT = shutil.which("dot") is not None


def _functional():
    a, b = layers.Input((4,), name="a"), layers.Input((2,), name="b")
    shared = layers.Dense(3, activation="relu", name="shared")
    merged = layers.Concatenate(name="cat")([shared(a), layers.Dense(3, name="side")(b)])
    frozen = layers.Dense(1, name="y")
    frozen.trainable = False
    return nerve.Model([a, b], [frozen(merged), shared(a)], name="two_heads")


def _nested():
    inner = nerve.Sequential(
        [layers.Input((4,), name="inner_in"), layers.Dense(2, name="inner_dense")], name="inner"
    )
    x = layers.Input((4,), name="x")
    return nerve.Model(x, layers.Dense(1, name="head")(inner(x)), name="outer")


def _labels(source):
    """DOT node id -> label text."""
    return {
        m[0]: m[1].replace("\\n", "\n") for m in re.findall(r'(n\d+) \[label="(.*?)"\];', source)
    }


def _edges(source):
    """The edges as (tail label's first line, head label's first line)."""
    first = {k: v.split("\n")[0] for k, v in _labels(source).items()}
    return {(first[t], first[h]) for t, h in re.findall(r"(n\d+) -> (n\d+);", source)}


def test_functional_nodes_edges_and_labels():
    source = model_to_dot(_functional(), show_shapes=True, show_dtype=True).to_string()
    assert source.startswith('digraph "two_heads" {')
    labels = _labels(source)
    assert sorted(label.split("\n")[0] for label in labels.values()) == [
        "a (InputLayer)",
        "b (InputLayer)",
        "cat (Concatenate)",
        "shared (Dense)",
        "side (Dense)",
        "y (Dense)",
    ]
    assert _edges(source) == {
        ("a (InputLayer)", "shared (Dense)"),
        ("b (InputLayer)", "side (Dense)"),
        ("shared (Dense)", "cat (Concatenate)"),
        ("side (Dense)", "cat (Concatenate)"),
        ("cat (Concatenate)", "y (Dense)"),
    }
    cat = next(v for v in labels.values() if v.startswith("cat"))
    assert (
        cat == "cat (Concatenate)\ninput: [(None, 3), (None, 3)]\noutput: (None, 6)\ndtype: float32"
    )
    a = next(v for v in labels.values() if v.startswith("a "))
    assert "input:" not in a and "output: (None, 4)" in a


@pytest.mark.parametrize(
    ("options", "layer", "line", "present"),
    [
        ({"show_layer_activations": True}, "shared", "activation: relu", True),
        ({"show_layer_activations": False}, "shared", "activation: relu", False),
        ({"show_trainable": True}, "y", "non-trainable", True),
        ({"show_trainable": True}, "shared", "trainable", True),
        ({"show_layer_names": False}, "shared", "Dense", True),
    ],
)
def test_label_options(options, layer, line, present):
    labels = _labels(model_to_dot(_functional(), **options).to_string()).values()
    if options.get("show_layer_names") is False:
        assert line in [label.split("\n")[0] for label in labels]
        assert not any(label.startswith(layer) for label in labels)
        return
    label = next(v for v in labels if v.startswith(layer + " "))
    assert (line in label.split("\n")) == present


def test_nested_expanded_and_collapsed():
    expanded = model_to_dot(_nested(), expand_nested=True).to_string()
    assert "subgraph cluster_" in expanded and 'label="inner"' in expanded
    assert _edges(expanded) == {
        ("x (InputLayer)", "inner_in (InputLayer)"),
        ("inner_in (InputLayer)", "inner_dense (Dense)"),
        ("inner_dense (Dense)", "head (Dense)"),
    }
    collapsed = model_to_dot(_nested()).to_string()
    assert "subgraph" not in collapsed
    assert _edges(collapsed) == {
        ("x (InputLayer)", "inner (Sequential)"),
        ("inner (Sequential)", "head (Dense)"),
    }


def test_graph_attributes_and_subgraph():
    source = model_to_dot(_functional(), rankdir="LR", dpi=96).to_string()
    assert 'rankdir="LR", dpi=96' in source
    assert (
        model_to_dot(_functional(), subgraph=True)
        .to_string()
        .startswith('subgraph "cluster_two_heads" {')
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rankdir": "UP"}, "rankdir"),
        ({"layer_range": ["a", "y"]}, "layer_range"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model_to_dot(_functional(), **kwargs)


def test_plot_model_writes_dot_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(model_visualization.shutil, "which", lambda name: None)
    path = tmp_path / "model.dot"
    plot_model(_functional(), to_file=path, show_shapes=True)
    assert (
        path.read_text()
        == model_to_dot(_functional(), show_shapes=True, show_layer_names=False).to_string()
    )
    with pytest.raises(ImportError, match=r"Graphviz.*apt install graphviz"):
        plot_model(_functional(), to_file=tmp_path / "model.png")
    assert not (tmp_path / "model.png").exists()


@pytest.mark.skipif(not HAS_DOT, reason="the Graphviz `dot` program is not on PATH")
@pytest.mark.parametrize(
    ("name", "magic"), [("model.png", b"\x89PNG"), ("model.svg", b"<?xml"), ("model", b"\x89PNG")]
)
def test_plot_model_renders_with_graphviz(tmp_path, name, magic):
    plot_model(_nested(), to_file=tmp_path / name, show_shapes=True, expand_nested=True)
    assert (tmp_path / name).read_bytes().startswith(magic)
