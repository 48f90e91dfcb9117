"""Keras 3.15.1's own ops tests, run against ``nerve.ops``.

The test files come from Keras's source distribution, fetched from the package
registry by ``pip download`` into a cache outside the repository
(``$NERVE_KERAS_SUITE_CACHE``, by default ``~/.cache/nerve-keras-suite``) and
checked against its SHA-256; only the test files the suite needs are extracted.
They run in a pytest subprocess with ``KERAS_BACKEND=numpy`` through the plugin
``tests/ops/keras_shim.py``, which redirects the functions under test to
``nerve.ops``.

``tests/ops/keras_suite_expected.txt`` lists the tests expected to fail, each
with a one-line reason, and the pass counts per file and kind;
``tests/ops/test_keras_suite.py`` fails when the run differs from it (a new
failure, or a listed test that now passes). Commands, from the repository root::

    python -m tests.ops.keras_suite             # run, print the pass rates
    python -m tests.ops.keras_suite --update    # run, rewrite the list (keeping
                                                # reasons) and the README table
    python -m tests.ops.keras_suite --readme    # rewrite the README table only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

KERAS_VERSION = "3.15.1"
SDIST_NAME = f"keras-{KERAS_VERSION}.tar.gz"
# PyPI's published digest of keras-3.15.1.tar.gz.
SDIST_SHA256 = "92ae7c1dd7f61041953dc2d42253181ee099086f0b58ae36fcf98147a6f08a29"
FILES = ("numpy", "nn", "math", "core", "linalg", "image")
TEST_MEMBERS = tuple(f"keras/src/ops/{name}_test.py" for name in FILES)
HELPER_MEMBERS = (
    "keras/src/layers/convolutional/conv_test.py",
    "keras/src/layers/convolutional/conv_transpose_test.py",
    "keras/src/layers/convolutional/depthwise_conv_test.py",
    "keras/src/layers/pooling/average_pooling_test.py",
    "keras/src/layers/pooling/max_pooling_test.py",
)
REPO = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).with_name("keras_suite_expected.txt")
README = REPO / "README.md"
KINDS = ("value", "dtype")


class SuiteUnavailable(RuntimeError):
    """Keras's source distribution could not be fetched (offline registry)."""


def cache_dir() -> Path:
    """Where the sdist and the extracted tests live (never inside the repository)."""
    configured = os.environ.get("NERVE_KERAS_SUITE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "nerve-keras-suite"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(timeout: float = 300.0) -> Path:
    """Return the path of Keras's checked sdist, downloading it with pip if needed."""
    folder = cache_dir()
    sdist = folder / SDIST_NAME
    if sdist.exists() and _sha256(sdist) == SDIST_SHA256:
        return sdist
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"keras=={KERAS_VERSION}",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-q",
            "-d",
            scratch,
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise SuiteUnavailable(f"pip download of keras=={KERAS_VERSION} timed out") from error
        downloaded = Path(scratch) / SDIST_NAME
        if done.returncode != 0 or not downloaded.exists():
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise SuiteUnavailable(
                f"could not download {SDIST_NAME} from the package registry: "
                f"{detail[-1] if detail else done.returncode}"
            )
        digest = _sha256(downloaded)
        if digest != SDIST_SHA256:
            raise RuntimeError(f"{SDIST_NAME} has SHA-256 {digest}, expected PyPI's {SDIST_SHA256}")
        shutil.move(str(downloaded), sdist)
    return sdist


def extract(sdist: Path) -> Path:
    """Extract the ops test files (flat, into one folder) and return that folder."""
    target = cache_dir() / f"tests-{KERAS_VERSION}"
    wanted = {f"keras-{KERAS_VERSION}/{member}": member for member in TEST_MEMBERS + HELPER_MEMBERS}
    if all((target / Path(member).name).exists() for member in wanted.values()):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as archive:
        for info in archive.getmembers():
            if info.name in wanted and info.isfile():
                source = archive.extractfile(info)
                assert source is not None
                (target / Path(info.name).name).write_bytes(source.read())
    missing = [m for m in wanted.values() if not (target / Path(m).name).exists()]
    if missing:
        raise RuntimeError(f"{SDIST_NAME} lacks {missing}")
    return target


@dataclass(frozen=True)
class Outcome:
    outcome: str  # passed, failed or skipped
    message: str


def run(
    folder: Path,
    files: tuple[str, ...] = FILES,
    extra: tuple[str, ...] = (),
    shards: int | None = None,
) -> dict[str, Outcome]:
    """Run the test files and return each test's outcome by its id.

    The tests are dealt round-robin to ``shards`` pytest subprocesses run side by side
    (by default one per core, at most two). JAX, Keras's dtype reference, compiles a
    small kernel per dtype pair; its compilation cache lives next to the test files,
    so a second run skips most of that work.
    """
    if shards is None:
        shards = max(1, min(2, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as scratch:
        ini = Path(scratch) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        env = dict(os.environ)
        env["KERAS_BACKEND"] = "numpy"
        env["NERVE_KERAS_SUITE_HELPERS"] = str(folder)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_dir() / "jax-cache"))
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ini),
            "--rootdir",
            str(folder),
            "--import-mode=importlib",
            "--assert=plain",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.ops.keras_shim",
            "-q",
            "--no-header",
            "--tb=no",
            *extra,
            *(str(folder / f"{name}_test.py") for name in files),
        ]
        reports = [Path(scratch) / f"report{i}.jsonl" for i in range(shards)]
        processes = [
            subprocess.Popen(
                command,
                cwd=folder,
                env={
                    **env,
                    "NERVE_KERAS_SUITE_REPORT": str(report),
                    "NERVE_KERAS_SUITE_SHARD": f"{i}/{shards}",
                },
                stdout=subprocess.DEVNULL,
            )
            for i, report in enumerate(reports)
        ]
        for process in processes:
            process.wait()
        results: dict[str, Outcome] = {}
        rank = {"passed": 0, "skipped": 1, "failed": 2}
        for report in reports:
            if not report.exists():
                continue
            for line in report.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                old = results.get(record["nodeid"])
                if old is None or rank[record["outcome"]] > rank[old.outcome]:
                    results[record["nodeid"]] = Outcome(record["outcome"], record["message"])
    return results


