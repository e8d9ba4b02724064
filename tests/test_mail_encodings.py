"""Mail as other encoders write it, against the real daemon: base64 in several padded
pieces (handlers/mime.py), CP932 labelled Windows-31J and ISO-2022-JP with NEC special
characters, as Java and Windows mailers write names and Subjects (handlers/attachments.py)."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.support import Daemon, account, csv_bytes, queued_ids, send, write_config

ACCOUNTS = account("acme") + account("anyname", filename="any")
ROWS = [f"{3000 + i},2024/05/16,{i},note{'x' * (i % 3)}" for i in range(10)]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("encodings")
    d = Daemon(write_config(folder, ACCOUNTS, relay_port=module_relay.port)).start()
    yield d
    assert d.terminate() == 0


def _raw(subject: str, *parts: tuple[str, str], who: str = "acme") -> bytes:
    """A mail as a mailer writes it: the Subject as given, a text body, then parts
    (headers, body) of 7-bit text."""
    head = (
        f"From: export@{who}.example\r\nTo: {who}@in.example.jp\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@{who}.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="BB"\r\n\r\n'
        "--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
    )
    body = "".join(f"--BB\r\n{headers}\r\n\r\n{text}\r\n" for headers, text in parts)
    return (head + body + "--BB--\r\n").encode("ascii")


def _run(daemon: Daemon, raw: bytes, who: str = "acme") -> dict:
    step, code, reply = send(
        daemon.smtp_port, raw, mail_from=f"export@{who}.example", rcpts=(f"{who}@in.example.jp",)
    )
    assert (step, code) == ("DATA", 250), reply
    [run_id] = queued_ids(reply)
    return daemon.wait_run(run_id)


def _stored(daemon: Daemon, run: dict) -> list[int]:
    found = daemon.query("SELECT member_no FROM performance WHERE _run_id = ?", (run["id"],))
    return sorted(int(member) for (member,) in found)


def _lines(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def _base64_pieces(data: bytes, pieces: int) -> str:
    """`data` in base64 as one piece, or as two each with its padding, as some
    streaming encoders write an attachment."""
    if pieces == 1:
        return _lines(data)
    first = len(csv_bytes(ROWS[:1]))  # the header and one row: 60 bytes plus 2, padded
    assert first % 3 != 0
    return _lines(data[:first]) + _lines(data[first:])


def _csv_part(text: str, name: str = "20241230.csv") -> tuple[str, str]:
    return (
        "Content-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{name}"',
        text,
    )


def test_base64_in_padded_pieces_imports_every_row(daemon):
    """binascii stopped at the first padding: 1 row of 10 kept, and the run completed."""
    encoded = _base64_pieces(csv_bytes(ROWS), pieces=2)
    assert "=\r\n" in encoded.rstrip()  # a padded piece before the end
    run = _run(daemon, _raw("data", _csv_part(encoded)))
    assert run["state"] == "completed", run
    assert run["rows_imported"] == 10
    assert _stored(daemon, run) == list(range(3000, 3010))


@pytest.mark.parametrize("pieces", [1, 2])
def test_base64_cut_short_still_fails_as_a_file_cut_short(daemon, pieces):
    # 18 characters off the end, in the middle of a group: `3009,2024/` is left of
    # the last row, two cells of its four.
    cut = _base64_pieces(csv_bytes(ROWS), pieces).rstrip()[:-18]
    run = _run(daemon, _raw("data", _csv_part(cut)))
    assert run["state"] == "failed", run
    assert "途中で切れています" in run["message"], run["message"]
    assert _stored(daemon, run) == []


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "forwarded"])
def test_a_mail_cut_off_between_two_records_fails_and_imports_nothing(daemon, nested):
    """A gateway that cuts a mail off leaves its multipart without the closing
    boundary. Where the cut fell at a record's end, the rows that came were imported
    as a completed run, and under replace_file put in place of the whole file's."""
    whole = _run(daemon, _raw("data", _csv_part(_lines(csv_bytes(ROWS)))))
    assert whole["rows_imported"] == 10
    # Of the attachment, its first four rows (the header and 4 rows: 3 base64 lines of
    # 76 characters hold 171 bytes; cut where those four rows end, on a group).
    data = csv_bytes(ROWS)
    four = len(csv_bytes(ROWS[:4]))
    kept = four - four % 3
    text = base64.b64encode(data[:kept]).decode()
    raw = _raw("data", _csv_part(text)).rsplit(b"--BB--", 1)[0]
    if nested:
        inner = raw
        raw = (
            "From: export@acme.example\r\nTo: acme@in.example.jp\r\nSubject: Fw: data\r\n"
            f"Message-ID: <{uuid.uuid4()}@acme.example>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="OO"\r\n\r\n'
            "--OO\r\nContent-Type: text/plain\r\n\r\nforwarded\r\n"
            "--OO\r\nContent-Type: message/rfc822\r\n\r\n"
        ).encode("ascii") + inner
    run = _run(daemon, raw)
    assert run["state"] == "failed", run
    assert "メールが途中で切れていて" in run["message"], run["message"]
    assert run["filename"] == "20241230.csv"
    assert _stored(daemon, run) == []
    # The whole file's rows stand.
    assert _stored(daemon, whole) == list(range(3000, 3010))


