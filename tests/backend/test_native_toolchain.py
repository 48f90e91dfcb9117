"""The native-kernel cache can't be made to run someone else's code or give wrong numbers,
and a misbehaving compiler can't hang or crash nerve.

Each test builds tiny libraries (``int nv_answer(void)``) whose answer says which one was
loaded, then plays an attacker or an accident: a shared folder others can write, a planted
file with the predictable name, a truncated or swapped library, a compiler that hangs or
that "succeeds" without writing anything (fake compilers through ``$CC``).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nerve.backend.numpy_backend import native
from nerve.backend.numpy_backend.native import toolchain
from nerve.backend.program import ElementwiseProgram, Step

pytestmark = pytest.mark.skipif(
    not native.available() or os.name != "posix", reason="needs a working C compiler on POSIX"
)

RIGHT = "int nv_answer(void) { return 42; }"
WRONG = "int nv_answer(void) { return 7; }"


def answer(library: ctypes.CDLL | None) -> int | None:
    return None if library is None else library.nv_answer()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh process's view of a cache under ``tmp_path``: nothing loaded, no key read,
    no folder refused, a private fallback folder of the test's own."""
    monkeypatch.setenv("NERVE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(toolchain, "_loaded", {})
    monkeypatch.setattr(toolchain, "_secrets", {})
    monkeypatch.setattr(toolchain, "_refused", set())
    monkeypatch.setattr(toolchain, "_broken", None)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(toolchain, "_private_dir", lambda: private)
    return tmp_path / "kernels"


def library_path(folder: Path, source: str) -> Path:
    return folder / f"{toolchain.library_key(source, toolchain.compiler())}.so"


def new_process() -> None:
    """What a later run starts with: only the files on disk."""
    toolchain._loaded.clear()
    toolchain._secrets.clear()


def test_libraries_carry_a_digest_and_the_key_is_private(cache):
    assert answer(toolchain.load(RIGHT)) == 42
    key_file = cache / "hmac.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.stat().st_size == 32
    assert stat.S_IMODE(cache.stat().st_mode) & 0o077 == 0
    target = library_path(cache, RIGHT)
    assert isinstance(toolchain._verified(target, target.stem, key_file.read_bytes()), bytes)
    assert toolchain._verified(target, target.stem, bytes(32)) == (
        "fails its integrity check (truncated, damaged or replaced)"  # another key
    )


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_cache_folder_others_can_write_is_refused(cache, mode):
    """Planted in a shared folder under the predictable name, a library is never loaded:
    the folder is refused as a whole, and libraries are built in a private one."""
    cache.mkdir(mode=0o700)
    (cache / "hmac.key").write_bytes(bytes(32))  # the attacker's key, with a signed library
    planted = library_path(cache, RIGHT)
    body = b"\x7fELF planted"
    planted.write_bytes(body + toolchain._digest(bytes(32), planted.stem, body))
    os.chmod(cache, mode)
    with pytest.warns(RuntimeWarning, match=f"has mode {mode:o}.*plant code.*NERVE_CACHE_DIR"):
        assert answer(toolchain.load(RIGHT)) == 42
    assert planted.read_bytes().startswith(b"\x7fELF planted")  # untouched, never read
    assert list(toolchain._private_dir().glob("*.so"))


def test_a_cache_folder_of_another_user_is_refused(cache):
    if os.geteuid() != 0:
        pytest.skip("planting a folder owned by another user needs root")
    cache.mkdir(mode=0o700)
    os.chown(cache, 65534, -1)
    with pytest.warns(RuntimeWarning, match="belongs to user 65534"):
        assert answer(toolchain.load(RIGHT)) == 42


def _loosen(path: Path) -> None:
    os.chmod(path, 0o666)


def _give_away(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("planting a file owned by another user needs root")
    os.chown(path, 65534, -1)


@pytest.mark.parametrize(
    "plant,expected",
    [(_loosen, "has mode 666"), (_give_away, "belongs to user 65534")],
    ids=["writable-by-others", "owned-by-another-user"],
)
def test_a_library_others_can_write_is_rebuilt_not_loaded(cache, plant, expected):
    """In our own folder, a library file that isn't ours alone is refused even when its
    digest checks out (as if the key had leaked), and built again."""
    toolchain.load(RIGHT)
    target = library_path(cache, RIGHT)
    plant(target)
    new_process()
    with pytest.warns(RuntimeWarning, match=expected):
        assert answer(toolchain.load(RIGHT)) == 42
    status = target.stat()
    assert status.st_uid == os.geteuid() and stat.S_IMODE(status.st_mode) & 0o022 == 0


def _truncate(target: Path, other: Path) -> None:
    target.write_bytes(target.read_bytes()[:4096])  # used to crash every run with SIGBUS


def _flip_a_byte(target: Path, other: Path) -> None:
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))


