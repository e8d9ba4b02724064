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
    """One row alone is over the byte limit: no split can send it."""


def parts(
    header: Sequence[str] | None,
    rows: Iterable[Sequence[object]],
    encoding: str,
    max_rows: int,
    max_bytes: int,
) -> list[Part]:
    """The rows as CSV parts of at most `max_rows` rows and `max_bytes` bytes each.
    A cell CP932 cannot hold becomes "?" rather than failing the send."""
    head = _line(header, encoding) if header is not None else b""
    if len(head) > max_bytes:
        raise TooWide("header")
    found: list[Part] = []
    chunk: list[bytes] = []
    size = len(head)
    for row in rows:
        line = _line(["" if v is None else str(v) for v in row], encoding)
        if len(head) + len(line) > max_bytes:
            raise TooWide(f"a row of {len(line)} bytes")
        if chunk and (len(chunk) >= max_rows or size + len(line) > max_bytes):
            found.append(Part(head + b"".join(chunk), len(chunk)))
            chunk, size = [], len(head)
        chunk.append(line)
        size += len(line)
    if chunk or not found:
        found.append(Part(head + b"".join(chunk), len(chunk)))
    return found


def _line(cells: Sequence[object], encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode(encoding, errors="replace")
