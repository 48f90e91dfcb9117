"""``get_file``: download a file once, check its hash, cache it (``keras.utils.get_file``).

Files live under ``~/.nerve`` (or ``$NERVE_HOME``, or ``cache_dir``), in ``cache_subdir``.
What this adds to Keras's behaviour, and why:

- A download is atomic: bytes stream into a hidden temporary file in the target
  folder, the hash is checked, and only then does ``os.replace`` give the file its
  name. An interrupted, truncated or corrupted download never leaves a file that a
  later call would take for a good one.
- A failed download names the URL and the exact path where the file can be placed by
  hand (for machines without network access).
- Extraction checks every member of the archive before writing anything, and refuses
  one that would land outside the extraction folder (``..``, an absolute path) or that
  is a link or a special file. Members are copied as plain bytes, so nothing in an
  archive can set permissions, owners or link targets.

>>> import hashlib, os, pathlib, tempfile
>>> from nerve.utils import get_file
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> source = folder / "hello.txt"
>>> _ = source.write_bytes(b"hello")
>>> digest = hashlib.sha256(b"hello").hexdigest()
>>> path = get_file("hello.txt", origin=source.as_uri(), file_hash=digest,
...                 cache_dir=str(folder / "cache"))  # doctest: +ELLIPSIS
Downloading data from file://...
>>> os.path.relpath(path, folder)
'cache/datasets/hello.txt'
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from typing import IO

from nerve.utils.progbar import Progbar

__all__ = ["get_file", "hash_file", "nerve_home", "validate_file"]

_CHUNK_SIZE = 1 << 16
#: Seconds to wait for a server before giving up (each connect or read).
_TIMEOUT = 60.0


def nerve_home() -> str:
    """The cache root: ``$NERVE_HOME`` when set, else ``~/.nerve``.

    >>> import os
    >>> os.environ["NERVE_HOME"] = "/tmp/my-nerve"
    >>> nerve_home()
    '/tmp/my-nerve'
    >>> del os.environ["NERVE_HOME"]
    >>> nerve_home() == os.path.expanduser(os.path.join("~", ".nerve"))
    True
    """
    return os.environ.get("NERVE_HOME") or os.path.expanduser(os.path.join("~", ".nerve"))


def _resolve_algorithm(algorithm: str, file_hash: str | None) -> str:
    """``"sha256"`` or ``"md5"``; ``"auto"`` picks by the hash's length (64 hex digits
    is SHA-256, anything else MD5, as Keras does)."""
    if algorithm == "auto":
        return "sha256" if file_hash is not None and len(file_hash) == 64 else "md5"
    if algorithm not in ("sha256", "md5"):
        raise ValueError(
            f'get_file: hash_algorithm must be "auto", "sha256" or "md5", got {algorithm!r}.'
        )
    return algorithm


def hash_file(fpath: str, algorithm: str = "sha256", chunk_size: int = _CHUNK_SIZE) -> str:
    """The hex digest of the file at ``fpath`` (``"sha256"``, ``"md5"`` or ``"auto"``,
    which means SHA-256 here).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"")
    >>> hash_file(f.name)
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    name = "sha256" if algorithm == "auto" else _resolve_algorithm(algorithm, None)
    hasher = hashlib.new(name)
    with open(fpath, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath: str, file_hash: str, algorithm: str = "auto") -> bool:
    """Whether the file at ``fpath`` has hash ``file_hash`` (compared case-insensitively).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"")
    >>> validate_file(f.name, "d41d8cd98f00b204e9800998ecf8427e")  # MD5 of nothing
    True
    >>> validate_file(f.name, "0" * 64)
    False
    """
    name = _resolve_algorithm(algorithm, file_hash)
    return hash_file(fpath, name) == file_hash.lower()