def _swap_in_another_signed_library(target: Path, other: Path) -> None:
    shutil.copyfile(other, target)  # valid, signed by us, built from other code


def _swap_in_an_unsigned_library(target: Path, other: Path) -> None:
    target.write_bytes(other.read_bytes()[: -toolchain._DIGEST_SIZE])


def _link_elsewhere(target: Path, other: Path) -> None:
    target.unlink()
    target.symlink_to(other)


@pytest.mark.parametrize(
    "damage",
    [
        _truncate,
        _flip_a_byte,
        _swap_in_another_signed_library,
        _swap_in_an_unsigned_library,
        _link_elsewhere,
    ],
)
def test_a_damaged_or_swapped_library_is_rebuilt_never_loaded(cache, damage):
    toolchain.load(RIGHT)
    toolchain.load(WRONG)
    target, other = library_path(cache, RIGHT), library_path(cache, WRONG)
    damage(target, other)
    new_process()
    with pytest.warns(RuntimeWarning, match=r"\.so (fails its integrity|can't be opened)"):
        assert answer(toolchain.load(RIGHT)) == 42
    new_process()
    assert answer(toolchain.load(RIGHT)) == 42  # rebuilt for good: no warning now


def test_a_key_file_others_can_read_is_replaced(cache):
    toolchain.load(RIGHT)
    key_file = cache / "hmac.key"
    old = key_file.read_bytes()
    os.chmod(key_file, 0o644)
    new_process()
    with pytest.warns(RuntimeWarning, match="integrity"):  # signed with the old key
        assert answer(toolchain.load(RIGHT)) == 42
    assert key_file.read_bytes() != old and stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_stale_partial_files_of_killed_builds_are_removed(cache):
    cache.mkdir(mode=0o700)
    stale, fresh = cache / "dead.123.ab.partial", cache / "busy.456.cd.partial"
    for leftover in (stale, fresh):
        leftover.write_bytes(b"half a library")
    hours_ago = time.time() - 3 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    toolchain.load(RIGHT)
    assert not stale.exists() and fresh.exists()  # `fresh` may be another process's build


# -- fake compilers ---------------------------------------------------------------------------

HANGS = """#!/bin/sh
echo "$@" >> "{log}"
case "$1" in --version) [ -n "{hang_version}" ] || {{ echo "fake cc 1.0"; exit 0; }};; esac
sleep 60 &
echo $! > "{pid}"
wait
"""
WRITES_NOTHING = """#!/bin/sh
echo "$@" >> "{log}"
case "$1" in --version) echo "fake cc 1.0";; esac
exit 0
"""


def fake_compiler(tmp_path: Path, script: str, **fields: str) -> tuple[str, Path, Path]:
    log, pid = tmp_path / "calls.log", tmp_path / "child.pid"
    path = tmp_path / "fake-cc"
    path.write_text(script.format(log=log, pid=pid, **fields))
    path.chmod(0o755)
    return str(path), log, pid


@pytest.fixture
def fake_cc(tmp_path, monkeypatch, cache):
    """Use a fake compiler (``$CC``) with a 1 s limit; the real one is probed again after."""
    monkeypatch.setenv("NERVE_NATIVE_COMPILE_TIMEOUT", "1")
    probe = toolchain.compiler  # tests may replace it
    probe.cache_clear()

    def use(script: str, **fields: str) -> tuple[str, Path, Path]:
        found = fake_compiler(tmp_path, script, **fields)
        monkeypatch.setenv("CC", found[0])
        return found

    yield use
    probe.cache_clear()


def _assert_killed(pid_file: Path) -> None:
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    with open(f"/proc/{pid}/stat") as status:  # a zombie awaiting its parent is dead too
        assert status.read().split(")")[-1].split()[0] == "Z", "the compiler's child still runs"


