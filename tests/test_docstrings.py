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
from pathlib import Path

import pytest

import nerve

NAMESPACES = ["layers", "models", "optimizers", "losses", "metrics", "callbacks"]

# Names in these namespaces that are not user-facing classes of that namespace.
NOT_DOCUMENTED_HERE = {"losses.Tensor"}

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


def test_the_readme_lists_every_layer() -> None:
    """The README's "What ``nerve.layers`` has" section names each public name of
    ``nerve.layers`` and nothing else, so adding or removing a layer means updating it."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    heading = "## What `nerve.layers` has"
    assert heading in readme, f"README.md has no {heading!r} section"
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([A-Za-z_]\w*)`", section))
    exported = set(nerve.layers.__all__)
    assert not exported - listed, f"README.md does not list {sorted(exported - listed)}"
    assert not listed - exported, f"README.md lists {sorted(listed - exported)}, not in layers"
