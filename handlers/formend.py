"""Whether a multipart body reached its close delimiter (`--BOUNDARY--`, RFC 2046).

python-multipart ends a body cut short without a word and leaves out the part it was
reading, so an upload cut off mid-file would read as a form with no file. The API's
import door and the console's forms watch the body pass with `BodyEnd` and refuse a
form whose body never closed.
"""

from __future__ import annotations

from python_multipart.multipart import parse_options_header
from starlette.types import Message, Receive


class BodyEnd:
    """Watches a request's body for its close delimiter; `reached` once it passed.
    A body that is no multipart form has none to wait for: its parser says what is
    wrong with it."""

    def __init__(self, content_type: str | None) -> None:
        kind, params = parse_options_header(content_type)
        boundary = params.get(b"boundary") if kind == b"multipart/form-data" else None
        self._close = b"--" + boundary + b"--" if boundary else b""
        self._tail = b""  # the delimiter may straddle two chunks
        self.reached = not self._close

    def watching(self, receive: Receive) -> Receive:
        """`receive`, feeding each piece of the body to this watch as it passes."""

        async def watched() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self._feed(message.get("body", b""))
            return message

        return watched

    def _feed(self, chunk: bytes) -> None:
        if self.reached or not chunk:
            return
        seen = self._tail + chunk
        self.reached = self._close in seen
        self._tail = seen[1 - len(self._close) :]
