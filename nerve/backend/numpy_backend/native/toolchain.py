"""The C toolchain behind native kernels: find a compiler, compile, cache, load.

Generated C is compiled into a shared library by the system's C compiler
(``$CC``, else ``cc``, ``gcc`` or ``clang`` on ``PATH``) and loaded with
``ctypes``. Libraries are cached on disk under ``$NERVE_CACHE_DIR/kernels``
(default ``~/.cache/nerve/kernels``), named by a hash of their source, the
compiler, its flags and the CPU, so a program is compiled once per machine; files are
written to a temporary name and renamed, so a crash never leaves half a library.

Loading a library runs its code, so the cache is treated as careful tools treat
theirs (ssh its keys, pip its wheels):

* the folder must belong to this user and be writable by no one else; otherwise
  nothing is read from it, and libraries are built in a private temporary folder
  (removed at exit) with a ``RuntimeWarning`` naming the folder and the fix;
* each library ends with an HMAC-SHA256 of its bytes and its name, keyed with a
  per-user secret (``hmac.key``, 32 random bytes, mode 0600, in the cache folder).
  A library is loaded only when it is this user's, writable by no one else, and its
  digest checks out: a truncated, damaged or swapped library (even a valid one built
  from other code) is rebuilt with a warning, never loaded;
* a compiler run is killed, with everything it started, after
  ``$NERVE_NATIVE_COMPILE_TIMEOUT`` seconds (default 60); a compiler that hangs, or
  that reports success without writing a library, turns native kernels off for the
  process with a warning (it is not tried again), and graphs run NumPy kernels.

Set ``NERVE_NATIVE=0`` to turn native kernels off (graphs then run NumPy kernels),
``NERVE_NATIVE_THREADS=1`` to split large loops across cores with OpenMP.
Without a compiler they are off, silently: native kernels are an optimization,
never a requirement.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import hashlib
import hmac
import os
import platform
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

__all__ = [
    "BASE_FLAGS",
    "DATA_OFFSET",
    "DEFAULT_COMPILE_TIMEOUT",
    "HERE",
    "OPTIONAL_FLAGS",
    "cache_dir",
    "cache_folder",
    "compile_timeout",
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

#: Seconds a compiler run may take by default (a kernel library compiles in ~0.1-2 s).
DEFAULT_COMPILE_TIMEOUT = 60.0

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
    """Where libraries are cached when that folder is this user's own (see ``cache_folder``)."""
    root = os.environ.get("NERVE_CACHE_DIR")
    if root:
        return Path(root) / "kernels"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nerve" / "kernels"


@functools.cache
def compiler() -> tuple[str, tuple[str, ...], str] | None:
    """``(path, flags, identity)`` of a working C compiler, or ``None``.

    A compiler that hangs or "succeeds" without writing a library is not tried again
    with other flags (nor is the next name on the list): a ``RuntimeWarning`` says
    what it did and native kernels stay off for this process."""
    names = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    for name in names:
        path = shutil.which(name)
        if path is None:
            continue
        try:
            return _probe(path)
        except _CompilerBroken as broken:
            _give_up(path, broken)
            return None
        except _Rejected:
            continue
    return None


class _Rejected(Exception):
    """This compiler can't build the probe with any flags: try the next one."""


class _CompilerBroken(Exception):
    """The compiler hung or lied about its result: stop using it in this process."""


def _probe(path: str) -> tuple[str, tuple[str, ...], str]:
    with tempfile.TemporaryDirectory(prefix="nerve-probe-") as tmp:
        try:
            done = _run([path, "--version"], tmp)
        except subprocess.TimeoutExpired:
            raise _CompilerBroken(_hung_message()) from None
        except (OSError, subprocess.SubprocessError):
            raise _Rejected from None
        lines = done.stdout.splitlines()
        if done.returncode != 0 or not lines:
            raise _Rejected
        for extra in OPTIONAL_FLAGS:
            if "-fopenmp" in extra and not _openmp_is_safe():
                continue
            flags = (*BASE_FLAGS, *extra)
            if _build(path, flags, _PROBE, Path(tmp) / "probe.so") is None:
                return path, flags, f"{path} {lines[0]}"
    raise _Rejected


