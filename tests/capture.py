"""A real HTTP server that records what renkei sends onward and answers from a script.

`Capture` listens on 127.0.0.1 (a free port) in a thread. Each request is kept as a
`Captured` (method, path, query, headers, raw body, the status answered). Answers come
from `script`, a list of (status, headers, body) taken in order per path (or for every
path under the key None), then `default`. `delays[path]` holds each answer to `path`
that many seconds; `max_in_flight[path]` says how many requests to `path` were ever
being answered at once.
"""

from __future__ import annotations

import email
import threading
import time
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], bytes]
OK: Answer = (200, {}, b"ok")


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass
class Captured:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int = 0
    started: float = 0.0
    ended: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def form(self) -> dict[str, Part]:
        """The multipart/form-data body, part name → Part, parsed by the email parser."""
        return {p.name: p for p in multipart_parts(self.headers["content-type"], self.body)}


def multipart_parts(content_type: str, body: bytes) -> list[Part]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.message_from_bytes(head + body, policy=policy.HTTP)
    assert msg.is_multipart(), content_type
    found = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        found.append(Part(name, part.get_filename(), part.get_content_type(), data))
    return found


class Capture:
    def __init__(self, script: list[Answer] | None = None, default: Answer = OK) -> None:
        self.requests: list[Captured] = []
        self.scripts: dict[str | None, list[Answer]] = {None: list(script or [])}
        self.default = default
        self.delays: dict[str, float] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                owner._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def retrying_send(self, name: str, *more: str) -> str:
        """A `[sends.NAME]` section sending to this server's `/NAME`, retried quickly
        and all but forever (a send to keep busy while a test stops or reloads)."""
        lines = [
            f"[sends.{name}]",
            'layout = "performance"',
            f'url = "{self.url(f"/{name}")}"',
            'report = "never"',
            *more,
            "max_attempts = 1000",
            "retry_seconds = 0.2",
            "max_retry_seconds = 0.3",
        ]
        return "\n" + "\n".join(lines) + "\n"

    def answer(self, path: str | None, *answers: Answer) -> None:
        """Answer requests to `path` (None: any path) with `answers`, in order."""
        with self._lock:
            self.scripts[path] = list(answers)

    def _next(self, path: str) -> Answer:
        with self._lock:
            for key in (path, None):
                if self.scripts.get(key):
                    return self.scripts[key].pop(0)
            return self.default

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        split = urlsplit(handler.path)
        seen = Captured(
            handler.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            {k.lower(): v for k, v in handler.headers.items()},
            body,
            started=time.monotonic(),
        )
        path = split.path
        with self._lock:
            self.in_flight[path] = self.in_flight.get(path, 0) + 1
            self.max_in_flight[path] = max(self.max_in_flight.get(path, 0), self.in_flight[path])
        try:
            if self.delays.get(path):
                time.sleep(self.delays[path])
            status, headers, content = self._next(split.path)
            seen.status = status
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(content)))
            handler.end_headers()
            handler.wfile.write(content)
        finally:
            seen.ended = time.monotonic()
            with self._lock:
                self.in_flight[path] -= 1
                self.requests.append(seen)

    def to(self, path: str) -> list[Captured]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait(self, path: str, count: int = 1, timeout: float = 30) -> list[Captured]:
        """The requests to `path`, once at least `count` have been answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(path)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{len(self.to(path))} requests to {path}, wanted {count}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