def get_file(
    fname: str | os.PathLike[str] | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: str | Sequence[str] | None = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    force_download: bool = False,
) -> str:
    """Download ``origin`` into the cache unless a good copy is already there.

    Args:
        fname: the file's name in the cache (no folders); default: the last part of
            ``origin``'s path. With ``extract=True``, a name without a ``.`` is the
            extraction folder's name (the archive is kept as ``<fname>_archive``);
            ``name.tar.gz`` is kept as is and extracted into ``name_extracted``.
        origin: the URL to download from.
        untar: deprecated; the same as ``extract=True, archive_format="tar"``.
        md5_hash: deprecated; the same as ``file_hash=md5_hash, hash_algorithm="md5"``.
        file_hash: the expected SHA-256 or MD5 hex digest. A cached file that does not
            match is downloaded again; a download that does not match is deleted and
            raises. Without it, any cached file is trusted.
        cache_subdir: the folder under the cache root (an absolute path is used as is).
        hash_algorithm: ``"sha256"``, ``"md5"`` or ``"auto"`` (by ``file_hash``'s length).
        extract: whether to extract the downloaded tar or zip archive.
        archive_format: ``"auto"`` (tar, then zip), ``"tar"``, ``"zip"``, a list of
            those, or ``None`` (no format: nothing is extracted).
        cache_dir: the cache root; default ``$NERVE_HOME`` or ``~/.nerve``.
        force_download: download again even when a good copy is cached.

    Returns:
        The path of the downloaded file, or of the extraction folder when extracting.

    Raises:
        ValueError: no ``origin``, an ``fname`` with folders, a downloaded file whose
            hash does not match, or an archive member that is unsafe to extract.
        OSError: the download failed (the message names the URL and where to place
            the file by hand).

    Example:
        >>> import pathlib, tempfile, zipfile
        >>> from nerve.utils import get_file
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with zipfile.ZipFile(folder / "data.zip", "w") as archive:
        ...     archive.writestr("data/a.txt", "a")
        >>> out = get_file("data", origin=(folder / "data.zip").as_uri(), extract=True,
        ...                cache_dir=str(folder / "cache"))  # doctest: +ELLIPSIS
        Downloading data from file://...
        >>> (pathlib.Path(out) / "data" / "a.txt").read_text()
        'a'
    """
    if origin is None:
        raise ValueError('get_file: pass "origin", the URL of the file to download.')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if file_hash is not None:
        _resolve_algorithm(hash_algorithm, file_hash)  # fail early on a bad name

    root = os.path.expanduser(os.fspath(cache_dir)) if cache_dir is not None else nerve_home()
    folder = os.path.join(root, cache_subdir)

    name = os.fspath(fname) if fname is not None else ""
    if not name:
        name = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not name:
            raise ValueError(
                f"get_file: cannot take a file name from origin {origin!r}; pass `fname`."
            )
    elif os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
        raise ValueError(
            f"get_file: `fname` must be a plain file name, got {name!r}. "
            "To choose the folder, pass `cache_dir` or `cache_subdir`."
        )

    extracting = extract or untar
    if untar:
        archive_format = "tar"
    if extracting and fname and "." in name:  # a name from the URL never counts
        target = os.path.join(folder, name)
        extraction_dir = os.path.join(folder, name[: name.find(".")] + "_extracted")
    elif extracting:
        target = os.path.join(folder, name + "_archive")
        extraction_dir = os.path.join(folder, name)
    else:
        target = os.path.join(folder, name)
        extraction_dir = ""

    os.makedirs(folder, exist_ok=True)
    downloaded = False
    if force_download or not _is_cached(target, file_hash, hash_algorithm):
        _download(origin, target, file_hash, hash_algorithm)
        downloaded = True

    if not extracting:
        return target
    if downloaded or not os.path.isdir(extraction_dir):
        extract_archive(target, extraction_dir, archive_format)
    return extraction_dir


def _is_cached(target: str, file_hash: str | None, algorithm: str) -> bool:
    if not os.path.isfile(target):
        return False
    if file_hash is None or validate_file(target, file_hash, algorithm):
        return True
    print(
        f"A cached file at {target} does not match the expected "
        f"{_resolve_algorithm(algorithm, file_hash)} hash {file_hash}; downloading it again."
    )
    return False


def _download(origin: str, target: str, file_hash: str | None, algorithm: str) -> None:
    """Stream ``origin`` into a temporary file beside ``target``, check it, rename it."""
    print(f"Downloading data from {origin}")
    folder, name = os.path.split(target)
    handle, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            _fetch(origin, stream, target)
        if file_hash is not None and not validate_file(partial, file_hash, algorithm):
            actual = hash_file(partial, _resolve_algorithm(algorithm, file_hash))
            raise ValueError(
                f"get_file: the file downloaded from {origin} is corrupted or not the "
                f"expected one: its {_resolve_algorithm(algorithm, file_hash)} hash is "
                f"{actual}, expected {file_hash}. Nothing was saved; try again, or place "
                f"a good copy at {target}."
            )
        os.replace(partial, target)
    except BaseException:
        # KeyboardInterrupt included: never leave a partial file behind.
        if os.path.exists(partial):
            os.remove(partial)
        raise


def _fetch(origin: str, stream: IO[bytes], target: str) -> None:
    """Copy the body at ``origin`` into ``stream``, showing a progress bar; raise an
    ``OSError`` naming the URL and ``target`` when the server cannot deliver it whole."""
    advice = f"If you have no network access, download it yourself and place it at {target}"
    try:
        with urllib.request.urlopen(origin, timeout=_TIMEOUT) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None and length.isdigit() else None
            bar = Progbar(target=total, unit_name="byte")
            received = 0
            for chunk in iter(lambda: response.read(_CHUNK_SIZE), b""):
                stream.write(chunk)
                received += len(chunk)
                bar.update(received if total is None else min(received, total))
            if total is not None and received != total:
                raise http.client.IncompleteRead(b"", total - received)
            if total is None:
                bar.update(received, finalize=True)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the open response; the chained error would keep it alive
        raise OSError(
            f"get_file: downloading {origin} failed: the server answered "
            f"{error.code} {error.reason}. {advice}."
        ) from error
    except urllib.error.URLError as error:
        raise OSError(f"get_file: cannot reach {origin}: {error.reason}. {advice}.") from error
    except http.client.IncompleteRead as error:
        raise OSError(
            f"get_file: the download of {origin} ended early ({error!r}); nothing was "
            f"saved. Try again, or: {advice}."
        ) from error
    except (http.client.HTTPException, TimeoutError, ConnectionError) as error:
        raise OSError(f"get_file: downloading {origin} failed: {error!r}. {advice}.") from error


