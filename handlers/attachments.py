"""A mail's files: which of its parts are CSV files or workbooks, and what each is called.

Names are read from the headers as written, not as the email package decodes them:
Japanese mailers write RFC 2047 words in a parameter (`filename="=?ISO-2022-JP?B?…?="`,
which the RFCs forbid) and label CP932 text Shift_JIS, in RFC 2047 and RFC 2231 alike.
Decoded as Shift_JIS proper, ①, ㈱ or 髙 in a name would be lost, so the charset is
mapped to CP932 first; ISO-2022-JP is read as Windows writes it, ① and ㈱ too.
Called by handlers/smtp.py.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message

from daemon.settings import Account
from handlers import mime
from handlers.base import UNSEEN, bare_name, readable

# Excel workbooks, taken as attachments too (`excel = true`): by name, or by type.
WORKBOOK_SUFFIXES = (".xlsx", ".xls")
_WORKBOOK_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
}
# CP932 by the labels mailers give it: Shift_JIS (Japanese mailers), Windows-31J
# (IANA's name, which Java and JavaMail write), and Microsoft's and IBM's own. Python
# knows no windows-31j: the name was lost, and a Subject shown garbled.
_CHARSETS = dict.fromkeys(
    ("shift_jis", "shift-jis", "shiftjis", "sjis", "s_jis", "x-sjis", "csshiftjis")
    + ("windows-31j", "cswindows31j", "x-ms-cp932", "ms932", "cp943c", "ibm-943c"),
    "cp932",
)
# An RFC 2047 word we cannot read: an unknown charset, or base64 that is broken (a
# mailer's, or a relay's that cut the line).
_UNREADABLE = (ValueError, LookupError, HeaderParseError)


# Types a mailer labels a CSV with: Outlook and older mailers do not all say text/csv.
CSV_TYPES = frozenset(("text/csv", "text/comma-separated-values", "application/csv", "text/x-csv"))
_ZIP_TYPES = frozenset(("application/zip", "application/x-zip-compressed", "application/x-zip"))
_TNEF_TYPES = frozenset(("application/ms-tnef", "application/vnd.ms-tnef"))
# A signed mail's signature is no attachment the partner chose to send.
_SIGNATURES = frozenset(
    ("application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature")
)
_FULL_STOPS = (".", "\uff0e")  # ．, as a Japanese IME writes it in full width
# A Subject is said in a run's message and its report mail: long enough to tell mails
# apart, short enough that the sentence around it stays readable.
MAX_SUBJECT_CHARS = 120
UNFOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class Other:
    """An attachment that is no file renkei takes: its name ('' none), kind, type."""

    name: str
    kind: str  # zip (a password-protected one too) | tnef | other
    content_type: str

    def shown(self) -> str:
        """How a run names it: a zip or winmail.dat by name, anything else with its type."""
        if self.kind != "other" and self.name:
            return self.name
        return f"{self.name} ({self.content_type})" if self.name else self.content_type


@dataclass(slots=True)
class Carried:
    """What a mail carried: its files to import, its other attachments, and whether
    its text body looks like a CSV pasted in."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    # Files whose part could not be had whole (mime.Damaged), by name: the run's
    # problem key. Their runs fail saying so; no bytes of them are kept.
    damaged: dict[str, str] = field(default_factory=dict)
    others: list[Other] = field(default_factory=list)
    body_csv: bool = False
    subject: str = ""  # as subject_of() reads it: how the admin tells one mail from another

    def problem(self) -> str:
        """Why a mail without files makes no import: the run's catalog key `run.<it>`."""
        kinds = {other.kind for other in self.others}
        if "zip" in kinds:
            return "zip_attachment"
        if "tnef" in kinds:
            return "tnef_attachment"
        if self.others:
            return "other_attachment"
        return "body_csv" if self.body_csv else "no_csv_attachment"

    def others_shown(self) -> str:
        return ", ".join(other.shown() for other in self.others)


def carried_by(top: Message, parts: list[mime.Part]) -> Carried:
    """Sort a mail's leaf parts into files, other attachments and the text body."""
    carried = Carried(subject=subject_of(top))
    for part, payload in parts:
        try:
            found = _as_file(part, payload)
        except mime.Damaged as damaged:
            found = (_file_name(part) or "attachment.csv", b"")
            carried.damaged[found[0]] = damaged.key
        if found is not None:
            carried.files.append(found)
        elif _is_body(part):
            with contextlib.suppress(mime.Damaged):  # a body cut off is read as no CSV
                carried.body_csv = carried.body_csv or _looks_like_csv(part, payload)
        elif part.get_content_type() not in _SIGNATURES:
            carried.others.append(_other(part))
    return carried


def csv_attachments(parts: list[mime.Part]) -> Iterator[tuple[str, bytes]]:
    """Every CSV part (by name ending in .csv, or by a CSV type) and every workbook
    part (by name ending in .xlsx or .xls, or by its type), forwarded mail included."""
    for part, payload in parts:
        found = _as_file(part, payload)
        if found is not None:
            yield found