def kind_of(nodeid: str) -> str:
    """``"dtype"`` for Keras's dtype classes, ``"value"`` for the others.

    >>> kind_of("numpy_test.py::NumpyDtypeTest::test_add_float16")
    'dtype'
    """
    parts = nodeid.split("::")
    return "dtype" if len(parts) > 1 and "Dtype" in parts[1] else "value"


def file_of(nodeid: str) -> str:
    """The Keras family a test id belongs to: ``numpy_test.py::...`` -> ``numpy``."""
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix("_test.py")


Counts = dict[str, dict[str, dict[str, int]]]  # file -> kind -> outcome -> n


def count(results: dict[str, Outcome]) -> Counts:
    """Pass/fail/skip counts per file and kind."""
    counts: Counts = {
        f: {k: {"passed": 0, "failed": 0, "skipped": 0} for k in KINDS} for f in FILES
    }
    for nodeid, outcome in results.items():
        counts[file_of(nodeid)][kind_of(nodeid)][outcome.outcome] += 1
    return counts


def _rate(cell: dict[str, int]) -> str:
    ran = cell["passed"] + cell["failed"]
    return f"{cell['passed']}/{ran} ({100 * cell['passed'] / ran:.1f} %)" if ran else "-"


def summary(counts: Counts) -> str:
    """The pass rates per file and kind as a text table."""
    lines = [f"{'file':<8} {'value tests passed':>26} {'dtype tests passed':>26} {'skipped':>8}"]
    totals = {k: Counter() for k in KINDS}  # type: dict[str, Counter[str]]
    for name in FILES:
        row = counts[name]
        skipped = sum(row[k]["skipped"] for k in KINDS)
        lines.append(f"{name:<8} {_rate(row['value']):>26} {_rate(row['dtype']):>26} {skipped:>8}")
        for k in KINDS:
            totals[k].update(row[k])
    skipped = sum(totals[k]["skipped"] for k in KINDS)
    lines.append(
        f"{'all':<8} {_rate(dict(totals['value'])):>26} "
        f"{_rate(dict(totals['dtype'])):>26} {skipped:>8}"
    )
    return "\n".join(lines)


# The list of expected failures -------------------------------------------------------

