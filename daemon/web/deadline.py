"""Time limits uvicorn does not have: a client must send a request's headers within
`api.client_timeout` seconds (of connecting, or of the previous response), and may not
stay silent longer than that inside a request's body; nginx's `client_header_timeout`
and `client_body_timeout`. Without them a connection that trickles its headers a byte
at a time, or never sends its body, stays open for good, and thousands of them use up
the daemon's file descriptors (slowloris).

A client past the limit is answered `408 Request Timeout` when no response has begun,
and its connection closed; one cut off inside a request's body is answered the API's
JSON error (`request_timeout`), and the app hears why its body ended (the scope's
TIMED_OUT), so that the refusal is recorded as the 408 it was. The server beginning
to stop resolves a request's STOPPING, which ends an import's `?wait` at once. Given
to uvicorn.Config as its `http` protocol class.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

from daemon.web import context
from handlers.api import STOPPING, TIMED_OUT
from handlers.base import peer_text
from importers.messages import message

log = logging.getLogger(__name__)
# How long a closed-for-time connection still reads (and drops) what its client sends.
LINGER = 2.0


def limited(seconds: float) -> type[H11Protocol]:
    """The protocol class of a server whose clients have `seconds` for each wait."""
    return type("ClientDeadline", (ClientDeadline,), {"seconds": seconds})


class ClientDeadline(H11Protocol):
    seconds = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._moved = 0.0  # when the body last moved (loop time)
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # answered and closing: what still comes is read and dropped
        super().data_received(data)
        if self.conn.their_state is h11.SEND_BODY:
            # The body moves: the pause is timed from here. Noted, not re-armed: a
            # timer per chunk would cost every upload, the one timer looks again.
            self._moved = self.loop.time()
            if self._deadline is None:
                self._arm()
        elif self.conn.their_state is not h11.IDLE:
            self._disarm()  # the request is whole: the app's to answer, in its time

    def shutdown(self) -> None:
        """The server begins to stop: a request still being answered is told."""
        if self.cycle is not None and not self.cycle.response_complete:
            stopping = self.cycle.scope.setdefault(STOPPING, self.loop.create_future())
            if not stopping.done():
                stopping.set_result(None)
        super().shutdown()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()  # the next request's headers are timed from here

    def _arm(self, at: float | None = None) -> None:
        self._disarm()
        when = self.loop.time() + self.seconds if at is None else at
        self._deadline = self.loop.call_at(when, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY:
            if self.flow.read_paused:
                # Paused by us: looked at again, since data_received may not come back.
                self._arm()
                return
            if (due := self._moved + self.seconds) > self.loop.time():
                self._arm(due)  # it moved since: timed from its last move
                return
        waiting = "body" if self.conn.their_state is h11.SEND_BODY else "headers"
        peer = peer_text(self.client) or "a client"
        log.info("%s: no request %s within %gs; closed", peer, waiting, self.seconds)
        body = b""
        if self.cycle is not None:
            # The app may be reading the body: it hears the connection end, and why.
            self.cycle.scope[TIMED_OUT] = f"{self.seconds:g}"
            body = self._timed_out(self.cycle.scope)
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # no response begun
            try:
                headers = [("content-length", str(len(body))), ("connection", "close")]
                if body:
                    headers.append(("content-type", "application/json"))
                self.transport.write(self.conn.send(h11.Response(status_code=408, headers=headers)))
                self.transport.write(self.conn.send(h11.Data(data=body)))
                self.transport.write(self.conn.send(h11.EndOfMessage()))
            except h11.LocalProtocolError:
                pass  # a state the answer cannot be given in: closed all the same
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # A lingering close, as Apache's: the client may still be sending (its headers a
        # byte at a time). Closed with its bytes unread, the socket sends a reset, which
        # may reach the client before it reads the 408, and its stack then drops it. The
        # 408 ends with our FIN; the connection closes when the client closes its side,
        # or LINGER seconds later.
        self._lingering = True
        self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)

    def _timed_out(self, scope: dict[str, Any]) -> bytes:
        """The API's error for a body cut off for time, in the request's language.
        Written here, as the app's own answer never goes out on a connection its
        server closed."""
        if "app" not in scope:  # the app has not begun on the request: its words unknown
            return b""
        language = context.language(Request(scope))
        text = message("api.request_timeout", language, seconds=scope[TIMED_OUT])
        body = {"error": "request_timeout", "message": text}
        return json.dumps(body, ensure_ascii=False).encode()