def attachment_name(raw: str) -> str:
    """A part's name as renkei keeps it: bare_name(), its suffix in NFKC, so that
    `売上データ．ｃｓｖ` is `売上データ.csv`. Only the suffix: NFKC of the whole name would
    turn ① into 1 and ㈱ into (株)."""
    name = bare_name(raw)
    at = max(name.rfind(stop) for stop in _FULL_STOPS)
    if at < 0:
        return name
    return bare_name(name[:at] + unicodedata.normalize("NFKC", name[at:]))


def _file_name(part: Message) -> str:
    """The name a file part's run has ('' for a CSV or workbook part named by type)."""
    name = _name(part)
    kind = part.get_content_type()
    if not name and kind in _WORKBOOK_TYPES:
        return "attachment" + _WORKBOOK_TYPES[kind]
    return name


def _as_file(part: Message, payload: Callable[[], bytes]) -> tuple[str, bytes] | None:
    name = _name(part)
    kind = part.get_content_type()
    if name.lower().endswith(WORKBOOK_SUFFIXES):
        return name, payload()
    if name.lower().endswith(".csv"):
        return name, _csv_bytes(part, payload())
    if kind in CSV_TYPES:
        return name or "attachment.csv", _csv_bytes(part, payload())
    if kind in _WORKBOOK_TYPES:
        return name or "attachment" + _WORKBOOK_TYPES[kind], payload()
    return None


def _csv_bytes(part: Message, data: bytes) -> bytes:
    """A CSV part's bytes as a file renkei reads: one a mailer labelled and wrote as
    ISO-2022-JP (JIS, as Japanese mail text once was) made Shift_JIS (CP932), or UTF-8
    with a BOM when it holds a character CP932 lacks (JIS X 0212's, by ISO-2022-JP-2);
    any other as it came."""
    charset = part.get_content_charset() or ""
    if b"\x1b" not in data or not charset.lower().startswith("iso-2022-jp"):
        return data
    text = _iso2022_jp(data)
    if "\ufffd" in text:  # bytes it could not read: as it came, refused as JIS
        return data
    try:
        return text.encode("cp932")
    except UnicodeEncodeError:
        return codecs.BOM_UTF8 + text.encode("utf-8")


def _name(part: Message) -> str:
    raw = filename(part)
    return attachment_name(raw) if raw else ""


def _is_body(part: Message) -> bool:
    """A text part with no name, not marked as an attachment: the mail's own text."""
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    named = bool(filename(part))
    return part.get_content_maintype() == "text" and not named and disposition != "attachment"


def _other(part: Message) -> Other:
    name, kind = _name(part), part.get_content_type()
    if kind in _ZIP_TYPES or name.lower().endswith(".zip"):
        return Other(name, "zip", kind)
    if kind in _TNEF_TYPES or name.lower() == "winmail.dat":
        return Other(name, "tnef", kind)
    return Other(name, "other", kind)


def _looks_like_csv(part: Message, payload: Callable[[], bytes]) -> bool:
    """A plain text body of two lines or more, each with the same number of commas."""
    if part.get_content_subtype() != "plain":
        return False
    lines = [line for line in readable(payload()).splitlines() if line.strip()][:5]
    commas = {line.count(",") for line in lines}
    return len(lines) >= 2 and len(commas) == 1 and commas != {0}


