"""Real parts for the adapter tests: the test database (SQLite or PostgreSQL, migrated with Alembic, so
the sandbox tables are the ones the migrations create), and a local HTTP server."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import create_engine



@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@dataclass
class Remote:
    """A local HTTP server whose answer the test sets: status, JSON body, delay."""

    url: str = ""
    status: int = 200
    body: object = field(default_factory=dict)
    delay: float = 0.0
    headers: dict = field(default_factory=dict)
    received: list = field(default_factory=list)

    def answer(self, status: int, body: object = None, delay: float = 0.0, headers: dict | None = None):
        self.status, self.body, self.delay = status, body if body is not None else {}, delay
        self.headers = headers or {}


def _handler(remote: Remote):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            remote.received.append({"path": self.path, "headers": dict(self.headers),
                                    "json": json.loads(raw) if raw else None})
            if remote.delay:
                time.sleep(remote.delay)
            payload = json.dumps(remote.body).encode()
            try:
                self.send_response(remote.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in remote.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def remote():
    remote = Remote()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(remote))
    remote.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield remote
    server.shutdown()
    server.server_close()