def test_base64_with_characters_it_has_not_fails_saying_so(daemon):
    """binascii passed over `!` and `*` and read the rest as the file: the partner was
    told the header lacked its columns."""
    run = _run(daemon, _raw("data", _csv_part("!!!notbase64***")))
    assert run["state"] == "failed", run
    assert "base64 が壊れています" in run["message"], run["message"]


NAME = "①売上㈱髙20241230.csv"
# 売上①㈱ as Outlook writes it (CP50221): ① and ㈱ in NEC row 13, which JIS X 0208 leaves
# empty and Python's iso2022_jp codec cannot read.
ISO_2022_JP_SUBJECT = "=?ISO-2022-JP?B?GyRCR2Q+ZS0hLWobKEI=?="
ISO_2022_JP_NAME = (
    "=?ISO-2022-JP?B?" + base64.b64encode(b"\x1b$BGd>e-!-j\x1b(B20241230.csv").decode() + "?="
)


def _windows_31j_word(text: str) -> str:
    return "=?Windows-31J?B?" + base64.b64encode(text.encode("cp932")).decode() + "?="


def _named_part(kind: str, name_parameter: str) -> tuple[str, str]:
    return (
        f"Content-Type: {kind}\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; {name_parameter}",
        _lines(csv_bytes(ROWS[:2])),
    )


@pytest.mark.parametrize("kind", ["application/octet-stream", "text/csv"])
@pytest.mark.parametrize(
    "name_parameter",
    [
        f'filename="{_windows_31j_word(NAME)}"',  # RFC 2047, as JavaMail writes it
        "filename*=Windows-31J''" + "".join(f"%{b:02X}" for b in NAME.encode("cp932")),
    ],
    ids=["RFC 2047", "RFC 2231"],
)
def test_a_name_labelled_windows_31j_is_read_as_cp932(daemon, kind, name_parameter):
    """Python knows no windows-31j: the name was lost, and the CSV not found."""
    run = _run(daemon, _raw("data", _named_part(kind, name_parameter), who="anyname"), "anyname")
    assert run["state"] == "completed", run
    assert (run["filename"], run["rows_imported"]) == (NAME, 2)


def test_an_iso_2022_jp_name_keeps_its_nec_special_characters(daemon):
    part = _named_part("application/octet-stream", f'filename="{ISO_2022_JP_NAME}"')
    run = _run(daemon, _raw("data", part, who="anyname"), "anyname")
    assert run["state"] == "completed", run
    assert (run["filename"], run["rows_imported"]) == ("売上①㈱20241230.csv", 2)


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        (_windows_31j_word("6月分 売上①㈱髙"), "6月分 売上①㈱髙"),
        (ISO_2022_JP_SUBJECT, "売上①㈱"),
    ],
    ids=["Windows-31J", "ISO-2022-JP with NEC row 13"],
)
def test_a_subject_as_java_and_windows_mailers_write_it_is_shown(
    daemon, module_relay, written, shown
):
    """A mail without a CSV names its Subject: it was shown garbled, or with U+FFFD."""
    run = _run(daemon, _raw(written))
    assert run["state"] == "failed", run
    assert f"メールの件名: 「{shown}」" in run["message"], run["message"]
    [report] = module_relay.for_recipient("ops@acme.example", about=run["id"])
    assert f"「{shown}」" in report.get_body().get_content()