def for_account(account: Account, attachments: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The attachments that make runs of `account`. A workbook goes to an account
    with `excel = true`; to any other only when the mail holds no CSV, so that its
    run says what to set rather than that the mail had no attachment."""
    if account.excel:
        return attachments
    csvs = [(n, data) for n, data in attachments if not n.lower().endswith(WORKBOOK_SUFFIXES)]
    return csvs or attachments


def filename(part: Message) -> str:
    """The part's file name: Content-Disposition's `filename`, else Content-Type's
    `name`; '' when it has none that can be read."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        values = _raw_params(part, header, param)
        for value in values:
            try:
                return _decoded(value)
            except _UNREADABLE:  # the name unread: the plain one may be read
                continue
        if values:
            return ""
    return ""


def subject_of(message: Message) -> str:
    """The mail's Subject as a person reads it ('' none): RFC 2047 words decoded as
    names are (a Shift_JIS label read as CP932), control characters and line breaks
    dropped, runs of white space made one space, cut at MAX_SUBJECT_CHARS."""
    raw = _raw_header(message, "subject")
    try:
        text = _decoded(UNFOLD.sub("", raw)) if raw else ""
    except _UNREADABLE:  # as the library read it, which keeps a word it cannot decode
        text = str(message.get("Subject", ""))
    # What bare_name() drops from a name, for the same reason: it breaks the report's
    # lines or hides in them.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in UNSEEN)
    text = " ".join(text.split())
    return text if len(text) <= MAX_SUBJECT_CHARS else text[: MAX_SUBJECT_CHARS - 1] + "…"


def _raw_header(message: Message, header: str) -> str:
    """The header's first value as written, each byte one latin-1 character ('' none)."""
    for name, value in message.raw_items():
        if name.lower() == header:
            # Bytes as latin-1: the parser keeps 8-bit bytes as surrogates, which the
            # plain Message would replace with U+FFFD before we could read them.
            return str(value).encode("utf-8", "surrogateescape").decode("latin-1")
    return ""


def _raw_params(part: Message, header: str, param: str) -> list[str | tuple[str, str, str]]:
    """The parameter's values as the header writes them, each byte one latin-1
    character, or (charset, language, value) for an RFC 2231 one (continuations joined,
    %-escapes undone into latin-1); none empty. The RFC 2231 one first: a mailer that
    writes both (`filename="fallback.csv"; filename*=UTF-8''%E5%A3%B2…`) means the plain
    one for readers that know no RFC 2231 (RFC 6266 4.3)."""
    text = _raw_header(part, header)
    if not text:
        return []
    plain = Message(policy=policy.compat32)
    plain[header] = text
    found = [
        value
        for name, value in plain.get_params([], header=header)[1:]
        if name.lower() == param and isinstance(value, tuple | str) and value
    ]
    return sorted(found, key=lambda value: not isinstance(value, tuple))


def _decoded(value: str | tuple[str, str, str]) -> str:
    if isinstance(value, tuple):  # RFC 2231: filename*=Shift_JIS''%83%81…
        charset, _, text = value
        return _unlabelled_or(text.encode("latin-1", "replace"), charset)
    if "=?" not in value:
        return readable(value.encode("latin-1"))  # 8-bit bytes in the header: UTF-8 or CP932
    words = []
    for word, charset in decode_header(value):
        if isinstance(word, bytes):
            word = _unlabelled_or(word, charset)
        words.append(word)
    return "".join(words)


def _unlabelled_or(data: bytes, charset: str | None) -> str:
    """Header bytes in their charset; those with none (the raw text beside an encoded
    word, an RFC 2231 value of an empty charset) as 8-bit bytes in a header are read,
    UTF-8 or CP932, where ASCII made each of their bytes a U+FFFD."""
    return _text(data, charset) if charset else readable(data)


def _text(data: bytes, charset: str) -> str:
    """Header bytes in the charset they are labelled with, as its mailers mean it;
    LookupError for a charset Python does not know."""
    charset = _CHARSETS.get(charset.lower(), charset)
    if codecs.lookup(charset).name == "iso2022_jp":
        return _iso2022_jp(data)
    return data.decode(charset, "replace")


def _iso2022_jp(data: bytes) -> str:
    """ISO-2022-JP as Windows writes it (Outlook's is CP50220/CP50221): NEC row 13 (①,
    ㈱, ㍻) and the NEC-selected IBM extensions (rows 89-92) sit in rows JIS X 0208
    leaves empty, which the iso2022_jp codec cannot read: they were shown as U+FFFD.
    CP932 holds them at the Shift_JIS codes of those rows, so each JIS X 0208 run is
    moved there and read as CP932. A part mixing those with JIS X 0212 (鄧) or
    half-width kana fails both codecs: read run by run, JIS X 0212's as ISO-2022-JP-2."""
    for codec in ("iso2022_jp", "iso2022_jp_2"):  # _2: JIS X 0212 too (鄧, 鬙)
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    first, *runs = data.split(b"\x1b")  # each run opens with its escape sequence's rest
    text = [first.decode("ascii", "replace")]
    for run in runs:
        # A 94x94 set may be designated in four bytes (ESC $ ( D): three after ESC.
        size = 3 if run.startswith(b"$(") else 2
        designation, run = run[:size], run[size:]
        if designation in (b"$B", b"$@"):  # JIS X 0208 (1983, 1978)
            text.append(_shift_jis(run).decode("cp932", "replace"))
        elif designation == b"$(D":  # JIS X 0212 (鄧, 鬙), as ISO-2022-JP-2 writes it
            text.append((b"\x1b$(D" + run + b"\x1b(B").decode("iso2022_jp_2", "replace"))
        elif designation == b"(I":  # half-width katakana: 0xA1-0xDF in Shift_JIS
            text.append(bytes(byte | 0x80 for byte in run).decode("cp932", "replace"))
        elif designation in (b"(B", b"(J"):  # ASCII, and JIS Roman as CP932 reads it
            text.append(run.decode("ascii", "replace"))
        else:  # a set ISO-2022-JP does not have
            text.append("\ufffd")
    return "".join(text)


def _shift_jis(jis: bytes) -> bytes:
    """JIS X 0208 byte pairs as the Shift_JIS pairs of the same row and cell."""
    out = bytearray()
    for high, low in zip(jis[::2], jis[1::2], strict=False):  # a lone last byte: dropped
        # Two rows share a Shift_JIS lead byte; rows 63 on skip 0xA0-0xDF (katakana).
        out.append((high - 0x21) // 2 + (0x81 if high < 0x5F else 0xC1))
        # An odd row takes the trail bytes 0x40-0x9E (skipping 0x7F), an even 0x9F-0xFC.
        out.append(low + 0x7E if high % 2 == 0 else low + 0x1F + (low >= 0x60))
    return bytes(out)
