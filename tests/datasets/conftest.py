"""``file_server``: the local HTTP server with ``NERVE_HOME`` in a fresh temporary
folder, so downloads land in ``tmp_path / "datasets"``."""

import pytest

from tests.utils._http_server import serve


@pytest.fixture
def file_server(monkeypatch, tmp_path):
    monkeypatch.setenv("NERVE_HOME", str(tmp_path))
    with serve() as state:
        yield state
