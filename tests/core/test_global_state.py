"""nerve.name_scope prefixes variable paths as keras.name_scope does; get_uid counts."""

import pytest

import nerve
from nerve.core import global_state


@pytest.mark.parametrize(
    "scopes, expected",
    [
        ([("a", {})], "a/w"),
        ([("a", {}), ("b", {})], "a/b/w"),
        ([("a", {}), ("a", {})], "a/w"),  # deduplicated
        ([("a", {}), ("a", {"deduplicate": False})], "a/a/w"),
        ([("a", {}), ("b", {"override_parent": "x/y"})], "x/y/b/w"),
    ],
)
def test_name_scope_paths(scopes, expected):
    import contextlib

    with contextlib.ExitStack() as stack:
        for name, kwargs in scopes:
            stack.enter_context(nerve.name_scope(name, **kwargs))
        assert nerve.Variable(1.0, name="w").path == expected
    assert nerve.Variable(1.0, name="w").path == "w"


def test_layer_weights_inside_a_scope_carry_it():
    with nerve.name_scope("encoder"):
        dense = nerve.layers.Dense(2, name="proj")
        dense.build((None, 3))
    assert dense.kernel.path == "encoder/proj/kernel"


@pytest.mark.parametrize("name", ["", "a/b", 3])
def test_bad_scope_name_is_named(name):
    with pytest.raises(ValueError, match="name_scope: name must be"):
        nerve.name_scope(name)


def test_get_uid_counts_per_prefix_and_clear_session_resets():
    global_state.clear_session()
    assert [global_state.get_uid("p") for _ in range(3)] == [1, 2, 3]
    assert global_state.get_uid("q") == 1
    global_state.clear_session()
    assert global_state.get_uid("p") == 1
