"""Keras 3.15.1's own ops tests against ``nerve.ops``, and the README table they feed.

The run (``tests/ops/keras_suite.py``) fetches Keras's sdist from the package
registry; without a registry the suite test is skipped, saying so.
"""

from __future__ import annotations

import pytest

from tests.ops import keras_suite

UPDATE = "python -m tests.ops.keras_suite --update"


@pytest.fixture(scope="module")
def suite_results() -> dict[str, keras_suite.Outcome]:
    try:
        folder = keras_suite.extract(keras_suite.fetch())
    except keras_suite.SuiteUnavailable as error:
        pytest.skip(f"Keras's test files are unavailable: {error}")
    results = keras_suite.run(folder)
    if not results:
        pytest.fail("the Keras suite ran no test (see `python -m tests.ops.keras_suite`)")
    return results


@pytest.mark.slow
def test_keras_suite_matches_expected_failures(
    suite_results: dict[str, keras_suite.Outcome], capsys: pytest.CaptureFixture[str]
) -> None:
    counts = keras_suite.count(suite_results)
    with capsys.disabled():
        print(
            f"\nKeras {keras_suite.KERAS_VERSION} ops tests against nerve.ops:\n"
            f"{keras_suite.summary(counts)}"
        )
    expected, recorded = keras_suite.read_expected()
    new, fixed = keras_suite.compare(suite_results, expected)
    problems = [f"new failure {n}: {suite_results[n].message}" for n in new[:20]]
    problems += [f"now passes (remove it from the list): {n}" for n in fixed[:20]]
    if len(new) + len(fixed) > 40:
        problems.append(f"... {len(new)} new failures and {len(fixed)} fixed tests in all")
    assert not problems, "\n".join(problems) + f"\nFix the regressions; then run `{UPDATE}`."
    assert recorded == counts, f"the recorded pass counts are out of date: run `{UPDATE}`"


def test_readme_ops_section_is_current() -> None:
    _, counts = keras_suite.read_expected()
    text = keras_suite.README.read_text(encoding="utf-8")
    expected = keras_suite.readme_with_section(text, keras_suite.render_readme_section(counts))
    assert text == expected, (
        "README's ops table is stale: run `python -m tests.ops.keras_suite --readme`"
    )


@pytest.mark.parametrize(
    ("nodeid", "kind", "family"),
    [
        ("numpy_test.py::NumpyDtypeTest::test_add_float16_int8", "dtype", "numpy"),
        ("nn_test.py::NNOpsCorrectnessTest::test_relu", "value", "nn"),
    ],
)
def test_test_ids_are_classified(nodeid: str, kind: str, family: str) -> None:
    assert keras_suite.kind_of(nodeid) == kind
    assert keras_suite.file_of(nodeid) == family


def test_compare_finds_regressions_and_fixed_tests() -> None:
    results = {
        "a": keras_suite.Outcome("failed", "boom"),
        "b": keras_suite.Outcome("passed", ""),
        "c": keras_suite.Outcome("failed", "listed"),
    }
    new, fixed = keras_suite.compare(results, {"b": "was broken", "c": "known", "d": "not run"})
    assert (new, fixed) == (["a"], ["b"])


def test_skips_are_counted_by_reason_and_recorded(tmp_path) -> None:
    results = {
        "a": keras_suite.Outcome("skipped", "Skipped: Backend does not\n   support sparse"),
        "b": keras_suite.Outcome("skipped", "Skipped: Backend does not support sparse"),
        "c": keras_suite.Outcome("skipped", "Skipped: TF only"),
        "d": keras_suite.Outcome("failed", "boom"),
        "e": keras_suite.Outcome("skipped", ""),
    }
    reasons = keras_suite.skip_reasons(results)
    assert reasons == {"Backend does not support sparse": 2, "(no reason given)": 1, "TF only": 1}
    path = tmp_path / "expected.txt"
    keras_suite.write_expected({"numpy_test.py::X::t": results["d"]}, path)
    assert keras_suite.read_skips(path) == {}
    keras_suite.write_expected({f"numpy_test.py::X::{k}": v for k, v in results.items()}, path)
    assert keras_suite.read_skips(path) == reasons
