"""Mail parts, fast: the CSV attachments of a message, without parsing its body twice.

The standard library's parser walks every line of a message and builds each part's
payload as text: about 13 ms of held GIL for a 300 KB attachment, which the SMTP door
pays on top of aiosmtpd's own reading. A partner's mail is almost always one flat
multipart of a text body and base64 attachments, so `leaf_parts()` parses only the
headers with the library and splits and decodes the bodies itself (binascii). Any
other shape — a forwarded message, a nested multipart, an unknown encoding, a
missing closing boundary — is left to the library: `leaf_parts()` returns None.
Called by handlers/smtp.py.
"""

from __future__ import annotations

import binascii
import quopri
import re
from collections.abc import Callable
from email import errors, policy
from email.message import Message
from email.parser import BytesParser

Part = tuple[Message, Callable[[], bytes]]  # a leaf part's headers, and its decoded body


class Damaged(Exception):
    """A part whose body cannot be had as it was sent (raised by its payload): `key`,
    the run's catalog key `run.<key>`. Read as far as it goes, a cut file whose cut
    fell between two records imported what came of it as a completed run."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


_HEADERS_END = re.compile(rb"\r?\n\r?\n")
_PLAIN = ("", "7bit", "8bit", "binary")
_ENCODED = ("base64", "quoted-printable")


# Part delimiter lines past which a mail is not parsed: each part costs the parser
# about half a millisecond, and 50,000 tiny ones held a core for 23 s. No export a
# partner sends has a thousand attachments.
MAX_PART_LINES = 2000


# A boundary parameter anywhere in the mail, quoted or not (RFC 2046 5.1.1), and a
# line that starts with `--`, with what follows on it.
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]+)"|([^\s;"]+))', re.IGNORECASE)
_DASH_LINE = re.compile(rb"\n--([^\r\n]*)")


def too_many_parts(raw: bytes) -> bool:
    """Whether the mail has more part delimiter lines than MAX_PART_LINES, before any
    parsing. Lines that start with `--` are counted at the speed of bytes.count; only
    a mail with more of them than that has them matched against the boundaries it
    declares, so that a text body of many `--` lines is still read."""
    if raw.count(b"\n--") <= MAX_PART_LINES:
        return False
    declared = {quoted or bare for quoted, bare in _BOUNDARY.findall(raw)}
    if len(declared) > MAX_PART_LINES:  # each opens a multipart: too many parts already
        return True
    delimiters = 0
    for found in _DASH_LINE.finditer(raw):
        rest = found.group(1).rstrip(b" \t")
        if rest in declared or (rest.endswith(b"--") and rest[:-2] in declared):
            delimiters += 1
            if delimiters > MAX_PART_LINES:
                return True
    return False


def split_headers(raw: bytes) -> tuple[bytes, bytes]:
    """The header block (with its final line break) and the body after the blank line."""
    if raw.startswith((b"\r\n", b"\n")):  # no headers at all
        return b"", raw[2:] if raw.startswith(b"\r\n") else raw[1:]
    found = _HEADERS_END.search(raw)
    if found is None:
        return raw, b""
    return raw[: found.start() + 2], raw[found.end() :]


def headers_of(block: bytes) -> Message:
    return BytesParser(policy=policy.default).parsebytes(block, headersonly=True)


def leaf_parts(raw: bytes) -> tuple[Message, list[Part]] | None:
    """The message's headers and its leaf parts, or None for a shape left to the library."""
    block, body = split_headers(raw)
    top = headers_of(block)
    boundary = top.get_boundary() if top.get_content_maintype() == "multipart" else None
    if not boundary:
        return None
    chunks = _between(body, boundary.encode("ascii", "replace"))
    if not chunks:
        return None
    parts = []
    for chunk in chunks:
        part_block, part_body = split_headers(chunk)
        headers = headers_of(part_block)
        decode = _decoder(headers, part_body)
        if decode is None or headers.get_content_maintype() in ("multipart", "message"):
            return None
        parts.append((headers, decode))
    return top, parts


def _between(body: bytes, boundary: bytes) -> list[bytes] | None:
    """The parts between the delimiter lines, or None without a closing delimiter.

    Found with bytes.find: a regular expression tried at every offset of a 3 MB body
    cost more than the library's whole parse.
    """
    marker = b"--" + boundary
    parts: list[bytes] = []
    start = None
    at = body.find(marker)
    while at >= 0:
        line_end = body.find(b"\n", at)
        line_end = len(body) if line_end < 0 else line_end + 1
        rest = body[at + len(marker) : line_end].rstrip(b"\r\n \t")
        if (at == 0 or body[at - 1 : at] == b"\n") and rest in (b"", b"--"):
            if start is not None:
                end = at - 1  # the line break before the delimiter belongs to it
                parts.append(body[start : end - 1 if body[end - 1 : end] == b"\r" else end])
            if rest == b"--":
                return parts
            start = line_end
        at = body.find(marker, at + len(marker))
    return None


