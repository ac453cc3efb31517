"""A local stand-in for the Hugging Face hub's file endpoint, on 127.0.0.1, for download tests."""
from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@contextmanager
def fake_hub(files: dict[str, bytes]) -> Iterator[str]:
    """Serves {"<repo>/<path in repo>": bytes} at /<repo>/resolve/<revision>/<path>; yields the endpoint URL."""

    class Handler(BaseHTTPRequestHandler):
        def _lookup(self) -> bytes | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return None
            return files.get("/".join(parts[:2] + parts[4:]))

        def _headers(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest() + '"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()

        def _respond(self, send_body: bool) -> None:
            body = self._lookup()
            if body is None:
                self.send_error(404)
                return
            self._headers(body)
            if send_body:
                self.wfile.write(body)

        def do_HEAD(self):
            self._respond(send_body=False)

        def do_GET(self):
            self._respond(send_body=True)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
