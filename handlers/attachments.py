"""A mail's files: which of its parts are CSV files or workbooks, and what each is called.

Names are read from the headers as written, not as the email package decodes them:
Japanese mailers write RFC 2047 words in a parameter (`filename="=?ISO-2022-JP?B?…?="`,
which the RFCs forbid) and label CP932 text Shift_JIS, in RFC 2047 and RFC 2231 alike.
Decoded as Shift_JIS proper, ①, ㈱ or 髙 in a name would be lost, so the charset is
mapped to CP932 first. Called by handlers/smtp.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import policy
from email.header import decode_header
from email.message import Message

from daemon.settings import Account
from handlers import mime
from handlers.base import bare_name, readable

# Excel workbooks, taken as attachments too (`excel = true`): by name, or by type.
WORKBOOK_SUFFIXES = (".xlsx", ".xls")
_WORKBOOK_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
}
_CHARSETS = {"shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932"}


def csv_attachments(parts: list[mime.Part]) -> Iterator[tuple[str, bytes]]:
    """Every CSV part (by name ending in .csv, or by type text/csv) and every workbook
    part (by name ending in .xlsx or .xls, or by its type), forwarded mail included."""
    for part, payload in parts:
        name = filename(part)
        kind = part.get_content_type()
        if name.lower().endswith((".csv", *WORKBOOK_SUFFIXES)):
            yield bare_name(name), payload()
        elif kind == "text/csv":
            yield bare_name(name or "attachment.csv"), payload()
        elif kind in _WORKBOOK_TYPES:
            yield bare_name(name or "attachment" + _WORKBOOK_TYPES[kind]), payload()


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
        value = _raw_param(part, header, param)
        if value:
            try:
                return _decoded(value)
            except (ValueError, LookupError):  # an unknown charset: the name unread
                return ""
    return ""


def _raw_param(part: Message, header: str, param: str) -> str | tuple[str, str, str] | None:
    """The parameter as the header writes it, each byte one latin-1 character, or
    (charset, language, value) for an RFC 2231 one (continuations joined, %-escapes
    undone into latin-1)."""
    for name, value in part.raw_items():
        if name.lower() == header:
            # Bytes as latin-1: the parser keeps 8-bit bytes as surrogates, which the
            # plain Message would replace with U+FFFD before we could read them.
            text = str(value).encode("utf-8", "surrogateescape").decode("latin-1")
            plain = Message(policy=policy.compat32)
            plain[name] = text
            found = plain.get_param(param, header=header)
            return found if isinstance(found, tuple | str) else None
    return None


def _decoded(value: str | tuple[str, str, str]) -> str:
    if isinstance(value, tuple):  # RFC 2231: filename*=Shift_JIS''%83%81…
        charset, _, text = value
        return text.encode("latin-1", "replace").decode(_charset(charset or "ascii"), "replace")
    if "=?" not in value:
        return readable(value.encode("latin-1"))  # 8-bit bytes in the header: UTF-8 or CP932
    words = []
    for word, charset in decode_header(value):
        if isinstance(word, bytes):
            word = word.decode(_charset(charset or "ascii"), "replace")
        words.append(word)
    return "".join(words)


def _charset(name: str) -> str:
    return _CHARSETS.get(name.lower(), name)
