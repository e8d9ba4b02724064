"""Deliveries refused at the door: each logged on one line, counted by channel and
reason in /metrics, and the latest kept in memory, newest first, for
`GET /api/v1/refusals`. Written by the intake sink, from the event loop and the FTP
thread alike; read by the web app.

In memory only, so the list starts empty at each start. A table would outlive a
restart, but a scanner probing the doors would then write to the database as fast as
it can connect; a bounded deque costs nothing and answers "we sent it, where did it
go?" for the recent past, and the log keeps the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from dataclasses import dataclass, fields, replace

from daemon import metrics
from handlers.base import Refusal, readable

log = logging.getLogger(__name__)
KEPT = 1000
_FIELD_CHARS = 300  # text from outside is cut here: memory stays bounded per record
# Refusals that repeat while nothing new happens: logged at INFO, not WARNING. A banned
# address knocking again was already named when its ban began; automatic mail and replies
# to reports are expected traffic, not a partner gone wrong.
_ROUTINE = {"banned", "automatic_mail", "reply_to_report"}


@dataclass(frozen=True, slots=True)
class Refused:
    """One refusal as kept: when, and what the channel said of it."""

    at: dt.datetime  # UTC
    refusal: Refusal

    def as_json(self) -> dict[str, str]:
        at = self.at.isoformat(timespec="milliseconds")
        return {"at": at} | {f.name: getattr(self.refusal, f.name) for f in fields(Refusal)}


class RefusalLog:
    def __init__(self, size: int = KEPT) -> None:
        self._kept: deque[Refused] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, refusal: Refusal) -> None:
        refusal = _bounded(refusal)
        with self._lock:
            self._kept.appendleft(Refused(dt.datetime.now(dt.UTC), refusal))
        metrics.REFUSED.labels(refusal.channel, refusal.reason).inc()
        level = logging.INFO if refusal.reason in _ROUTINE else logging.WARNING
        log.log(level, "%s", line(refusal))

    def recent(
        self, channel: str | None = None, since: dt.datetime | None = None, limit: int = 100
    ) -> list[Refused]:
        """The newest `limit` refusals, newest first, of `channel`, at `since` or later."""
        with self._lock:
            kept = list(self._kept)
        found = []
        for refused in kept:
            if since is not None and refused.at < since:
                break  # newest first: every one after this is older still
            if channel is None or refused.refusal.channel == channel:
                found.append(refused)
                if len(found) >= limit:
                    break
        return found


def line(refusal: Refusal) -> str:
    """The log line: every field, text from outside quoted so that it cannot forge a
    line of its own (a CR or LF in a file name shows as \\r, \\n)."""
    text = (
        f"refused {refusal.channel} from {refusal.peer or '?'}"
        f" who={refusal.who!r} what={refusal.what!r}: {refusal.code} {refusal.reason}"
    )
    return f"{text} ({refusal.detail!r})" if refusal.detail else text


def _bounded(refusal: Refusal) -> Refusal:
    """The refusal as kept: its text as text (bytes a door read as lone surrogates,
    which no JSON answer can hold, in UTF-8 or CP932: `GET /api/v1/refusals` answered
    500 until a restart), cut at _FIELD_CHARS."""
    kept = {}
    for f in fields(Refusal):
        value = original = getattr(refusal, f.name)
        if not _encodable(value):
            value = readable(value)
        if len(value) > _FIELD_CHARS:
            value = value[:_FIELD_CHARS]
        if value is not original:
            kept[f.name] = value
    return replace(refusal, **kept) if kept else refusal


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
