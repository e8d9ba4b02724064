"""One file in two encodings: a Shift_JIS header over rows a script appended in UTF-8
(importers/decoding.py), and a mail part in JIS mixing JIS X 0212 with Windows's NEC
characters or half-width kana (handlers/attachments.py), against the real importer
and daemon."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from importers.messages import message
from tests.support import Daemon, account, cli_import, queued_ids, send, write_config

SALES = """
[layouts.sales]
columns = [
  { name = "member_no", type = "int",  required = true, label = "会員番号" },
  { name = "day",       type = "date", required = true, label = "日付" },
  { name = "amount",    type = "int",  label = "売上金額" },
  { name = "note",      type = "text", label = "備考" },
]
"""
HEADER = "会員番号,日付,売上金額,備考"


def imported(tmp_path: Path, data: bytes, **keys) -> tuple[dict, list]:
    """`renkei import` of `data` for acme (layout sales): its run and the rows it left."""
    path = tmp_path / "20240516.csv"
    path.write_bytes(data)
    base = {"layout": "sales", "report": "never", "on_row_error": "skip", **keys}
    config = tmp_path / "renkei.toml"
    if not config.exists():
        write_config(tmp_path, account("acme", **base), extra=SALES)
    run = cli_import(config, path)
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        rows = db.execute(
            "SELECT member_no, day, amount, note FROM sales ORDER BY rowid"
        ).fetchall()
    return run, rows


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["CRLF", "LF", "CR"])
@pytest.mark.parametrize("encoding", ["auto"])
def test_a_shift_jis_header_over_utf8_rows_fails_naming_the_lines(tmp_path, newline, encoding):
    """A header saved from Excel, rows appended by a script: the run completed with every
    note stored as mojibake (東京都港区0 as 譚ｱ莠ｬ驛ｽ貂ｯ蛹ｺ0), CP932 reading UTF-8's bytes."""
    rows = "".join(f"{i},2024-05-16,{i},東京都港区{i}{newline}" for i in range(20))
    data = (HEADER + newline).encode("cp932") + rows.encode("utf-8")
    run, table = imported(tmp_path, data, encoding=encoding)
    assert run["state"] == "failed", run
    assert run["message"].endswith(
        "1行目は Shift_JIS、2行目からは UTF-8 のようです(1つのファイルに文字コードが混在しています)。"
        "1つの文字コードで保存し直してください"
    ), run
    assert table == []
    said = message("file.mixed_encodings", "en", line=1, utf8_line=2)
    assert said.startswith("line 1 looks like Shift_JIS and the lines from 2 on like UTF-8")


def test_the_shift_jis_line_is_named_after_ascii_lines(tmp_path):
    """An ASCII header, a Shift_JIS line, then UTF-8 rows: the Shift_JIS line is named."""
    data = b"member_no,day,amount,note\r\n" + "1,2024-05-16,1,東京都\r\n".encode("cp932")
    data += "".join(f"{i},2024-05-16,{i},大阪府大阪市\r\n" for i in range(2, 6)).encode()
    run, table = imported(tmp_path, data)
    assert run["state"] == "failed", run
    assert "2行目は Shift_JIS、3行目からは UTF-8 のようです" in run["message"], run
    assert table == []


def test_a_shift_jis_file_of_second_level_kanji_and_half_width_kana_imports(tmp_path):
    """Bytes of CP932 can read as UTF-8 Japanese by chance (苺ｲ as 䕲, 菫ｽ as 俽): a real
    Shift_JIS file, header first, is never taken for one in two encodings."""
    notes = ["苺ｲﾁｺﾞ", "菫ｽﾐﾚ 蛯ｴﾋﾞ", "濱田 ﾊﾏﾀﾞ", "髙橋 ﾀｶﾊｼ", "齋藤 ｻｲﾄｳ", "邉 ﾍﾞ", "鰺 ｱｼﾞ"]
    notes += ["ｶﾌﾞｼｷｶﾞｲｼｬ 蘆", "﨑 ｻｷ", "濵 ﾊﾏ"] * 20
    text = HEADER + "\r\n" + "".join(f"{i},2024/5/16,{i},{n}\r\n" for i, n in enumerate(notes))
    run, table = imported(tmp_path, text.encode("cp932"))
    assert (run["state"], run["encoding"], run["rows_imported"]) == (
        "completed",
        "cp932",
        len(notes),
    ), run
    assert [note for *_, note in table] == notes


