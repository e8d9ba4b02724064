"""Rows as CSV, cut into parts that each fit a request's limits.

楽楽販売 takes at most 10,000 rows and 3 MB per request: renkei sends more as several
requests within the limits, each with its own header row, instead of refusing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    data: bytes
    rows: int


class TooWide(ValueError):
    """One row alone is over the byte limit: no split can send it. `position` counts
    the rows from 1 (0: the header row alone is over); `size` is that line's bytes,
    `head` the header row's, `limit` the bytes the CSV was allowed."""

    def __init__(self, position: int, size: int, head: int, limit: int) -> None:
        super().__init__(f"row {position}: {size} bytes, {head} in the header, limit {limit}")
        self.position = position
        self.size = size
        self.head = head
        self.limit = limit


def parts(
    header: Sequence[str] | None,
    rows: Iterable[Sequence[object]],
    encoding: str,
    max_rows: int,
    max_bytes: int,
    replaced: list[str] | None = None,
) -> list[Part]:
    """The rows as CSV parts of at most `max_rows` rows and `max_bytes` bytes each.
    A character CP932 cannot hold (𠮷) becomes "?" rather than failing the send, and
    is added to `replaced`, so that the run can say so."""
    replaced = [] if replaced is None else replaced
    head = _line(header, encoding, replaced) if header is not None else b""
    if len(head) > max_bytes:
        raise TooWide(0, len(head), len(head), max_bytes)
    found: list[Part] = []
    chunk: list[bytes] = []
    size = len(head)
    for position, row in enumerate(rows, start=1):
        line = _line(["" if v is None else str(v) for v in row], encoding, replaced)
        if len(head) + len(line) > max_bytes:
            raise TooWide(position, len(line), len(head), max_bytes)
        if chunk and (len(chunk) >= max_rows or size + len(line) > max_bytes):
            found.append(Part(head + b"".join(chunk), len(chunk)))
            chunk, size = [], len(head)
        chunk.append(line)
        size += len(line)
    if chunk or not found:
        found.append(Part(head + b"".join(chunk), len(chunk)))
    return found


# A dash Shift_JIS writes as 0x815C, which CP932 decodes to U+2015 and JIS (a Mac, a
# config) to U+2014: sent as "?" though the file has it. Read as one by header_key too.
_CP932_TWINS = str.maketrans({"\u2014": "\u2015"})


def _line(cells: Sequence[object], encoding: str, replaced: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    text = out.getvalue()
    if encoding == "cp932":
        text = text.translate(_CP932_TWINS)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        replaced += [
            ch for ch in text if ch != "?" and ch.encode(encoding, errors="replace") == b"?"
        ]
        return text.encode(encoding, errors="replace")