@pytest.mark.parametrize("hang_version", ["", "yes"], ids=["compiling", "version-query"])
def test_a_compiler_that_hangs_while_probed_is_killed_once(fake_cc, hang_version):
    _, log, pid = fake_cc(HANGS, hang_version=hang_version)
    with pytest.warns(RuntimeWarning, match="did not finish within 1 s and was killed"):
        assert toolchain.compiler() is None
    assert len(log.read_text().splitlines()) == (1 if hang_version else 2)  # no retries
    _assert_killed(pid)


def test_a_compiler_that_hangs_on_a_kernel_falls_back_to_numpy(fake_cc, monkeypatch, cache):
    path, log, pid = fake_cc(HANGS, hang_version="")
    monkeypatch.setattr(toolchain, "compiler", lambda: (path, toolchain.BASE_FLAGS, "fake"))
    with pytest.warns(RuntimeWarning, match="killed.*NumPy kernels instead"):
        assert toolchain.load(RIGHT) is None
    assert toolchain.load(WRONG) is None  # off for the process: not another minute
    assert len(log.read_text().splitlines()) == 1
    _assert_killed(pid)
    assert not list(cache.glob("*.partial"))


def test_a_compiler_that_writes_nothing_is_refused_when_probed(fake_cc):
    fake_cc(WRITES_NOTHING)
    with pytest.warns(RuntimeWarning, match="reported success but wrote no library"):
        assert toolchain.compiler() is None


def test_a_compiler_that_writes_nothing_for_a_kernel_falls_back_to_numpy(
    fake_cc, monkeypatch, cache
):
    path, _, _ = fake_cc(WRITES_NOTHING)
    monkeypatch.setattr(toolchain, "compiler", lambda: (path, toolchain.BASE_FLAGS, "fake"))
    program = ElementwiseProgram(
        (16, 16), (((16, 16), "float64"),), (Step("neg", (0,), (), "float64"),), (1,)
    )
    with pytest.warns(RuntimeWarning, match="wrote no library.*NumPy kernels"):
        assert native.compile_elementwise([program], min_elements=0) == [None]
    assert not [p for p in cache.iterdir() if p.name != "hmac.key"]


def test_the_compile_time_limit_is_configurable(monkeypatch):
    for text, expected in [("", 60.0), ("2.5", 2.5), ("0", 60.0), ("soon", 60.0)]:
        monkeypatch.setenv("NERVE_NATIVE_COMPILE_TIMEOUT", text)
        assert toolchain.compile_timeout() == expected


def test_a_refused_cache_builds_in_a_private_folder_removed_at_exit(tmp_path):
    """A fresh process: the warning names the folder, results are right, and the private
    folder is gone once the process ends."""
    shared, scratch = tmp_path / "shared", tmp_path / "scratch"
    (shared / "kernels").mkdir(parents=True)
    os.chmod(shared / "kernels", 0o777)
    scratch.mkdir()
    script = (
        "from nerve.backend.numpy_backend.native import toolchain\n"
        f"print(toolchain.load({RIGHT!r}).nv_answer())\n"
    )
    env = {**os.environ, "NERVE_CACHE_DIR": str(shared), "TMPDIR": str(scratch)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
    assert f"{shared / 'kernels'} has mode 777" in done.stderr
    assert not list(scratch.iterdir())  # the private folder and the compiler's files: gone
    assert not list((shared / "kernels").iterdir())


def test_results_stay_right_after_the_cache_is_tampered_with(cache):
    """The whole path (a fused program) after a library swap: NumPy's numbers or the
    right library's, never another program's."""
    shape = (16, 16)
    neg = ElementwiseProgram(
        shape, ((shape, "float64"),), (Step("neg", (0,), (), "float64"),), (1,)
    )
    exp = ElementwiseProgram(
        shape, ((shape, "float64"),), (Step("exp", (0,), (), "float64"),), (1,)
    )
    x = np.linspace(-1, 1, 256).reshape(shape)
    native.compile_elementwise([neg], min_elements=0)
    native.compile_elementwise([exp], min_elements=0)
    neg_file, exp_file = sorted(cache.glob("*.so"), key=lambda p: p.stat().st_mtime)
    shutil.copyfile(exp_file, neg_file)
    new_process()
    with pytest.warns(RuntimeWarning, match="integrity"):
        (loop,) = native.compile_elementwise([neg], min_elements=0)
    np.testing.assert_array_equal(loop([x], (None,))[0], -x)
