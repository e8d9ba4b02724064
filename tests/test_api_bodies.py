"""POST /api/v1/imports with a multipart body that is not whole: said as such
(`unreadable_request`), not as a request without a file (handlers/api.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from importers.messages import message
from tests.support import Daemon, account, csv_bytes, write_config

TOKEN = {"Authorization": "Bearer demo-acme-token"}
BOUNDARY = "renkei-test-boundary"
FORM = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
HEAD = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="file"; filename="20240516.csv"\r\n'
    "Content-Type: text/csv\r\n\r\n"
).encode()
CSV = csv_bytes(["1,2024/05/16,100,a", "2,2024/05/16,200,b"])
WHOLE = HEAD + CSV + f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bodies")
    accounts = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    d = Daemon(write_config(folder, accounts)).start()
    yield d
    d.terminate()


def _posted(daemon: Daemon, body: bytes | Iterator[bytes]) -> httpx.Response:
    return httpx.post(
        f"{daemon.api}/api/v1/imports", content=body, headers=TOKEN | FORM, timeout=30
    )


def _in_pieces(body: bytes, size: int) -> Iterator[bytes]:
    """Sent chunked, `size` bytes at a time: the closing boundary straddles chunks."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(len(HEAD) + 10, id="inside-the-file"),
        pytest.param(len(HEAD) + len(CSV) + 2, id="before-the-closing-boundary"),
        pytest.param(len(WHOLE) - 4, id="inside-the-closing-boundary"),
        pytest.param(len(HEAD) - 6, id="inside-the-part-headers"),
    ],
)
def test_a_multipart_body_cut_short_is_unreadable_not_missing_a_file(daemon, cut):
    reply = _posted(daemon, WHOLE[:cut])
    assert reply.status_code == 422, reply.text
    assert reply.json() == {
        "error": "unreadable_request",
        "message": message("api.unreadable_request.truncated", "ja"),
    }
    assert "途中で切れています" in reply.json()["message"]


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_a_whole_multipart_body_in_any_pieces_is_taken(daemon, size):
    reply = _posted(daemon, _in_pieces(WHOLE, size))
    assert reply.status_code == 202, reply.text
    assert daemon.wait_run(reply.json()["id"])["state"] == "completed"


def test_a_whole_body_without_the_file_part_is_still_missing_file(daemon):
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n'
        f"--{BOUNDARY}--\r\n"
    ).encode()
    reply = _posted(daemon, body)
    assert (reply.status_code, reply.json()["error"]) == (422, "missing_file"), reply.text


def _part(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


@pytest.mark.parametrize(
    ("body", "headers", "said"),
    [
        pytest.param(
            b"".join(_part(f"f{i}", "x") for i in range(1001)) + WHOLE,
            FORM,
            "multipart フォームの項目が多すぎます(上限 1000 個)",
            id="too-many-fields",
        ),
        pytest.param(
            _part("note", "x" * (1024 * 1024 + 1)) + WHOLE,
            FORM,
            "multipart フォームの項目が大きすぎます(ファイル以外の項目は 1 つ 1024 KB まで)",
            id="a-field-too-large",
        ),
        pytest.param(
            f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n".encode() + WHOLE,
            FORM,
            "multipart フォームに名前(Content-Disposition の name)のない項目があります",
            id="a-part-without-a-name",
        ),
        pytest.param(
            WHOLE,
            {"Content-Type": "multipart/form-data"},
            "multipart フォームの境界(Content-Type の boundary)が指定されていません",
            id="no-boundary",
        ),
    ],
)
def test_what_the_form_parser_refuses_is_said_in_the_daemons_language(daemon, body, headers, said):
    # The parser's own English sentence used to follow the Japanese one.
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports", content=body, headers=TOKEN | headers, timeout=30
    )
    assert reply.status_code == 422, reply.text
    assert reply.json() == {"error": "unreadable_request", "message": said}


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ('{"masterId": "0"', "「settings」は JSON として読めません(1行 17文字目)"),
        ("[" * 100_000, "「settings」の JSON は入れ子が深すぎます"),
    ],
)
def test_settings_that_are_no_json_are_said_where(tmp_path, settings, said):
    accounts = account("exp") + (
        '[accounts.exp.api]\ntoken = "demo-exp"\nbody = "json"\njson_field = "settings"\n'
    )
    d = Daemon(write_config(tmp_path, accounts)).start()
    try:
        reply = httpx.post(
            f"{d.api}/api/v1/imports",
            files={"file": ("20240516.csv", CSV)},
            data={"settings": settings},
            headers={"Authorization": "Bearer demo-exp"},
            timeout=30,
        )
    finally:
        d.terminate()
    assert reply.status_code == 422, reply.text
    assert reply.json() == {"error": "bad_settings", "message": said}


@pytest.mark.parametrize("text_first", [True, False])
def test_a_text_field_under_the_files_part_name_is_said_as_such(daemon, text_first):
    """Said as "2 files" with the text first, as "no file name" with the file first."""
    file_part = HEAD + CSV + b"\r\n"
    parts = [_part("file", "hello"), file_part]
    body = b"".join(parts if text_first else parts[::-1]) + f"--{BOUNDARY}--\r\n".encode()
    reply = _posted(daemon, body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "unexpected_file"
    assert "ファイルとテキストの項目の両方" in reply.json()["message"]


def test_settings_sent_as_a_file_part_are_read_as_json(tmp_path):
    """A browser's FormData.append("settings", new Blob([json])) sends a file part
    (filename="blob", application/json): refused as "not a text field"."""
    accounts = account("exp") + (
        '[accounts.exp.api]\ntoken = "demo-exp"\nbody = "json"\njson_field = "settings"\n'
        '[accounts.exp.api.params.import_type]\n"1" = { mode = "insert" }\n'
    )
    d = Daemon(write_config(tmp_path, accounts)).start()
    try:
        reply = httpx.post(
            f"{d.api}/api/v1/imports?wait=true",
            files={
                "file": ("20240516.csv", CSV),
                "settings": ("blob", b'{"import_type": "1"}', "application/json"),
            },
            headers={"Authorization": "Bearer demo-exp"},
            timeout=30,
        )
    finally:
        d.terminate()
    assert reply.status_code == 200, reply.text
    assert (reply.json()["state"], reply.json()["mode"]) == ("completed", "insert")