# --- extraction ---------------------------------------------------------------------


def _safe_member_path(member: str, archive: str) -> str:
    """The member's path relative to the extraction folder, or a ValueError when it
    could escape it."""
    parts = member.replace("\\", "/").split("/")
    if member.startswith(("/", "\\")) or os.path.isabs(member) or (parts and ":" in parts[0]):
        raise ValueError(
            f"extract_archive: refusing {archive}: member {member!r} has an absolute path; "
            "nothing was extracted."
        )
    if ".." in parts:
        raise ValueError(
            f"extract_archive: refusing {archive}: member {member!r} would be written "
            "outside the extraction folder; nothing was extracted."
        )
    return os.path.join(*[part for part in parts if part not in ("", ".")] or ["."])


def _refuse_link(member: str, archive: str, kind: str) -> ValueError:
    return ValueError(
        f"extract_archive: refusing {archive}: member {member!r} is a {kind}, which "
        "could point outside the extraction folder; nothing was extracted."
    )


def _tar_plan(archive: tarfile.TarFile, path: str) -> list[tuple[str, tarfile.TarInfo]]:
    plan = []
    for info in archive.getmembers():
        relative = _safe_member_path(info.name, path)
        if info.issym() or info.islnk():
            raise _refuse_link(info.name, path, "link")
        if not (info.isfile() or info.isdir()):
            raise _refuse_link(info.name, path, "special file (device or pipe)")
        plan.append((relative, info))
    return plan


def _zip_plan(archive: zipfile.ZipFile, path: str) -> list[tuple[str, zipfile.ZipInfo]]:
    plan = []
    for info in archive.infolist():
        relative = _safe_member_path(info.filename, path)
        # Unix zip tools keep the file mode in the high 16 bits of external_attr.
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse_link(info.filename, path, "symbolic link")
        plan.append((relative, info))
    return plan


def _write_tar(
    archive: tarfile.TarFile, plan: list[tuple[str, tarfile.TarInfo]], destination: str
) -> None:
    for relative, info in plan:
        out = os.path.join(destination, relative)
        if info.isdir():
            os.makedirs(out, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        source = archive.extractfile(info)
        assert source is not None  # a regular file always has a body
        with source, open(out, "wb") as sink:
            shutil.copyfileobj(source, sink)


def _write_zip(
    archive: zipfile.ZipFile, plan: list[tuple[str, zipfile.ZipInfo]], destination: str
) -> None:
    for relative, info in plan:
        out = os.path.join(destination, relative)
        if info.is_dir():
            os.makedirs(out, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with archive.open(info) as source, open(out, "wb") as sink:
            shutil.copyfileobj(source, sink)


def extract_archive(
    file_path: str, path: str = ".", archive_format: str | Sequence[str] | None = "auto"
) -> bool:
    """Extract a tar (plain, gz, bz2, xz) or zip archive into the folder ``path``.

    Every member is checked before anything is written: an absolute path, a ``..``
    part, a link or a special file raises ``ValueError`` and leaves ``path`` untouched.
    Extraction happens in a temporary folder beside ``path`` that then replaces it.

    Args:
        file_path: the archive.
        path: the folder to extract into (replaced if it exists).
        archive_format: ``"auto"`` (tar, then zip), ``"tar"``, ``"zip"``, a list of
            those, or ``None``.

    Returns:
        ``True`` when the archive matched a format and was extracted, else ``False``.

    Example:
        >>> import os, pathlib, tarfile, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.txt").write_text("a")
        >>> with tarfile.open(folder / "a.tar.gz", "w:gz") as archive:
        ...     archive.add(folder / "a.txt", arcname="a.txt")
        >>> extract_archive(str(folder / "a.tar.gz"), str(folder / "out"))
        True
        >>> os.listdir(folder / "out")
        ['a.txt']
    """
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else archive_format
    if isinstance(formats, str):
        formats = [formats]
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(file_path):
            with tarfile.open(file_path) as tar_archive:
                tar_plan = _tar_plan(tar_archive, file_path)
                _replace_folder(path, functools.partial(_write_tar, tar_archive, tar_plan))
            return True
        if kind == "zip" and zipfile.is_zipfile(file_path):
            with zipfile.ZipFile(file_path) as zip_archive:
                zip_plan = _zip_plan(zip_archive, file_path)
                _replace_folder(path, functools.partial(_write_zip, zip_archive, zip_plan))
            return True
        if kind not in ("tar", "zip"):
            raise ValueError(
                f'extract_archive: archive_format must be "auto", "tar", "zip" or None, '
                f"got {kind!r}."
            )
    return False


def _replace_folder(path: str, write: Callable[[str], None]) -> None:
    """Run ``write(folder)`` on a fresh temporary folder beside ``path``, then make it
    ``path`` (removing what was there); on failure remove the temporary folder."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=parent)
    try:
        write(staging)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
