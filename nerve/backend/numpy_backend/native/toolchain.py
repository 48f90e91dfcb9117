"""The C toolchain behind native kernels: find a compiler, compile, cache, load.

Generated C is compiled into a shared library by the system's C compiler
(``$CC``, else ``cc``, ``gcc`` or ``clang`` on ``PATH``) and loaded with
``ctypes``. Libraries are cached on disk under ``$NERVE_CACHE_DIR/kernels``
(default ``~/.cache/nerve/kernels``), named by a hash of their source, the
compiler, its flags and the CPU, so a program is compiled once per machine; files are
written to a temporary name and renamed, so a crash never leaves half a library.
The cache holds only what this module compiled from source it generated.

Set ``NERVE_NATIVE=0`` to turn native kernels off (graphs then run NumPy kernels),
``NERVE_NATIVE_THREADS=1`` to split large loops across cores with OpenMP.
Without a working compiler they are off, silently: native kernels are an
optimization, never a requirement.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

__all__ = [
    "BASE_FLAGS",
    "DATA_OFFSET",
    "HERE",
    "OPTIONAL_FLAGS",
    "cache_dir",
    "compiler",
    "enabled",
    "library_key",
    "load",
]

HERE = Path(__file__).resolve().parent

#: Flags every library is built with. No -ffast-math: NaN and inf follow IEEE and
#: results match NumPy's; -ffp-contract=off keeps a*b+c two roundings, as NumPy does;
#: -fwrapv makes integer overflow wrap, as NumPy's does.
BASE_FLAGS = (
    "-O3", "-std=c99", "-fPIC", "-shared", "-fno-math-errno", "-ffp-contract=off",
    "-fno-strict-aliasing", "-fwrapv",
)  # fmt: skip
#: Tried in order: the first set the compiler accepts is used (OpenMP only where
#: ``_openmp_is_safe``).
OPTIONAL_FLAGS = (("-march=native", "-fopenmp"), ("-march=native",), ())

#: Where a NumPy array object keeps its data pointer: right after the object header
#: (``PyArrayObject_fields.data``). Kernels read it there, which makes a call ~10x
#: cheaper than ``ndarray.ctypes.data``; checked once against ``ctypes.data``.
DATA_OFFSET = object.__basicsize__

_PROBE = """
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif
int nv_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
"""


def enabled() -> bool:
    return os.environ.get("NERVE_NATIVE", "1").strip().lower() not in ("0", "false", "off", "no")


def cache_dir() -> Path:
    root = os.environ.get("NERVE_CACHE_DIR")
    if root:
        return Path(root) / "kernels"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nerve" / "kernels"


@functools.cache
def compiler() -> tuple[str, tuple[str, ...], str] | None:
    """``(path, flags, identity)`` of a working C compiler, or ``None``."""
    names = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    for name in names:
        path = shutil.which(name)
        if path is None:
            continue
        try:
            version = subprocess.run(
                [path, "--version"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            continue
        with tempfile.TemporaryDirectory(prefix="nerve-probe-") as tmp:
            for extra in OPTIONAL_FLAGS:
                if "-fopenmp" in extra and not _openmp_is_safe():
                    continue
                flags = (*BASE_FLAGS, *extra)
                if _build(path, flags, _PROBE, Path(tmp) / "probe.so") is None:
                    return path, flags, f"{path} {version}"
    return None


def _build(path: str, flags: tuple, source: str, target: Path) -> str | None:
    """Compile ``source`` into ``target``; the compiler's complaint, or ``None``."""
    with tempfile.TemporaryDirectory(prefix="nerve-cc-") as tmp:
        c_file = Path(tmp) / "kernel.c"
        c_file.write_text(source)
        command = [path, *flags, f"-I{HERE}", str(c_file), "-o", str(target), "-lm"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as error:
            return str(error)
        return None if done.returncode == 0 else (done.stderr or done.stdout or "failed")


_loaded: dict[str, ctypes.CDLL] = {}
_lock = threading.Lock()


def load(source: str) -> ctypes.CDLL | None:
    """The library built from ``source`` (compiled on first use, then from the cache),
    or ``None`` when native kernels are off, no compiler works or the build fails (a
    ``RuntimeWarning`` says why: generated code that doesn't compile is a bug)."""
    if not enabled():
        return None
    tool = compiler()
    if tool is None:
        return None
    path, flags, _ = tool
    key = library_key(source, tool)
    with _lock:
        library = _loaded.get(key)
        if library is not None:
            return library
        target = _cached_library(key)
        if not target.exists():
            partial = target.with_name(f"{target.stem}.{os.getpid()}.tmp")
            problem = _build(path, flags, source, partial)
            if problem is not None:
                partial.unlink(missing_ok=True)
                warnings.warn(
                    f"nerve: a native kernel failed to compile; running NumPy kernels "
                    f"instead. {path} said:\n{problem[:2000]}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return None
            os.replace(partial, target)  # atomic: a library is whole or absent
        try:
            library = _open(target, "-fopenmp" in flags)
        except OSError as error:  # built but not loadable here (a foreign cache, say)
            warnings.warn(
                f"nerve: a native kernel library failed to load ({error}); running NumPy "
                f"kernels instead. Deleting {target} makes nerve build it again.",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        _loaded[key] = library
        return library


def _openmp_is_safe() -> bool:
    """Whether loops may use OpenMP threads: only when asked (``NERVE_NATIVE_THREADS=1``;
    measured on a 2-core machine, a 400k-element optimizer update ran no faster on two
    threads: it is bound by memory, not arithmetic) and only when they can wait
    *passively* between loops. Active waiting (GNU
    OpenMP's default: spin for a while after each parallel loop) steals the cores
    OpenBLAS's threads need for the next matmul: measured, an MLP step ran 15x slower
    on 2 cores. The policy is read once, when libgomp loads; if another library
    loaded it already with a spinning policy, loops stay single-threaded."""
    if os.environ.get("NERVE_NATIVE_THREADS", "0").strip().lower() in ("0", "off", "no", "false"):
        return False
    policy = os.environ.get("OMP_WAIT_POLICY", "").strip().lower()
    if policy:
        return policy == "passive"
    return not _libgomp_loaded()


def _libgomp_loaded() -> bool:
    try:
        with open("/proc/self/maps") as maps:
            return any("/libgomp.so" in line for line in maps)
    except OSError:  # not Linux: assume it may be
        return True


def _open(target: Path, openmp: bool) -> ctypes.CDLL:
    """Load a library; the first OpenMP one loads libgomp with the passive policy (the
    variable is set only while it loads, so other libraries keep their defaults)."""
    if not openmp or "OMP_WAIT_POLICY" in os.environ:
        return ctypes.CDLL(str(target))
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        return ctypes.CDLL(str(target))
    finally:
        del os.environ["OMP_WAIT_POLICY"]


def library_key(source: str, tool: tuple) -> str:
    """The cache name of ``source`` built by ``tool``: everything the binary depends on."""
    _, flags, identity = tool
    text = "\0".join((identity, " ".join(flags), _cpu(), str(DATA_OFFSET), source))
    return hashlib.sha256(text.encode() + _header()).hexdigest()[:32]


@functools.cache
def _cpu() -> str:
    """What ``-march=native`` compiled for: the CPU's model and feature flags, so that a
    cache shared between machines (a network home folder) never hands one machine a
    library built for another's instruction set."""
    described = platform.machine() + " " + platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    described += "\n" + line.strip()
                if line.strip() == "":
                    break  # the first processor is enough
    except OSError:
        pass
    return hashlib.sha256(described.encode()).hexdigest()[:16]


@functools.cache
def _header() -> bytes:
    """The math header every kernel includes: part of each library's cache key."""
    return (HERE / "vmath.h").read_bytes()


def _cached_library(key: str) -> Path:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError:  # read-only home: a private folder for this process
        folder = Path(_private_dir())
    suffix = ".dll" if sys.platform == "win32" else ".so"
    return folder / f"{key}{suffix}"


@functools.cache
def _private_dir() -> str:
    return tempfile.mkdtemp(prefix="nerve-kernels-")