def compile_timeout() -> float:
    """Seconds one compiler run may take before it is killed:
    ``$NERVE_NATIVE_COMPILE_TIMEOUT``, default ``DEFAULT_COMPILE_TIMEOUT``."""
    text = os.environ.get("NERVE_NATIVE_COMPILE_TIMEOUT", "").strip()
    try:
        value = float(text) if text else DEFAULT_COMPILE_TIMEOUT
    except ValueError:
        return DEFAULT_COMPILE_TIMEOUT
    return value if value > 0 else DEFAULT_COMPILE_TIMEOUT


def _hung_message() -> str:
    return (
        f"did not finish within {compile_timeout():g} s and was killed "
        f"($NERVE_NATIVE_COMPILE_TIMEOUT sets the limit)"
    )


def _run(command: list[str], tmp: str) -> subprocess.CompletedProcess:
    """Run a compiler command with a bounded time. It runs in a process group of its
    own, so a hang kills the driver and everything it started (cc1, as, ld) at once:
    killing the driver alone would leave them running, holding our pipes open. Its
    temporary files go to ``tmp`` (removed by the caller), so a kill leaves no litter."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": tmp, "TMP": tmp, "TEMP": tmp},
        start_new_session=os.name == "posix",
    )
    try:
        stdout, stderr = process.communicate(timeout=compile_timeout())
    except subprocess.TimeoutExpired:
        if os.name == "posix":
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=5)
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _build(
    path: str, flags: tuple, source: str, target: Path, include_dirs: tuple[str, ...] = ()
) -> str | None:
    """Compile ``source`` into ``target``, headers searched in ``HERE`` then
    ``include_dirs``; the compiler's complaint, or ``None``. Raises ``_CompilerBroken``
    when the compiler hangs or writes nothing."""
    with tempfile.TemporaryDirectory(prefix="nerve-cc-") as tmp:
        c_file = Path(tmp) / "kernel.c"
        c_file.write_text(source)
        includes = [f"-I{folder}" for folder in (HERE, *include_dirs)]
        command = [path, *flags, *includes, str(c_file), "-o", str(target), "-lm"]
        try:
            done = _run(command, tmp)
        except subprocess.TimeoutExpired:
            raise _CompilerBroken(_hung_message()) from None
        except (OSError, subprocess.SubprocessError) as error:
            return str(error)
        if done.returncode != 0:
            return done.stderr or done.stdout or "failed"
        if not target.is_file() or target.stat().st_size == 0:
            raise _CompilerBroken(f"reported success but wrote no library to {target}")
        return None


_loaded: dict[str, ctypes.CDLL] = {}
_lock = threading.Lock()
#: Why native kernels stopped for this process (a compiler that hung or lied), or None.
_broken: str | None = None


def _give_up(path: str, broken: _CompilerBroken) -> None:
    global _broken
    _broken = f"the C compiler {path} {broken}"
    warnings.warn(
        f"nerve: {_broken}; running NumPy kernels instead for the rest of this process.",
        RuntimeWarning,
        stacklevel=3,
    )


def load(source: str, include_dirs: tuple[str, ...] = ()) -> ctypes.CDLL | None:
    """The library built from ``source`` (compiled on first use, then from the cache,
    once its digest checks out), or ``None`` when native kernels are off, no compiler
    works or the build fails (a ``RuntimeWarning`` says why: generated code that
    doesn't compile is a bug). ``include_dirs``: more folders of headers (Python's, for
    ``fastcall``), part of the cache key."""
    if not enabled() or _broken is not None:
        return None
    tool = compiler()
    if tool is None:
        return None
    key = library_key(source, tool, include_dirs)
    with _lock:
        library = _loaded.get(key)
        if library is not None:
            return library
        try:
            folder = cache_folder()
            secret = _secret(folder)
        except OSError as error:
            warnings.warn(
                f"nerve: no usable native kernel cache ({error}); running NumPy kernels.",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        target = folder / f"{key}{_SUFFIX}"
        checked = _verified(target, key, secret)
        if isinstance(checked, str):
            if checked != _MISSING:
                warnings.warn(
                    f"nerve: the cached native kernel library {target} {checked}; "
                    f"it is not loaded and is being built again.",
                    RuntimeWarning,
                    stacklevel=2,
                )
            built = _build_into(target, key, secret, tool, source, include_dirs)
            if built is None:
                return None
            checked = built
        body = checked
        try:
            library = _open_copy(folder, key, body, "-fopenmp" in tool[1])
        except OSError as error:  # built but not loadable here
            warnings.warn(
                f"nerve: a native kernel library failed to load ({error}); running NumPy "
                f"kernels instead. Deleting {target} makes nerve build it again.",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        _loaded[key] = library
        return library


def _build_into(
    target: Path, key: str, secret: bytes, tool: tuple, source: str, include_dirs: tuple[str, ...]
) -> bytes | None:
    """Compile ``source`` and sign it into ``target`` (whole or absent: written to a
    temporary name, then renamed); the library's bytes, or ``None`` with a warning when
    that fails."""
    path, flags, _ = tool
    _remove_stale_partials(target.parent)
    partial = _partial_name(target.parent, key)
    try:
        problem = _build(path, flags, source, partial, include_dirs)
        if problem is None:
            body = partial.read_bytes()
            with open(partial, "ab") as file:
                file.write(_digest(secret, key, body))
            os.chmod(partial, 0o700)
            os.replace(partial, target)
            return body
    except _CompilerBroken as broken:
        _give_up(path, broken)
        return None
    except OSError as error:
        problem = f"writing the library failed: {error}"
    finally:
        partial.unlink(missing_ok=True)
    warnings.warn(
        f"nerve: a native kernel failed to compile; running NumPy kernels "
        f"instead. {path} said:\n{problem[:2000]}",
        RuntimeWarning,
        stacklevel=3,
    )
    return None


def _partial_name(folder: Path, stem: str) -> Path:
    return folder / f"{stem}.{os.getpid()}.{secrets.token_hex(4)}{_PARTIAL}"


def _open_copy(folder: Path, key: str, body: bytes, openmp: bool) -> ctypes.CDLL:
    """Load the checked bytes ``body`` from a private copy under a name of its own,
    removed once loaded. Loading the cache file itself would leave a gap between the
    check and the load, and would share its pages: a file truncated later in place
    would crash this process (SIGBUS). And the dynamic loader hands back whatever it
    loaded before under the same path, so a rebuilt library needs a new name."""
    copy = _partial_name(folder, key)
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(body)
        return _open(copy, openmp)
    finally:
        copy.unlink(missing_ok=True)


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


def library_key(source: str, tool: tuple, include_dirs: tuple[str, ...] = ()) -> str:
    """The cache name of ``source`` built by ``tool``: everything the binary depends on
    (headers outside ``HERE`` by their folders: a source that includes them names what
    else they depend on, as ``fastcall`` names the Python it was built for)."""
    _, flags, identity = tool
    parts = (_FORMAT, identity, " ".join(flags), _cpu(), str(DATA_OFFSET), *include_dirs, source)
    text = "\0".join(parts)
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


# -- the cache: a folder of our own, libraries with a keyed digest ---------------------------

_SUFFIX = ".dll" if sys.platform == "win32" else ".so"
_PARTIAL = ".partial"
_KEY_FILE = "hmac.key"
_DIGEST_SIZE = 32
_MISSING = "is missing"
#: Bumped when the file layout changes, so older files are never read (part of the key).
_FORMAT = "signed-1"


def cache_folder() -> Path:
    """The folder libraries are cached in: ``cache_dir()`` when it is this user's own
    (owned by this user, writable by no one else), else a private temporary folder,
    removed at exit (with a warning when the cache was refused)."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        status = os.stat(folder)  # through a link: what counts is where files go
    except OSError:  # read-only home: quietly private
        return _private_dir()
    problem = "is not a folder" if not stat.S_ISDIR(status.st_mode) else _not_private(status)
    if problem is None:
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
        return _private_dir()
    private = _private_dir()
    if str(folder) not in _refused:
        _refused.add(str(folder))
        warnings.warn(
            f"nerve: the native kernel cache {folder} {problem}, so another user could "
            f"plant code in it; nothing is loaded from it. Kernels are built in the "
            f"private folder {private} instead (removed at exit). Make it yours "
            f"(chown, chmod go-w) or set NERVE_CACHE_DIR to a folder of your own.",
            RuntimeWarning,
            stacklevel=4,
        )
    return private


