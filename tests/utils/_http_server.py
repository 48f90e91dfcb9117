"""A tiny HTTP server on 127.0.0.1 for download tests: serves bytes from a dict,
records each requested path, and can be told to cut a response short."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class FileServer:
    """What a test sees: ``files`` (path -> bytes to serve), ``truncate`` (paths whose
    body is cut in half after a full Content-Length), ``requests`` (paths asked for)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        self.base = ""

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def _handler(state: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 5

        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            state.requests.append(path)
            body = state.files.get(path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if path in state.truncate:
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            else:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler


@contextmanager
def serve() -> Iterator[FileServer]:
    """Run a server on a free port in a daemon thread; shut it down on exit."""
    state = FileServer()
    server = http.server.HTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