def test_a_csv_part_written_in_iso_2022_jp_is_read_as_its_label_says(daemon):
    """A mailer that writes text parts in JIS labels the CSV `charset=ISO-2022-JP`: it
    was read as UTF-8, and the run failed naming a header of escape codes. It is kept
    as Shift_JIS, which holds every character JIS carries (Outlook's ① and ㈱ too)."""
    jis = b"\x1b$BGd>e-!-j\x1b(B"  # 売上①㈱, NEC row 13 as Outlook writes it
    text = b"member_no,date,sales_amount,note\r\n3100,2024/05/16,1," + jis + b"\r\n"
    headers = (
        'Content-Type: text/csv; charset="ISO-2022-JP"; name="20240517.csv"\r\n'
        "Content-Transfer-Encoding: 7bit"
    )
    run = _run(daemon, _raw("data", (headers, text.decode("ascii"))))
    assert (run["state"], run["rows_imported"], run["encoding"]) == ("completed", 1, "cp932"), run
    [(note,)] = daemon.query("SELECT note FROM performance WHERE _run_id = ?", (run["id"],))
    assert note == "売上①㈱"


@pytest.mark.parametrize(
    ("label", "name", "encoding"),
    [("ISO-2022-JP", "鄧さん", "cp932"), ("ISO-2022-JP-2", "鬙さん", "utf-8-sig")],
)
def test_a_jis_csv_part_with_jis_x_0212_characters_is_read_whole(daemon, label, name, encoding):
    """鄧 and 鬙 are JIS X 0212's (ISO-2022-JP-2 writes them): the part was kept as its
    escape codes, read as UTF-8 and imported as them, every row. Kept as Shift_JIS
    where it holds them (鄧, an IBM extension), else as UTF-8 with a BOM."""
    text = "member_no,date,sales_amount,note\r\n3101,2024/05/16,1,東京都\r\n"
    text += f"3102,2024/05/16,1,{name}\r\n"
    headers = (
        f'Content-Type: text/csv; charset="{label}"; name="20240518.csv"\r\n'
        "Content-Transfer-Encoding: 7bit"
    )
    run = _run(daemon, _raw("data", (headers, text.encode("iso2022_jp_2").decode("ascii"))))
    assert (run["state"], run["rows_imported"], run["encoding"]) == ("completed", 2, encoding), run
    notes = daemon.query("SELECT note FROM performance WHERE _run_id = ?", (run["id"],))
    assert notes == [("東京都",), (name,)]


def test_a_jis_csv_part_that_cannot_be_read_fails_saying_it_is_jis(daemon):
    """A set ISO-2022-JP has no name for (ESC $ ( Q, JIS X 0213): its escape codes were
    imported as text."""
    jis = b"\x1b$BEl5~ET\x1b(B"  # 東京都
    text = b"member_no,date,sales_amount,note\r\n3103,2024/05/16,1," + jis
    text += b"\r\n3104,2024/05/16,1,\x1b$(Q!!\x1b(B\r\n"
    headers = (
        'Content-Type: text/csv; charset="ISO-2022-JP"; name="20240519.csv"\r\n'
        "Content-Transfer-Encoding: 7bit"
    )
    run = _run(daemon, _raw("data", (headers, text.decode("ascii"))))
    assert run["state"] == "failed", run
    assert "ISO-2022-JP(JIS)のファイルのようです" in run["message"], run
    assert daemon.query("SELECT note FROM performance WHERE _run_id = ?", (run["id"],)) == []
