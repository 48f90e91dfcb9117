"""Files replaced whole or not at all, and no litter from writers that died.

A save writes under a temporary name in the destination's folder, syncs, then
renames over the destination, so a crash at any moment leaves the old file whole.
A process killed mid-write (``kill -9``, power loss) cannot delete its temporary
file, so every temporary name records who wrote it::

    .nerve-tmp-<pid>-<host tag>-<random>-<destination name>

and every later save into the same folder removes the temporaries whose writer
is gone: written on this host (the tag is a hash of the host name, so a folder
shared over the network is safe) by a process id that no longer exists. A
temporary of a live process is never touched; one whose process id was reused
by a new process stays until that process ends. Only names of this exact form
are removed.

>>> import os, tempfile
>>> from nerve.utils.atomic_files import atomic_write, stale_temporaries
>>> folder = tempfile.mkdtemp()
>>> with atomic_write(os.path.join(folder, "a.txt")) as f:
...     _ = f.write(b"whole")
>>> os.listdir(folder), stale_temporaries(folder)
(['a.txt'], [])
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import uuid
from collections.abc import Iterator
from typing import IO

__all__ = [
    "atomic_write",
    "remove_stale_temporaries",
    "stale_temporaries",
    "temporary_file_for",
    "temporary_path",
]

_PREFIX = ".nerve-tmp-"
_NAME = re.compile(r"\.nerve-tmp-(\d+)-([0-9a-f]{8})-[0-9a-f]{12}-.+\Z", re.DOTALL)


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temporary_path(path: str | os.PathLike) -> str:
    """A fresh temporary name next to ``path`` that ends with ``path``'s own name
    (so format checks on the suffix pass) and records this process and host."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    token = uuid.uuid4().hex[:12]
    return os.path.join(folder, f"{_PREFIX}{os.getpid()}-{_host_tag()}-{token}-{name}")


def _process_alive(pid: int) -> bool:
    if os.name == "nt":  # no cheap, safe probe: treat every writer as alive
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else, or the probe is not allowed
        return True
    return True


def stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Paths of the temporary files in ``folder`` whose writer (on this host) is gone."""
    folder = os.fspath(folder) or "."
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    host, stale = _host_tag(), []
    for name in names:
        match = _NAME.match(name) if name.startswith(_PREFIX) else None
        if match and match.group(2) == host and not _process_alive(int(match.group(1))):
            stale.append(os.path.join(folder, name))
    return sorted(stale)


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete ``stale_temporaries(folder)``; returns how many were removed."""
    removed = 0
    for path in stale_temporaries(folder):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            os.remove(path)
            removed += 1
    return removed


def _fsync_folder(folder: str) -> None:
    # Persist a rename (POSIX; folders cannot be opened on Windows).
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: int | None = None) -> Iterator[IO[bytes]]:
    """A binary file (readable and seekable too) that replaces ``path`` only once it is
    completely written and synced; stale temporaries in the folder are removed first.
    The file keeps ``path``'s permission bits if it exists, else ``mode`` (0o644)."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    remove_stale_temporaries(folder)
    if mode is None:
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    temporary = temporary_path(path)
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w+b") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


@contextlib.contextmanager
def temporary_file_for(path: str | os.PathLike) -> Iterator[str]:
    """A temporary path next to ``path`` for a writer that takes a path; renamed over
    ``path`` when the block ends without an error, removed otherwise."""
    path = os.path.abspath(os.fspath(path))
    remove_stale_temporaries(os.path.dirname(path))
    temporary = temporary_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