HEADER = f"""\
# Keras {KERAS_VERSION}'s ops tests (keras/src/ops/{{numpy,nn,math,core,linalg,image}}_test.py,
# value and dtype classes) run against nerve.ops by tests/ops/keras_suite.py.
# Tests expected to fail, one per line: <test id>  # <reason>.
# Regenerate after a change (reasons of the remaining entries are kept):
#     python -m tests.ops.keras_suite --update
"""
COUNTS_PREFIX = "#: counts "
SKIPS_PREFIX = "#: skips "


def read_expected(path: Path = EXPECTED) -> tuple[dict[str, str], Counts | None]:
    """The listed failures (test id -> reason) and the recorded counts."""
    failures: dict[str, str] = {}
    counts = None
    if not path.exists():
        return failures, counts
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(COUNTS_PREFIX):
            counts = json.loads(line[len(COUNTS_PREFIX) :])
        elif line.strip() and not line.startswith("#"):
            nodeid, _, reason = line.partition("  # ")
            failures[nodeid.strip()] = reason.strip()
    return failures, counts


def skip_reasons(results: dict[str, Outcome]) -> dict[str, int]:
    """How many tests were skipped for each reason (the skip's message, whitespace
    squeezed): Keras's own markers for its NumPy backend, and the shim's two (a
    TensorFlow reference, a test that needs a trainer)."""
    reasons: Counter[str] = Counter()
    for outcome in results.values():
        if outcome.outcome == "skipped":
            reason = " ".join(outcome.message.split()).removeprefix("Skipped: ")
            reasons[reason or "(no reason given)"] += 1
    return dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0])))


def read_skips(path: Path = EXPECTED) -> dict[str, int]:
    """The skip reasons and counts the list recorded (empty before the first run)."""
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(SKIPS_PREFIX):
                return json.loads(line[len(SKIPS_PREFIX) :])
    return {}


def default_reason(outcome: Outcome) -> str:
    """A first reason for a new failure, from its error message (edit it by hand)."""
    message = outcome.message.strip()
    if "nerve.ops has no " in message:
        name = message.split("nerve.ops has no ", 1)[1].split(" ", 1)[0]
        return f"missing function: {name}"
    return message.replace("\n", " ")[:200] or "fails (no message)"


def write_expected(results: dict[str, Outcome], path: Path = EXPECTED) -> None:
    """Rewrite the list from a run, keeping the reasons of entries still failing."""
    old, _ = read_expected(path)
    counts = count(results)
    lines = [HEADER.rstrip("\n"), COUNTS_PREFIX + json.dumps(counts, sort_keys=True)]
    lines.append(SKIPS_PREFIX + json.dumps(skip_reasons(results)))
    for nodeid in sorted(n for n, o in results.items() if o.outcome == "failed"):
        lines.append(f"{nodeid}  # {old.get(nodeid) or default_reason(results[nodeid])}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def compare(results: dict[str, Outcome], expected: dict[str, str]) -> tuple[list[str], list[str]]:
    """Tests failing that are not listed (regressions), and listed tests that pass."""
    failing = {n for n, o in results.items() if o.outcome == "failed"}
    new = sorted(n for n in failing if n not in expected)
    fixed = sorted(n for n in expected if n in results and results[n].outcome != "failed")
    return new, fixed


# The README's table ------------------------------------------------------------------

README_BEGIN = (
    "<!-- ops-table: generated by `python -m tests.ops.keras_suite --readme`; do not edit -->"
)
README_END = "<!-- ops-table: end -->"


def keras_namespaces() -> dict[str, list[str]]:
    """Public function names of ``keras.ops`` and its sub-namespaces (Keras 3.15.1)."""
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    import keras

    namespaces = {"ops": keras.ops}
    for name in ("numpy", "nn", "linalg", "image"):
        namespaces[name] = getattr(keras.ops, name)
    return {
        key: sorted(
            n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))
        )
        for key, module in namespaces.items()
    }


def nerve_has(namespace: str, name: str) -> bool:
    """Whether nerve answers ``keras.ops.<namespace>.<name>`` (the shim's lookup)."""
    import nerve.ops

    places = [getattr(nerve.ops, namespace, None), nerve.ops] if namespace != "ops" else [nerve.ops]
    for place in places:
        if place is None:
            continue
        exported = getattr(place, "__all__", None)
        if (exported is None or name in exported) and callable(getattr(place, name, None)):
            return True
    return False