_refused: set[str] = set()


def _not_private(status: os.stat_result, unreadable: bool = False) -> str | None:
    """Why a file or folder with this ``stat`` is not this user's alone, or ``None``.
    (Not checked where POSIX ownership doesn't exist.)"""
    if os.name != "posix":
        return None
    user = os.geteuid()
    if status.st_uid != user:
        return f"belongs to user {status.st_uid}, not to this user ({user})"
    mask = 0o077 if unreadable else 0o022
    if status.st_mode & mask:
        may = "read" if unreadable else "write"
        return f"has mode {stat.S_IMODE(status.st_mode):o} (others may {may} it)"
    return None


@functools.cache
def _private_dir() -> Path:
    folder = tempfile.mkdtemp(prefix="nerve-kernels-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)


def _read_private(path: Path, unreadable: bool = False) -> bytes | str:
    """The bytes of a regular file that is this user's alone, or why it can't be read.
    Opened without following links, checked on the open file (no race between the
    check and the read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return _MISSING
    except OSError as error:
        return f"can't be opened ({error.strerror})"
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            return "is not a regular file"
        problem = _not_private(status, unreadable)
        return file.read() if problem is None else problem


def _verified(target: Path, key: str, secret: bytes) -> bytes | str:
    """The library in the file ``target`` (without its digest), or why it must not be
    loaded: it must be this user's alone, and its last bytes must be the keyed digest of
    the rest under its own name (so a truncated, damaged or swapped library fails)."""
    data = _read_private(target)
    if isinstance(data, str):
        return data
    body, tag = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    if len(data) <= _DIGEST_SIZE or not hmac.compare_digest(tag, _digest(secret, key, body)):
        return "fails its integrity check (truncated, damaged or replaced)"
    return body


def _digest(secret: bytes, key: str, body: bytes) -> bytes:
    return hmac.new(secret, key.encode() + b"\0" + body, hashlib.sha256).digest()


_secrets: dict[str, bytes] = {}


def _secret(folder: Path) -> bytes:
    """This user's key for library digests: random bytes in a file of mode 0600 in the
    cache folder, made on first use. Another user can't read it, so can't sign a
    library; a key file that isn't private is replaced (its libraries are rebuilt)."""
    path = folder / _KEY_FILE
    secret = _secrets.get(str(path))
    if secret is None:
        secret = _read_key(path) or _new_key(path)
        _secrets[str(path)] = secret
    return secret


def _read_key(path: Path) -> bytes | None:
    data = _read_private(path, unreadable=True)
    return data if isinstance(data, bytes) and len(data) == _DIGEST_SIZE else None


def _new_key(path: Path) -> bytes:
    secret = secrets.token_bytes(_DIGEST_SIZE)
    partial = _partial_name(path.parent, path.name)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(secret)
        try:
            os.link(partial, path)  # atomic and never overwrites: the first writer wins
        except FileExistsError:
            existing = _read_key(path)
            if existing is not None:
                return existing
            os.replace(partial, path)  # a key someone else could read: ours replaces it
    finally:
        partial.unlink(missing_ok=True)
    return secret


def _remove_stale_partials(folder: Path) -> None:
    """Remove half-written files that a killed process left: none can be older than
    the longest a compile may take."""
    horizon = time.time() - 2 * compile_timeout() - 60
    for leftover in folder.glob(f"*{_PARTIAL}"):
        with contextlib.suppress(OSError):
            if leftover.lstat().st_mtime < horizon:
                leftover.unlink()
