"""A real HTTP server on loopback that receives webhooks and answers from a script."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str
    status: int  # what the receiver answered (after any delay)
    delay: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """`script` is consumed one entry per request: a status, or (delay seconds, status)."""

    port: int = 0
    script: list[int | tuple[float, int]] = field(default_factory=list)
    default: int = 200
    extra_headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length).decode()
                with receiver._lock:
                    step = receiver.script.pop(0) if receiver.script else receiver.default
                delay, status = step if isinstance(step, tuple) else (0.0, step)
                time.sleep(delay)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status, delay)
                    )
                try:
                    self.send_response(status)
                    for name, value in receiver.extra_headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (a timeout test)

            def log_message(self, *_: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def acknowledged(self) -> list[Received]:
        """Requests answered 2xx in time (what the receiver would act on)."""
        return [r for r in self.received if 200 <= r.status < 300 and r.delay == 0]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
