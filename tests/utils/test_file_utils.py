"""nerve.utils.get_file against a local HTTP server: caching, hashes, atomic
downloads, clear errors, and extraction that refuses unsafe archive members."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from nerve.utils import get_file
from nerve.utils.file_utils import extract_archive, nerve_home, validate_file
from tests.utils._http_server import serve

PAYLOAD = b"nerve test payload " * 1000
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture
def server():
    with serve() as state:
        state.files["data.bin"] = PAYLOAD
        yield state


def _all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_first_download_then_cache_hit(server, tmp_path):
    path = get_file("data.bin", origin=server.url("data.bin"), file_hash=SHA256, cache_dir=tmp_path)
    assert path == str(tmp_path / "datasets" / "data.bin")
    assert Path(path).read_bytes() == PAYLOAD
    assert server.requests == ["data.bin"]
    again = get_file(
        "data.bin", origin=server.url("data.bin"), file_hash=SHA256, cache_dir=tmp_path
    )
    assert again == path
    assert server.requests == ["data.bin"]  # not contacted again
    assert _all_files(tmp_path) == ["datasets", "datasets/data.bin"]  # no temporary left


def test_fname_defaults_to_the_url_name_and_md5_is_accepted(server, tmp_path):
    path = get_file(origin=server.url("data.bin"), md5_hash=MD5, cache_dir=tmp_path)
    assert Path(path).name == "data.bin"
    assert validate_file(path, MD5) and validate_file(path, SHA256)
    assert not validate_file(path, "0" * 32)


def test_corrupted_cache_is_fetched_again(server, tmp_path, capsys):
    target = tmp_path / "datasets" / "data.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"stale")
    path = get_file("data.bin", origin=server.url("data.bin"), file_hash=SHA256, cache_dir=tmp_path)
    assert Path(path).read_bytes() == PAYLOAD
    assert server.requests == ["data.bin"]
    assert "does not match" in capsys.readouterr().out


def test_cached_file_without_hash_is_trusted(server, tmp_path):
    target = tmp_path / "datasets" / "data.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"local copy")
    path = get_file("data.bin", origin=server.url("data.bin"), cache_dir=tmp_path)
    assert Path(path).read_bytes() == b"local copy"
    assert server.requests == []


def test_force_download(server, tmp_path):
    get_file("data.bin", origin=server.url("data.bin"), cache_dir=tmp_path)
    server.files["data.bin"] = b"new version"
    path = get_file(
        "data.bin", origin=server.url("data.bin"), cache_dir=tmp_path, force_download=True
    )
    assert Path(path).read_bytes() == b"new version"
    assert server.requests == ["data.bin", "data.bin"]


def test_checksum_mismatch_raises_and_leaves_no_file(server, tmp_path):
    with pytest.raises(ValueError, match="hash") as info:
        get_file("data.bin", origin=server.url("data.bin"), file_hash="0" * 64, cache_dir=tmp_path)
    assert SHA256 in str(info.value)  # names the hash it got
    assert _all_files(tmp_path) == ["datasets"]


def test_mismatch_keeps_a_previous_good_file_out_of_reach(server, tmp_path):
    # A corrupted cache plus a bad download: the stale file is not returned later.
    target = tmp_path / "datasets" / "data.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"stale")
    with pytest.raises(ValueError):
        get_file("data.bin", origin=server.url("data.bin"), file_hash="1" * 64, cache_dir=tmp_path)
    assert target.read_bytes() == b"stale"
    assert _all_files(tmp_path) == ["datasets", "datasets/data.bin"]


def test_partial_download_leaves_no_file(server, tmp_path):
    server.truncate.add("data.bin")
    with pytest.raises(OSError, match="ended early"):
        get_file("data.bin", origin=server.url("data.bin"), cache_dir=tmp_path)
    assert _all_files(tmp_path) == ["datasets"]


def test_404_names_the_url_and_where_to_place_the_file(server, tmp_path):
    with pytest.raises(OSError) as info:
        get_file("missing.bin", origin=server.url("missing.bin"), cache_dir=tmp_path)
    message = str(info.value)
    assert "404" in message
    assert server.url("missing.bin") in message
    assert str(tmp_path / "datasets" / "missing.bin") in message
    assert _all_files(tmp_path) == ["datasets"]


def test_unreachable_server_names_the_path(tmp_path):
    with serve() as state:
        origin = state.url("data.bin")
    # The server is shut down: nothing listens on that port any more.
    with pytest.raises(OSError) as info:
        get_file("data.bin", origin=origin, cache_dir=tmp_path)
    assert origin in str(info.value)
    assert str(tmp_path / "datasets" / "data.bin") in str(info.value)


def test_nerve_home_override(server, tmp_path, monkeypatch):
    monkeypatch.setenv("NERVE_HOME", str(tmp_path / "home"))
    assert nerve_home() == str(tmp_path / "home")
    path = get_file("data.bin", origin=server.url("data.bin"), cache_subdir="sub")
    assert path == str(tmp_path / "home" / "sub" / "data.bin")
    monkeypatch.delenv("NERVE_HOME")
    assert nerve_home() == os.path.expanduser("~/.nerve")


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="origin"):
        get_file("x", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="plain file name"):
        get_file("a/b", origin="http://127.0.0.1:1/b", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="hash_algorithm"):
        get_file("b", origin="http://127.0.0.1:1/b", file_hash="0", hash_algorithm="sha1")


# --- extraction ---------------------------------------------------------------------


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, data in members:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def _file_member(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link_member(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_good_tar_gz_is_extracted(server, tmp_path):
    folder = tarfile.TarInfo("pack")
    folder.type = tarfile.DIRTYPE
    server.files["pack.tar.gz"] = _tar_bytes(
        [(folder, b""), (_file_member("pack/a.txt"), b"A"), (_file_member("pack/sub/b.txt"), b"B")]
    )
    out = get_file("pack", origin=server.url("pack.tar.gz"), extract=True, cache_dir=tmp_path)
    assert out == str(tmp_path / "datasets" / "pack")
    assert (Path(out) / "pack" / "a.txt").read_bytes() == b"A"
    assert (Path(out) / "pack" / "sub" / "b.txt").read_bytes() == b"B"
    assert (tmp_path / "datasets" / "pack_archive").is_file()
    # Cached: extracted folder and archive reused, server not contacted again.
    assert (
        get_file("pack", origin=server.url("pack.tar.gz"), extract=True, cache_dir=tmp_path) == out
    )
    assert server.requests == ["pack.tar.gz"]


def test_good_zip_is_extracted_with_dotted_fname(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "A")
        archive.writestr("sub/b.txt", "B")
    server.files["pack.zip"] = buffer.getvalue()
    out = get_file("pack.zip", origin=server.url("pack.zip"), extract=True, cache_dir=tmp_path)
    assert out == str(tmp_path / "datasets" / "pack_extracted")
    assert (Path(out) / "a.txt").read_text() == "A"
    assert (Path(out) / "sub" / "b.txt").read_text() == "B"


UNSAFE_TAR_MEMBERS = {
    "parent": [(_file_member("ok.txt"), b"ok"), (_file_member("../x"), b"evil")],
    "nested-parent": [(_file_member("ok.txt"), b"ok"), (_file_member("a/../../x"), b"evil")],
    "absolute": [(_file_member("ok.txt"), b"ok"), (_file_member("/abs"), b"evil")],
    "symlink": [
        (_file_member("ok.txt"), b"ok"),
        (_link_member("link", "/etc", tarfile.SYMTYPE), b""),
    ],
    "hardlink": [
        (_file_member("ok.txt"), b"ok"),
        (_link_member("hard", "/etc/passwd", tarfile.LNKTYPE), b""),
    ],
}


@pytest.mark.parametrize("case", sorted(UNSAFE_TAR_MEMBERS))
def test_unsafe_tar_members_are_refused_before_writing(server, tmp_path, case):
    server.files["bad.tar.gz"] = _tar_bytes(UNSAFE_TAR_MEMBERS[case])
    with pytest.raises(ValueError, match="refusing") as info:
        get_file("bad", origin=server.url("bad.tar.gz"), extract=True, cache_dir=tmp_path / "c")
    assert "nothing was extracted" in str(info.value)
    # Only the downloaded archive exists: no ok.txt, no extraction folder, no escapee.
    assert _all_files(tmp_path) == ["c", "c/datasets", "c/datasets/bad_archive"]


def _zip_with(name: str, data: bytes, mode: int | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.txt", "ok")
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        archive.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, mode",
    [("../x", None), ("/abs", None), ("link", 0o120777)],
    ids=["parent", "absolute", "symlink"],
)
def test_unsafe_zip_members_are_refused_before_writing(tmp_path, name, mode):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(_zip_with(name, b"/etc/passwd" if mode else b"evil", mode))
    with pytest.raises(ValueError, match="refusing"):
        extract_archive(str(archive), str(tmp_path / "out"))
    assert _all_files(tmp_path) == ["bad.zip"]


def test_extract_archive_unknown_format_is_false(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("not an archive")
    assert extract_archive(str(plain), str(tmp_path / "out")) is False
    assert extract_archive(str(plain), str(tmp_path / "out"), archive_format=None) is False
    assert not (tmp_path / "out").exists()


def test_signature_matches_keras():
    # Read Keras's source rather than importing it (importing keras is slow).
    spec = importlib.util.find_spec("keras")
    if spec is None or spec.origin is None:
        pytest.skip("keras is not installed")
    source = (Path(spec.origin).parent / "src" / "utils" / "file_utils.py").read_text()
    tree = ast.parse(source)
    keras_def = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "get_file"
    )
    names = [arg.arg for arg in keras_def.args.args]
    defaults = [ast.literal_eval(value) for value in keras_def.args.defaults]
    ours = inspect.signature(get_file).parameters
    assert list(ours) == names
    assert [parameter.default for parameter in ours.values()] == defaults


def test_download_shows_a_progress_bar(server, tmp_path, capsys):
    get_file("data.bin", origin=server.url("data.bin"), cache_dir=tmp_path)
    out = capsys.readouterr().out
    assert f"Downloading data from {server.url('data.bin')}" in out
    assert f"{len(PAYLOAD)}/{len(PAYLOAD)}" in out


def test_untar_and_reextraction_of_a_cached_archive(server, tmp_path):
    server.files["pack.tar.gz"] = _tar_bytes([(_file_member("a.txt"), b"A")])
    out = Path(get_file("pack", origin=server.url("pack.tar.gz"), untar=True, cache_dir=tmp_path))
    assert (out / "a.txt").read_bytes() == b"A"
    (out / "a.txt").unlink()
    out.rmdir()
    # The archive is cached and good: extracted again without a download.
    again = get_file("pack", origin=server.url("pack.tar.gz"), untar=True, cache_dir=tmp_path)
    assert (Path(again) / "a.txt").read_bytes() == b"A"
    assert server.requests == ["pack.tar.gz"]


def test_extract_without_fname_names_the_folder_after_the_url(server, tmp_path):
    server.files["pack.tar.gz"] = _tar_bytes([(_file_member("a.txt"), b"A")])
    for fname in (None, ""):
        out = get_file(fname, origin=server.url("pack.tar.gz"), extract=True, cache_dir=tmp_path)
        assert out == str(tmp_path / "datasets" / "pack.tar.gz")
        assert (Path(out) / "a.txt").read_bytes() == b"A"
        assert (tmp_path / "datasets" / "pack.tar.gz_archive").is_file()
