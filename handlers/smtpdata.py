"""The mail after DATA's 354, read in blocks rather than lines.

aiosmtpd reads DATA one line at a time: a 300 KB attachment is some 5,000 awaited
`readuntil` calls and list appends, which made reading the mail most of the event
loop's work per message. Here the reader's buffer is taken whole up to each ".\r\n",
and the checks aiosmtpd makes per line are made once per mail: the end is a "." alone
on its line (RFC 5321 4.1.1.4, CRLF only, as aiosmtpd ≥ 1.4.5 to refuse smuggling), a
line longer than the limit or a mail over the size limit is answered once the end has
come (4.2.5), and the dots of transparency are taken off (4.5.2).
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

_DOT_LINE = b".\r\n"
CRLF = b"\r\n"
LF = b"\n"


class Problem(enum.Enum):
    LINE_TOO_LONG = "line_too_long"
    TOO_MUCH = "too_much"


@dataclass(frozen=True)
class Mail:
    """What came between the 354 and the final dot: the content with transparency
    undone, or the problem it is refused for (content empty then)."""

    content: bytes
    problem: Problem | None = None


async def read_mail(reader: asyncio.StreamReader, size_limit: int, line_limit: int) -> Mail:
    """Read up to and including the line holding a lone dot; nothing after it, so
    commands a client pipelines after the dot stay in `reader` for the session.

    `size_limit` counts the mail's bytes as sent (0: none); `line_limit` is the
    longest line allowed, CRLF included, as aiosmtpd's `line_length_limit`."""
    blocks: list[bytes] = []
    size = 0
    tail = CRLF  # the last two bytes read: the mail starts at a line's start
    while True:
        try:
            block = await reader.readuntil(_DOT_LINE)
            at_dot = True
        except asyncio.LimitOverrunError as over:
            # More than the reader's limit without a ".\r\n", or a long way before
            # one: take what surely holds no end and look again.
            block = await reader.read(over.consumed)
            at_dot = False
        if at_dot and _line_start(tail, block):
            blocks.append(block[:-3])
            size += len(block) - 3
            break
        size += len(block)
        tail = (tail + block[-2:])[-2:]
        if size_limit and size > size_limit:
            blocks.clear()  # read on to the end, but keep nothing of it
            continue
        blocks.append(block)
    if size_limit and size > size_limit:
        return Mail(b"", Problem.TOO_MUCH)
    content = b"".join(blocks)
    del blocks
    if not _lines_within(content, line_limit - len(CRLF)):
        return Mail(b"", Problem.LINE_TOO_LONG)
    if content.startswith(b"."):
        content = content[1:]
    return Mail(content.replace(b"\r\n.", CRLF))


def _line_start(tail: bytes, block: bytes) -> bool:
    """Whether the ".\r\n" that ends `block` begins a line, given the two bytes
    read before `block`."""
    return (tail + block[-5:-3])[-2:] == CRLF if len(block) < 5 else block[-5:-3] == CRLF


def _lines_within(content: bytes, longest: int) -> bool:
    """Whether no line of `content` is longer than `longest` bytes, its CRLF or bare LF
    aside: Python's smtplib sends a message written with LF line ends as it is, and
    Postfix takes such a mail, so a bare LF ends a line here too.

    Looks at the `longest` + 1 bytes from one line's start for the last LF inside: a
    line that fits ends there, or (CRLF) has its CR just past them; else the line is
    too long. A thousand-byte step instead of a split at every line, which for a 3 MB
    mail took longer than reading it."""
    start, end, rfind = 0, len(content), content.rfind
    while end - start > longest:
        found = rfind(LF, start, start + longest + 1)
        if found < 0:
            found = start + longest + 1  # a line of exactly `longest` ended by CRLF
            if content[found - 1 : found + 1] != CRLF:
                return False
        start = found + 1
    return True