def test_utf8_rows_under_a_utf8_header_still_import(tmp_path):
    rows = "".join(f"{i},2024-05-16,{i},東京都港区{i}\r\n" for i in range(20))
    run, table = imported(tmp_path, (HEADER + "\r\n" + rows).encode("utf-8"))
    assert (run["state"], run["encoding"], run["rows_imported"]) == ("completed", "utf-8", 20), run
    assert table[0] == (0, "2024-05-16", 0, "東京都港区0")


# -- a JIS mail part mixing character sets ---------------------------------------------


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("mixed")
    d = Daemon(write_config(folder, account("acme"), relay_port=module_relay.port)).start()
    yield d
    assert d.terminate() == 0


def _run(daemon: Daemon, part: bytes, label: str = "ISO-2022-JP") -> dict:
    """The run of a mail whose one attachment is `part`, 7-bit, labelled `label`."""
    raw = (
        "From: export@acme.example\r\nTo: acme@in.example.jp\r\nSubject: data\r\n"
        f"Message-ID: <{uuid.uuid4()}@acme.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="BB"\r\n\r\n'
        "--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
        f'--BB\r\nContent-Type: text/csv; charset="{label}"; name="20240520.csv"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n\r\n"
    ).encode("ascii")
    raw += part + b"\r\n--BB--\r\n"
    step, code, reply = send(
        daemon.smtp_port, raw, mail_from="export@acme.example", rcpts=("acme@in.example.jp",)
    )
    assert (step, code) == ("DATA", 250), reply
    [run_id] = queued_ids(reply)
    return daemon.wait_run(run_id)


@pytest.mark.parametrize(
    ("jis", "note", "encoding"),
    [
        # ① in NEC row 13 (CP50220), then 鄧 in JIS X 0212, each run closed to ASCII.
        (b"\x1b$B-!\x1b(B\x1b$(DbG\x1b(B", "①鄧", "cp932"),
        # ㈱ straight into JIS X 0212, without ASCII between.
        (b"\x1b$B-j\x1b$(DbG\x1b(B", "㈱鄧", "cp932"),
        (b"\x1b(I6E\x1b$(DbG\x1b(B", "ｶﾅ鄧", "cp932"),
        # 鬙, which CP932 lacks: kept as UTF-8 with a BOM, ① with it.
        (b"\x1b$B-!\x1b$(Dj,\x1b(B", "①鬙", "utf-8-sig"),
    ],
    ids=["NEC row 13", "no ASCII between", "half-width kana", "not in CP932"],
)
def test_a_jis_part_mixing_jis_x_0212_with_nec_characters_or_kana_imports(
    daemon, jis, note, encoding
):
    """Each alone imported; together both codecs failed, and the fallback read ESC $ ( D
    as a set it did not know: the part was refused as a JIS file."""
    text = b"member_no,date,sales_amount,note\r\n3200,2024/05/16,1,\x1b$BEl5~ET\x1b(B\r\n"
    text += b"3201,2024/05/16,2," + jis + b"\r\n"
    run = _run(daemon, text)
    assert (run["state"], run["rows_imported"], run["encoding"]) == ("completed", 2, encoding), run
    notes = daemon.query("SELECT note FROM performance WHERE _run_id = ?", (run["id"],))
    assert notes == [("東京都",), (note,)]


@pytest.mark.parametrize("encoding", ["auto", "cp932"])
def test_names_whose_shift_jis_bytes_read_as_utf8_still_import(tmp_path, encoding):
    """莉子 and 蛯子 in CP932 (e4 bb 8e 71, e5 82 8e 71) read as UTF-8 as one CJK
    character and a `q`: ten such names after the header made a real CP932 file
    "mixed", refused with no way round it, even under encoding = "cp932". Japanese
    read as UTF-8 counts in runs of two or more now, and a file said to be CP932 is
    taken as said."""
    names = ["莉子", "蛯子"] * 5
    text = HEADER + "\r\n" + "".join(f"{i},2024-05-16,{i},{n}\r\n" for i, n in enumerate(names))
    run, table = imported(tmp_path, text.encode("cp932"), encoding=encoding)
    assert (run["state"], run["encoding"]) == ("completed", "cp932"), run
    assert [row[3] for row in table] == names
