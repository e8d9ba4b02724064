"""Whether a multipart body reached its close delimiter (`--BOUNDARY--`, RFC 2046).

python-multipart ends a body cut short without a word and leaves out the part it was
reading, so an upload cut off mid-file would read as a form with no file. The API's
import door and the console's forms refuse a form whose body never closed: those that
parse their form themselves read it with `whole_form`, whose parser says whether it
read the close delimiter; a route whose form FastAPI parses (web/watchedform.py)
watches the body pass with `BodyEnd`.
"""

from __future__ import annotations

from contextlib import aclosing

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartParser
from starlette.requests import Request
from starlette.types import Message, Receive


class _Closing(MultiPartParser):
    """Starlette's multipart parser, noting the close delimiter: python-multipart calls
    `on_end` when it reads it, and only then (not when the body merely stops)."""

    reached = False

    def on_end(self) -> None:
        self.reached = True


async def whole_form(request: Request) -> tuple[FormData, bool]:
    """The request's form as `request.form()` reads it, and whether its body reached its
    close delimiter (a body that is no multipart form has none to reach). The parser
    tells, where BodyEnd searches every chunk of the body once more."""
    kind, _ = parse_options_header(request.headers.get("content-type"))
    if kind != b"multipart/form-data":
        return await request.form(), True
    async with aclosing(request.stream()) as stream:
        parser = _Closing(request.headers, stream)
        form = await parser.parse()
    return form, parser.reached


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
        # Not joined to the tail whole: that copied every chunk of every upload.
        keep = len(self._close) - 1
        self.reached = self._close in self._tail + chunk[:keep] or self._close in chunk
        self._tail = chunk[-keep:] if len(chunk) >= keep else (self._tail + chunk)[-keep:]
