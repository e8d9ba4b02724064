"""The fast split of mail parts gives what the standard library's parser gives, for
every shape it takes, and leaves every other shape to the library."""

from __future__ import annotations

import base64
from email import policy
from email.message import EmailMessage

import pytest

from handlers import mime
from handlers.attachments import csv_attachments

CSV = "member_no,date\r\n1,2024/05/16\r\n2,2024/05/17\r\n".encode("cp932")
JAPANESE = "会員番号,備考\r\n1,㈱髙橋①～\r\n".encode("cp932")


def message(*parts: tuple[bytes, dict], body: str = "see attached") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.jp", "b@example.jp", "データ"
    msg["Message-ID"] = "<1@example.jp>"
    msg.set_content(body)
    for data, options in parts:
        msg.add_attachment(data, **{"maintype": "text", "subtype": "csv", **options})
    return msg.as_bytes(policy=policy.SMTP)


def forwarded() -> bytes:
    inner = EmailMessage()
    inner["Subject"] = "fwd"
    inner.set_content("x")
    inner.add_attachment(CSV, maintype="text", subtype="csv", filename="20240516.csv")
    outer = EmailMessage()
    outer["From"], outer["To"] = "a@example.jp", "b@example.jp"
    outer.set_content("forwarded")
    outer.add_attachment(inner)
    return outer.as_bytes(policy=policy.SMTP)


FAST = {
    "one attachment": message((CSV, {"filename": "20240516.csv"})),
    "three attachments": message(
        (CSV, {"filename": "20240516.csv"}),
        (JAPANESE, {"filename": "20240517.csv"}),
        (b"", {"filename": "20240518.csv"}),
    ),
    "RFC 2231 name": message((JAPANESE, {"filename": ("utf-8", "", "売上_20240516.csv")})),
    "quoted-printable": message(
        (JAPANESE, {"filename": "20240516.csv", "cte": "quoted-printable"})
    ),
    "text/csv without a name": message((CSV, {})),
    "LF line ends": message((CSV, {"filename": "20240516.csv"})).replace(b"\r\n", b"\n"),
}
LIBRARY = {
    "forwarded mail": forwarded(),
    "not multipart": b"From: a@example.jp\r\nContent-Type: text/csv\r\n\r\n1,2\r\n",
    "no closing boundary": message((CSV, {"filename": "20240516.csv"})).rsplit(b"--", 2)[0],
}


@pytest.mark.parametrize("raw", FAST.values(), ids=FAST.keys())
def test_the_fast_split_finds_what_the_library_finds(raw):
    fast = mime.leaf_parts(raw)
    assert fast is not None, "this shape should take the fast split"
    message, parts = fast
    library_message, library_parts = mime.library_parts(raw)
    assert list(csv_attachments(parts)) == list(csv_attachments(library_parts))
    assert list(csv_attachments(parts))  # the case holds at least one CSV
    for header in ("From", "Message-ID"):
        assert str(message.get(header)) == str(library_message.get(header))


@pytest.mark.parametrize("raw", LIBRARY.values(), ids=LIBRARY.keys())
def test_other_shapes_are_left_to_the_library(raw):
    assert mime.leaf_parts(raw) is None
    mime.library_parts(raw)  # and the library takes them


def test_a_base64_body_with_bad_padding_is_decoded_as_the_library_does():
    raw = message((CSV, {"filename": "20240516.csv"}))
    head, _, tail = raw.partition(b"base64\r\n\r\n")
    body, sep, rest = tail.partition(b"\r\n--")
    broken = head + b"base64\r\n\r\n" + body[:-1] + sep + rest
    fast = mime.leaf_parts(broken)
    assert fast is not None
    assert list(csv_attachments(fast[1])) == list(csv_attachments(mime.library_parts(broken)[1]))


@pytest.mark.parametrize("shape", ["flat", "forwarded"])
def test_a_base64_body_cut_short_decodes_as_far_as_it_goes(shape):
    """Once the library's fallback handed back the base64 text, imported as the CSV."""
    raw = message((CSV, {"filename": "20240516.csv"})) if shape == "flat" else forwarded()
    head, _, tail = raw.partition(b"base64\r\n\r\n")
    body, sep, rest = tail.partition(b"\r\n--")
    broken = head + b"base64\r\n\r\n" + body.rstrip()[:-7] + sep + rest
    parts = (mime.leaf_parts(broken) or mime.library_parts(broken))[1]
    [(name, data)] = list(csv_attachments(parts))
    assert name == "20240516.csv" and len(data) >= len(CSV) - 6 and CSV.startswith(data)


JAPANESE_NAME = "①売上㈱髙20241005.csv"


def _named(disposition: str) -> bytes:
    """A message whose one CSV part has this Content-Disposition, as a mailer wrote it."""
    return (
        "From: a@example.jp\r\nTo: b@example.jp\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        f"Content-Type: text/csv\r\nContent-Disposition: {disposition}\r\n\r\n1,2\r\n--B--\r\n"
    ).encode("utf-8", "surrogateescape")


def _sjis_word() -> str:
    return "=?Shift_JIS?B?" + base64.b64encode(JAPANESE_NAME.encode("cp932")).decode() + "?="


@pytest.mark.parametrize(
    "disposition",
    [
        f'attachment; filename="{_sjis_word()}"',  # RFC 2047 in the parameter
        "attachment; filename*=Shift_JIS''"
        + "".join(f"%{b:02X}" for b in JAPANESE_NAME.encode("cp932")),  # RFC 2231
        'attachment; filename="'
        + JAPANESE_NAME.encode("cp932").decode("utf-8", "surrogateescape")
        + '"',  # raw CP932 bytes
        f'attachment; filename="{JAPANESE_NAME}"',  # raw UTF-8
    ],
    ids=["RFC 2047", "RFC 2231", "raw CP932", "raw UTF-8"],
)
def test_a_japanese_name_labelled_shift_jis_keeps_its_cp932_characters(disposition):
    """Japanese mailers label CP932 Shift_JIS; read as Shift_JIS proper, ① was lost."""
    raw = _named(disposition)
    parts = (mime.leaf_parts(raw) or mime.library_parts(raw))[1]
    assert [name for name, _ in csv_attachments(parts)] == [JAPANESE_NAME]
