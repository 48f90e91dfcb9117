"""A test that each row's layer has Keras's configuration: the same ``get_config`` keys,
and the same values for every key but the name and dtype (whose forms differ)."""

import pytest

from nerve.testing.layer_harness import LayerCase


def _plain(value):
    """Tuples and lists alike (a config read back from JSON has lists)."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def config_test(cases: list[LayerCase]):
    """A parametrized test comparing ``get_config`` with Keras's, one per row with Keras."""

    @pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in cases if c.keras])
    def test_config_matches_keras(case):
        pytest.importorskip("keras")
        ours, theirs = case.make().get_config(), case.keras().get_config()
        assert sorted(ours) == sorted(theirs), f"{case.name}: config keys differ"
        for key in set(ours) - {"name", "dtype"}:
            assert _plain(ours[key]) == _plain(theirs[key]), f"{case.name}: {key}"

    return test_config_matches_keras