def render_readme_section(counts: Counts | None) -> str:
    """The generated part of the README's "What `nerve.ops` has" section."""
    import nerve.ops

    lines = [README_BEGIN, ""]
    lines.append(f"| namespace | Keras {KERAS_VERSION} functions | in nerve | missing |")
    lines.append("| --- | --- | --- | --- |")
    missing_lists = []
    for namespace, names in keras_namespaces().items():
        missing = [n for n in names if not nerve_has(namespace, n)]
        label = "`keras.ops`" if namespace == "ops" else f"`keras.ops.{namespace}`"
        lines.append(f"| {label} | {len(names)} | {len(names) - len(missing)} | {len(missing)} |")
        if missing:
            missing_lists.append(
                f"Missing from {label}: " + ", ".join(f"`{n}`" for n in missing) + "."
            )
    lines.append("")
    if counts is not None:
        lines.append(
            f"Keras {KERAS_VERSION}'s own ops tests against `nerve.ops` "
            "(`tests/ops/test_keras_suite.py`; tests passed of those run, per file and kind; "
            "every failure is listed with its reason in `tests/ops/keras_suite_expected.txt`):"
        )
        lines.append("")
        lines.append("| test file | value tests | dtype tests | skipped |")
        lines.append("| --- | --- | --- | --- |")
        totals = {k: Counter() for k in KINDS}  # type: dict[str, Counter[str]]
        for name in FILES:
            row = counts[name]
            skipped = sum(row[k]["skipped"] for k in KINDS)
            lines.append(
                f"| `{name}_test.py` | {_rate(row['value'])} | {_rate(row['dtype'])} | {skipped} |"
            )
            for k in KINDS:
                totals[k].update(row[k])
        skipped = sum(totals[k]["skipped"] for k in KINDS)
        lines.append(
            f"| all | {_rate(dict(totals['value']))} | {_rate(dict(totals['dtype']))} | {skipped} |"
        )
        lines.append("")
        skips = read_skips()
        if skips:
            lines.append(
                "Skipped tests, by reason (Keras's own skip markers for its NumPy backend, "
                "kept as Keras runs them, and the shim's: a TensorFlow reference, a test "
                "that needs a trainer): "
                + "; ".join(f"{reason} ({n})" for reason, n in skips.items())
                + "."
            )
            lines.append("")
    lines.extend(line + "\n" for line in missing_lists)
    names = sorted(nerve.ops.__all__)
    lines.append(f"`nerve.ops` ({len(names)} names): " + ", ".join(f"`{n}`" for n in names) + ".")
    lines.append("")
    lines.append(README_END)
    return "\n".join(lines)


def readme_with_section(text: str, section: str) -> str:
    """The README text with the generated section replaced."""
    start = text.index(README_BEGIN)
    end = text.index(README_END) + len(README_END)
    return text[:start] + section + text[end:]


def update_readme() -> bool:
    """Rewrite the README's generated section; return whether it changed."""
    _, counts = read_expected()
    text = README.read_text(encoding="utf-8")
    new = readme_with_section(text, render_readme_section(counts))
    if new != text:
        README.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--update", action="store_true", help="rewrite the expected failures and the README table"
    )
    parser.add_argument(
        "--readme", action="store_true", help="rewrite the README table only (no run)"
    )
    parser.add_argument(
        "--files", nargs="*", default=list(FILES), help="test files to run (default: all)"
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    args = parser.parse_args(argv)
    if args.readme:
        print("README updated" if update_readme() else "README already current")
        return 0
    folder = extract(fetch())
    results = run(folder, tuple(args.files), tuple(args.pytest_args))
    print(summary(count(results)))
    expected, _ = read_expected()
    new, fixed = compare(results, expected)
    if args.update:
        if tuple(args.files) != FILES or args.pytest_args:
            parser.error("--update needs a run of all files without extra arguments")
        write_expected(results)
        update_readme()
        print(
            f"wrote {EXPECTED.relative_to(REPO)} ({len(new)} new failures, "
            f"{len(fixed)} fixed) and the README table"
        )
        return 0
    for nodeid in new:
        print(f"NEW FAILURE {nodeid}: {results[nodeid].message}")
    for nodeid in fixed:
        print(f"NOW PASSES {nodeid}")
    return 1 if new or fixed else 0


if __name__ == "__main__":
    sys.exit(main())