def library_parts(raw: bytes) -> tuple[Message, list[Part]]:
    """The same as leaf_parts(), by the standard library's parser: any shape at all.
    The part a missing closing boundary leaves open was cut off with the mail (a
    gateway's limit, a connection lost upstream): its payload raises Damaged."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    _read_encoded_messages(message)
    leaves = [part for part in message.walk() if not part.is_multipart()]
    cut = _cut_leaves(message)
    return message, [(part, _cut if id(part) in cut else _payload_of(part)) for part in leaves]


def _read_encoded_messages(message: Message) -> None:
    """Forwarded messages sent in base64 or quoted-printable, which RFC 2046 5.2.1
    allows no message/rfc822 part but some mailers write: the library reads the encoded
    text as the message (no header, one body), and the CSV inside was not found and
    the mail said to have none. Each is decoded and read again, in place; walking on
    reaches those nested in it."""
    for part in message.walk():
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if part.get_content_maintype() != "message" or encoding not in _ENCODED:
            continue
        inner = part.get_payload()
        if not (isinstance(inner, list) and len(inner) == 1 and not inner[0].keys()):
            continue  # read as a message after all: its headers came through
        text = inner[0].get_payload()
        if not isinstance(text, str):
            continue
        data = text.encode("ascii", "replace")
        try:
            raw = decode_base64(data) if encoding == "base64" else quopri.decodestring(data)
        except Damaged:
            continue  # left as it was read: no CSV of it is taken
        part.set_payload([BytesParser(policy=policy.default).parsebytes(raw)])
        del part["Content-Transfer-Encoding"]


def _cut_leaves(message: Message) -> set[int]:
    """The leaf parts (by id) each multipart without its closing boundary ends in."""
    cut = set()
    for part in message.walk():
        if part.is_multipart() and any(
            isinstance(defect, errors.CloseBoundaryNotFoundDefect) for defect in part.defects
        ):
            last = part
            while last.is_multipart() and (inner := last.get_payload()):
                last = inner[-1]
            cut.add(id(last))
    return cut


def _cut() -> bytes:
    raise Damaged("mail_cut_off")


def _payload_of(part: Message) -> Callable[[], bytes]:
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
        # The library gives damaged base64 back undecoded: the text would be imported.
        raw = part.get_payload(decode=False)
        return lambda: decode_base64(
            raw.encode("ascii", "replace") if isinstance(raw, str) else b""
        )
    return lambda: part.get_payload(decode=True) or b""


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
# What base64 text is made of, line breaks and padding included.
_BASE64_TEXT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n"
# A piece of base64 up to the end of its padding, or the unpadded rest.
_PADDED_PIECE = re.compile(rb"[^=]*=+|[^=]+")


def decode_base64(body: bytes) -> bytes:
    """A base64 body decoded; a damaged one (cut short, bad padding) as far as it goes, so that a cut attachment fails its import as a file cut short,
    the way the library's undecoded text never could. Base64 after a padding is
    decoded too: some streaming encoders write an attachment as several padded pieces.
    A character base64 has not (`!`, `*`, a byte beyond ASCII) is no damage a cut
    makes: binascii passed over it in silence, and what was left was read as the file
    (garbage, said as a header with unknown columns). Damaged is raised instead.
    """
    if body.translate(None, _BASE64_TEXT):
        raise Damaged("attachment_damaged")
    # binascii stops at the first padding without a word: the rows after it were lost
    # from a run that completed. Finding a `=` costs a memchr, under 1% of the decode
    # (strict_mode cannot tell clean data cheaply: it refuses the line breaks too).
    pad = body.find(b"=")
    if pad >= 0 and body[pad:].strip(b"= \t\r\n"):
        return b"".join(_decoded_piece(piece) for piece in _PADDED_PIECE.findall(body))
    return _decoded_piece(body)


def _decoded_piece(body: bytes) -> bytes:
    try:
        return binascii.a2b_base64(body)
    except binascii.Error:
        pass
    data = _NOT_BASE64.sub(b"", body)
    # A last group of one character holds no whole byte; of two or three, one or two.
    data = data[: len(data) - 1] if len(data) % 4 == 1 else data
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def _decoder(headers: Message, body: bytes) -> Callable[[], bytes] | None:
    encoding = str(headers.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        return lambda: decode_base64(body)
    if encoding == "quoted-printable":
        return lambda: quopri.decodestring(body)
    if encoding in _PLAIN:
        return lambda: body
    return None
