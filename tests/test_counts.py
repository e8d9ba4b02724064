"""Honest counts: a run says its mode and what its rows did — inserted, updated,
skipped, deleted, not found, in error, empty — in the API, the CLI and the report mail,
where it is also said in words."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from daemon.report.message import DONE, summary
from tests import support
from tests.support import Daemon, mail, queued_ids, send, write_config

MEMBERS = """
[layouts.members]
key = ["member_no"]
columns = [
  { name = "member_no", type = "int",  required = true },
  { name = "name",      type = "text" },
  { name = "status",    type = "text" },
]
"""
ACME = """
[accounts.acme]
layout = "members"
mode = "upsert"
error_report_to = ["ops@acme.example"]
success_report_to = ["sales@acme.example"]
[accounts.acme.mail]
address = "acme@in.example.jp"
allowed_senders = ["export@acme.example"]
[accounts.acme.api]
token = "demo-acme"
path = "/push/acme"
token_header = "X-Token"
file_field = "csv"
body = "form-data"
[accounts.acme.api.params.mode]
"upsert" = { mode = "upsert", on_duplicate = "update" }
"keep" = { mode = "upsert", on_duplicate = "skip" }
"close" = { mode = "set", set_values = { status = "closed" } }
"delete" = { mode = "delete" }
"""
HEADER = "member_no,name,status"
COUNTS = ("inserted", "updated", "skipped", "deleted", "not_found", "failed", "empty")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("counts")
    d = Daemon(write_config(folder, ACME, MEMBERS, relay_port=module_relay.port)).start()
    yield d
    d.terminate()


def push(daemon, mode: str, name: str, *lines: str, dry_run: bool = False) -> dict:
    params = {"wait": "true"} | ({"dry_run": "true"} if dry_run else {})
    reply = httpx.post(
        f"{daemon.api}/push/acme",
        headers={"X-Token": "demo-acme"},
        files={"csv": (name, ("\r\n".join([HEADER, *lines]) + "\r\n").encode(), "text/csv")},
        data={"mode": mode},
        params=params,
        timeout=60,
    )
    assert reply.status_code in (200, 422), reply.text
    return reply.json()


def counts(run: dict) -> tuple[int, ...]:
    return tuple(run[f"rows_{kind}"] for kind in COUNTS)


def report_body(relay, name: str, to: str = "sales@acme.example") -> str:
    [report] = relay.for_recipient(to, about=name)
    return report.get_body().get_content()


def test_upsert_says_what_was_new_and_what_was_updated(daemon, module_relay):
    run = push(daemon, "upsert", "20240501.csv", "1,一,active", "2,二,active", "3,三,active")
    assert (run["mode"], counts(run)) == ("upsert", (3, 0, 0, 0, 0, 0, 0))
    run = push(daemon, "upsert", "20240502.csv", "3,参,active", ",,", "4,四,active", "1,壱,")
    assert counts(run) == (1, 2, 0, 0, 0, 0, 1)
    assert (run["rows_total"], run["rows_imported"]) == (3, 3)
    body = report_body(module_relay, "20240502.csv")
    assert "経路: API" in body
    assert "取込方法: 登録・更新(キーで照合)" in body
    assert "結果: 1 件を新規登録、2 件を更新、空行 1 行は読み飛ばしました。" in body


def test_a_key_set_cannot_find_is_not_found_and_not_imported(daemon, module_relay):
    push(daemon, "upsert", "20240503.csv", "10,十,active", "11,十一,active")
    run = push(daemon, "close", "20240504.csv", "10,,", "99,,", "98,,")
    assert (run["mode"], counts(run)) == ("set", (0, 1, 0, 0, 2, 0, 0))
    assert (run["rows_total"], run["rows_imported"]) == (3, 1)
    body = report_body(module_relay, "20240504.csv")
    assert "全 3 行 / 取込 1 行 / エラー 0 行" in body
    assert "取込方法: 値の設定(キーで照合)" in body
    assert "結果: 1 件を更新、2 件はキーが見つからず処理しませんでした。" in body
    assert daemon.query("SELECT status FROM members WHERE member_no = 10") == [("closed",)]


def test_a_key_listed_twice_is_set_twice_and_deleted_once(daemon, module_relay):
    push(daemon, "upsert", "20240505.csv", "20,二十,active", "21,二十一,active")
    run = push(daemon, "close", "20240506.csv", "20,,", "20,,")
    assert counts(run) == (0, 2, 0, 0, 0, 0, 0)
    run = push(daemon, "delete", "20240507.csv", "20,,", "21,,", "20,,", "97,,")
    assert (run["mode"], counts(run)) == ("delete", (0, 0, 0, 2, 2, 0, 0))
    body = report_body(module_relay, "20240507.csv")
    assert "取込方法: 削除(キーで照合)" in body
    assert "結果: 2 件を削除、2 件はキーが見つからず処理しませんでした。" in body
    assert daemon.query("SELECT count(*) FROM members WHERE member_no IN (20, 21)") == [(0,)]


def test_upsert_that_keeps_existing_rows_counts_them_skipped(daemon, module_relay):
    push(daemon, "upsert", "20240508.csv", "30,三十,active")
    run = push(daemon, "keep", "20240509.csv", "30,別名,", "31,三十一,active")
    assert counts(run) == (1, 0, 1, 0, 0, 0, 0) and run["rows_imported"] == 1
    body = report_body(module_relay, "20240509.csv")
    assert "結果: 1 件を新規登録、1 件は登録済みのため変更しませんでした。" in body
    assert daemon.query("SELECT name FROM members WHERE member_no = 30") == [("三十",)]


def test_a_rejected_file_says_nothing_was_written(daemon, module_relay):
    run = push(daemon, "upsert", "20240510.csv", "40,四十,", "x,誤り,")
    assert (run["state"], run["rows_failed"], counts(run)[:5]) == ("failed", 1, (0,) * 5)
    body = report_body(module_relay, "20240510.csv", to="ops@acme.example")
    assert "結果: 何も書き込んでいません。" in body
    assert daemon.query("SELECT count(*) FROM members WHERE member_no = 40") == [(0,)]


def test_mail_names_the_channel_in_words(daemon, module_relay):
    csv = f"{HEADER}\r\n50,五十,active\r\n".encode()
    _, code, reply = send(daemon.smtp_port, mail([("20240511.csv", csv)]))
    assert code == 250
    run = daemon.wait_run(queued_ids(reply)[0])
    assert run["rows_inserted"] == 1
    body = report_body(module_relay, "20240511.csv")
    assert "経路: メール" in body and "結果: 1 件を新規登録。" in body


def renkei(daemon, *args: str) -> subprocess.CompletedProcess:
    return support.renkei(*args, "--config", str(daemon.config))


def test_cli_shows_the_mode_and_every_count(daemon, module_relay, tmp_path):
    push(daemon, "upsert", "20240512.csv", "60,六十,active")
    path = tmp_path / "20240513.csv"
    path.write_text(f"{HEADER}\r\n60,更新,\r\n61,新規,\r\n,,\r\n", encoding="utf-8")
    result = renkei(daemon, "import", str(path), "--account", "acme")
    assert result.returncode == 0, result.stderr
    first, sentence = result.stdout.splitlines()[:2]
    assert "登録・更新(キーで照合)" in first  # the mode as `show` says it; the counts below
    assert sentence == "1 件を新規登録、1 件を更新、空行 1 行は読み飛ばしました。"
    assert "経路: コマンド" in report_body(module_relay, "20240513.csv")

    runs = json.loads(renkei(daemon, "runs", "--json", "--limit", "1").stdout)
    assert counts(runs[0]) == (1, 1, 0, 0, 0, 0, 1) and runs[0]["mode"] == "upsert"
    table = renkei(daemon, "runs", "--limit", "1").stdout
    assert runs[0]["id"][-6:] in table  # the short id; the mode and counts in `show`
    shown = renkei(daemon, "show", runs[0]["id"][-6:]).stdout.splitlines()
    assert "取込方法: 登録・更新(キーで照合)" in shown
    assert "件数: 全 2 行 / 取込 2 行 / エラー 0 行" in shown  # the empty line is no row
    assert f"結果: {sentence}" in shown


def test_a_dry_run_says_it_is_one(daemon):
    run = push(daemon, "close", "20240514.csv", "1,,", "96,,", dry_run=True)
    assert run["dry_run"] is True and counts(run) == (0, 1, 0, 0, 1, 0, 0)
    assert daemon.query("SELECT status FROM members WHERE member_no = 1") == [("",)]
    assert summary(run, "ja") == (
        "試行のみ(dry run)のため何も書き込んでいません。"
        "実際に取り込むと: 1 件を更新、1 件はキーが見つからず処理しませんでした。"
    )
    [listed] = json.loads(renkei(daemon, "runs", "--json", "--limit", "1").stdout)
    assert listed["dry_run"] is True and listed["id"] == run["id"]


def test_english_report_in_words(tmp_path, relay):
    config = write_config(tmp_path, ACME, MEMBERS, relay_port=relay.port)
    config.write_text(config.read_text().replace("[report]\n", '[report]\nlanguage = "en"\n'))
    d = Daemon(config).start()
    try:
        push(d, "upsert", "20240601.csv", "1,one,active")
        run = push(d, "close", "20240602.csv", "1,,", "2,,")
        assert counts(run) == (0, 1, 0, 0, 1, 0, 0)
        body = report_body(relay, "20240602.csv")
        assert "Channel: API" in body and "Mode: set values (by key)" in body
        assert "Result: 1 updated, 1 not processed (key not found)." in body
    finally:
        d.terminate()


def test_a_run_recorded_before_the_counts_says_its_rows_imported():
    """A run an older renkei recorded has rows_imported but no inserted, updated, …:
    `show` and the console said "no rows to import" beside "2 imported", and a run
    with row errors only the rows it did not import."""
    older = {"state": "completed", "dry_run": 0, "rows_imported": 2, "rows_failed": 2}
    older |= {f"rows_{kind}": 0 for kind in DONE if kind != "failed"}
    assert summary(older, "ja") == ("2 件を取り込み、2 件はエラーのため取り込みませんでした。")
    assert summary(older | {"rows_failed": 0}, "en") == "2 imported."
    assert summary(older | {"rows_imported": 0, "rows_failed": 0}, "ja") == (
        "取り込む行はありませんでした。"
    )
