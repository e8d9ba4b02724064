"""What an operator reads, in words and not codes, against the real daemon: every
refusal's reason on the console's overview, the flag a bad query names, a run that
holds no file (no error CSV link, no dot file, no size), and the catalog's Japanese
punctuation."""

from __future__ import annotations

import html
import os
import re
import time

import httpx
import pytest

from importers.messages import CATALOG, Sentences, Words
from tests.console_support import login, users_toml
from tests.support import (
    ROOT,
    Daemon,
    account,
    csv_bytes,
    mail,
    queued_ids,
    renkei,
    send,
    write_config,
)

ACME = {"Authorization": "Bearer demo-acme-token"}
ADMIN = {"Authorization": "Bearer demo-admin"}
ACCOUNTS = (
    account("acme")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + '[accounts.acme.dropdir]\npath = "drop"\nsettle = 0.2\n'
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("operator-words")
    (folder / "drop").mkdir()
    config = write_config(
        folder, ACCOUNTS, extra=users_toml({"admin": ("admin", [])}), relay_port=module_relay.port
    )
    d = Daemon(config).start()
    yield d
    if d.proc.poll() is None:
        d.terminate()


def wait_for_refusal(d: Daemon, reason: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(f"{d.api}/api/v1/refusals", headers=ADMIN)
        found = [r for r in answer.json()["refusals"] if r["reason"] == reason]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no refusal {reason}: {answer.json()}")


def refusal_reasons(page: str) -> list[str]:
    """The reason cells of the overview's refusal list, as the reader sees them."""
    table = re.search(r'<table class="refusals">(.*?)</table>', page, re.S)
    assert table is not None, page
    cells = re.findall(r"<td>([^<]*)<br><small>", table.group(1))
    return [html.unescape(cell) for cell in cells]


def documented_reasons() -> set[str]:
    """The `reason` column of README's table of refusals, the words in parentheses
    (fields and settings it names) left out."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Refusals", 1)[1].split("\n### ", 1)[0]
    found: set[str] = set()
    for line in section.splitlines():
        cells = line.split(" | ")
        if not line.startswith("| ") or len(cells) < 3 or cells[0] == "| channel":
            continue
        depth, outside = 0, []
        for char in cells[2]:
            depth += char == "("
            if depth == 0:
                outside.append(char)
            depth -= char == ")"
        found.update(re.findall(r"`([a-z_]+)`", "".join(outside)))
    return found


def test_every_refusal_reason_has_words_in_both_languages():
    reasons = documented_reasons()
    # The doors' codes as README lists them: dropdir's and a reload's too.
    assert {"symlink", "unreadable", "account_removed", "too_slow", "no_token"} <= reasons
    missing = [r for r in sorted(reasons) if f"console.refusal.reason.{r}" not in CATALOG]
    assert missing == []
    for reason in reasons:
        words = CATALOG[f"console.refusal.reason.{reason}"]
        assert words["ja"] and words["en"] and words["ja"] != reason


def test_a_symlink_in_the_drop_folder_is_said_in_words_on_the_overview(daemon):
    os.symlink("/etc/passwd", daemon.config.parent / "drop" / "20240901.csv")
    wait_for_refusal(daemon, "symlink")
    web = login(daemon.api, "admin")
    try:
        assert "シンボリックリンク" in refusal_reasons(web.get("/console/").text)
        assert web.get("/console/lang/en", params={"next": "/console/"}).status_code == 303
        assert "symbolic link" in refusal_reasons(web.get("/console/").text)
    finally:
        web.close()


@pytest.mark.parametrize(
    ("query", "ja", "en"),
    [
        (
            "dry_run",
            "dry_run: '' は true / false ではありません",
            "dry_run: '' is not true or false",
        ),
        (
            "wait=maybe",
            "wait: 'maybe' は true / false ではありません",
            "wait: 'maybe' is not true or false",
        ),
    ],
)
def test_a_flag_neither_yes_nor_no_is_named(daemon, query, ja, en):
    url = f"{daemon.api}/api/v1/imports?{query}"
    files = {"file": ("20240901.csv", csv_bytes(["1,2024/09/01,1,a"]))}
    for language, said in (("ja", ja), ("en", en)):
        headers = {**ACME, "Accept-Language": language}
        answer = httpx.post(url, headers=headers, files=files)
        assert answer.status_code == 422
        assert answer.json() == {"error": "bad_query", "message": said}


def mailed_without_file(d: Daemon) -> dict:
    _, code, reply = send(d.smtp_port, mail([]))
    assert code == 250, reply
    run = d.wait_run(queued_ids(reply)[0])
    assert run["state"] == "failed" and run["filename"] == "" and run["error_report"] == ""
    return run


def test_a_run_without_a_file_offers_no_error_csv_of_a_dot_name(daemon):
    empty = mailed_without_file(daemon)
    _, _, reply = send(daemon.smtp_port, mail([("20240902.csv", csv_bytes(["2,x,x,a"]))]))
    bad = daemon.wait_run(queued_ids(reply)[0])
    assert bad["rows_failed"] == 1 and bad["error_report"]
    web = login(daemon.api, "admin")
    try:
        table = web.get("/console/runs/table").text
    finally:
        web.close()
    rows = dict(re.findall(r'<tr data-run="([^"]+)"[^>]*>(.*?)</tr>', table, re.S))
    assert f"/console/runs/{bad['id']}/errors.csv" in rows[bad["id"]]
    assert "errors.csv" not in rows[empty["id"]]
    answer = httpx.get(f"{daemon.api}/api/v1/runs/{empty['id']}/errors.csv", headers=ADMIN)
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == "attachment; filename*=utf-8''errors.csv"
    assert len(answer.content.splitlines()) == 1  # the header row alone


def test_show_of_a_run_without_a_file_says_no_size(daemon):
    empty = mailed_without_file(daemon)
    shown = renkei("show", empty["id"], "--config", str(daemon.config))
    assert shown.returncode == 0, shown.stderr
    assert "サイズ: -\n" in shown.stdout and "0 バイト" not in shown.stdout


def test_japanese_entries_use_ascii_parentheses_without_a_space_before():
    full_width = [key for key, words in CATALOG.items() if re.search("[（）]", words["ja"])]
    assert full_width == []
    assert CATALOG["os.refused"]["ja"] == "接続を拒否されました(起動していないか、別のポートです)"
    for key in ("ftp.no_data", "ftp.unseen_name", "ftp.long_name", "ftp.nul_path"):
        assert "(" in CATALOG[key]["ja"] and ")" in CATALOG[key]["ja"]


def test_japanese_sentences_of_a_send_follow_each_other_without_a_space():
    split = Words("send.split.tried", {"rows": 10, "bytes": 100, "parts": 2})
    failed = Words(
        "send.part_failed", {"parts": 2, "seq": 2, "status": 500, "total": 13, "sent": 10}
    )
    words = Sentences([split, failed], " ")
    assert "送信しようとしました。2 件中 2 件目" in words.say("ja")
    assert "split into 2 requests. Request 2 of 2" in words.say("en")
    assert Sentences([], " ").say("ja") == ""  # a send whose notes and outcome are none


def test_counts_are_said_with_thousands_separators_in_every_sentence():
    """A send's report said "120013 of 120,013 rows sent", a run's "29000 total" beside
    "29,000 rows with errors skipped", the API "larger than 3145728 bytes"."""
    from importers.messages import message

    counts = {"total": 120013, "imported": 120013, "failed": 0}
    assert message("report.counts", "en", **counts) == "120,013 total / 120,013 imported / 0 failed"
    assert (
        message("report.counts", "ja", **counts) == "全 120,013 行 / 取込 120,013 行 / エラー 0 行"
    )
    assert message("send.counts", "en", sent=120013, total=120013) == "120,013 of 120,013 rows sent"
    assert (
        message("api.too_large", "en", limit=3145728) == "the file is larger than 3,145,728 bytes"
    )
    # A value said already (not a number) goes as it is.
    assert message("api.too_large", "en", limit="-") == "the file is larger than - bytes"


def test_counts_in_subjects_and_results_have_separators_too():
    from importers.messages import message

    said = message("report.subject.partial", "ja", account="acme", filename="a.csv", failed=14500)
    assert said == "[renkei] 一部取込: acme a.csv (エラー 14,500件)"
    assert message("done.inserted", "en", n=14500) == "14,500 inserted"
    assert message("file.too_large", "ja", size=659307, limit=20000) == (
        "ファイルが大きすぎます(659,307 バイト、上限 20,000 バイト)"
    )
