"""A CLI an admin can read: `renkei runs` fits 80 columns and cuts no state or count,
filters by account, state, channel and time; `renkei show` finds a run by its short id;
`renkei import --dry-run` writes and mails nothing; `renkei import` prints its row
errors and where the error CSV is; `renkei --version`."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
from importlib.metadata import version
from pathlib import Path

import pytest
from rich.cells import cell_len

from daemon.store.runs import RUN_FIELDS
from importers.messages import message
from tests.support import Daemon, account, csv_bytes, mail, queued_ids, send, write_config
from tests.test_cli import renkei

LONG_ACCOUNT = "beta-logistics-east"
LONG_FILE = "uriage_meisai_tokyo_honsha_20240516_final.csv"
BAD_ROWS = 25


@pytest.fixture(scope="module")
def admin(tmp_path_factory):
    """Real runs: one by mail, the rest by `renkei import`; the oldest received 10 days ago."""
    folder = tmp_path_factory.mktemp("admin")
    config = write_config(folder, account("acme") + account(LONG_ACCOUNT))
    daemon = Daemon(config).start()
    try:
        reply = send(daemon.smtp_port, mail([("20240510.csv", csv_bytes(["1,2024/05/10,1,m"]))]))
        daemon.wait_run(queued_ids(reply[2])[0])
    finally:
        assert daemon.terminate() == 0
    good = ["1,2024/05/16,10,a", "2,2024/05/16,20,b"]
    bad = ["1,2024/05/16,10,a"] + [f"x{i},2024/05/16,1,z" for i in range(BAD_ROWS)]
    imports = [
        ("acme", "20240516.csv", good, ()),
        ("acme", "20240517.csv", bad, ()),
        (LONG_ACCOUNT, LONG_FILE, good, ()),
        ("acme", "20240518.csv", good, ("--dry-run",)),
    ]
    outputs = {}
    for name, filename, rows, options in imports:
        path = folder / filename
        path.write_bytes(csv_bytes(rows))
        args = ("import", str(path), "--account", name, *options, "--config", str(config))
        outputs[filename] = renkei(*args)
    with contextlib.closing(sqlite3.connect(daemon.db_path)) as db, db:
        ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).isoformat(timespec="milliseconds")
        db.execute("UPDATE runs SET received_at = ? WHERE channel = 'mail'", (ago,))
    english = folder / "renkei.en.toml"
    text = config.read_text(encoding="utf-8").replace("[report]\n", '[report]\nlanguage = "en"\n')
    english.write_text(text, encoding="utf-8")
    daemon.outputs = outputs
    daemon.folder = folder
    daemon.english = english
    return daemon


def runs(admin, *args: str) -> list[dict]:
    result = renkei("runs", "--json", "--limit", "100", *args, "--config", str(admin.config))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def table(admin, *args: str, config=None, columns: int = 80) -> str:
    config = config or admin.config
    result = renkei("runs", *args, "--config", str(config), env={"COLUMNS": str(columns)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def run_line(text: str, run: dict) -> str:
    [line] = [line for line in text.splitlines() if line.startswith(run["id"][-6:] + " ")]
    return line


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("columns", [80, 132])
def test_runs_fit_the_width_and_cut_no_state_or_count(admin, language, columns):
    config = admin.config if language == "ja" else admin.english
    text = table(admin, config=config, columns=columns)
    assert "\x1b" not in text  # not a terminal: no colour codes
    lines = text.splitlines()
    assert all(cell_len(line) <= columns for line in lines), "\n".join(lines)
    for run in runs(admin):
        counts = f"{run['rows_total']}\\s+{run['rows_imported']}\\s+{run['rows_failed']}"
        # The state in the table's language: `--state` and --json take it as it is.
        state = message(f"console.state.{run['state']}", language)
        assert re.search(rf" {re.escape(state)}\s+{counts}$", run_line(text, run)), text
    heading = lines[0].split()
    assert heading[:2] == (["実行ID", "受付日時"] if language == "ja" else ["id", "received"])


def test_long_messages_and_names_give_way_not_the_counts(admin):
    text = table(admin)
    [long_run] = runs(admin, "--account", LONG_ACCOUNT)
    line = run_line(text, long_run)
    assert LONG_FILE not in line and re.search(r" uriage\S*…\S*\.csv ", line)  # the ends stay
    following = text.splitlines()[text.splitlines().index(line) + 1 :]
    note = []
    for part in following:
        if not part.startswith(" "):
            break
        note.append(part.strip())
    assert "".join(note).startswith(f"ファイル名「{LONG_FILE}」は規則に合いません")
    wide = table(admin, columns=200)
    assert LONG_FILE in wide and LONG_ACCOUNT in wide


def test_received_is_local_time_in_the_daemons_time_zone(admin):
    newest = runs(admin, "--limit", "1")[0]
    utc = dt.datetime.fromisoformat(newest["received_at"])
    tokyo = utc.astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert f" {tokyo:%m-%d %H:%M} " in run_line(table(admin), newest)


def test_every_filter_narrows(admin):
    every = runs(admin)
    assert len(every) == 5
    assert {r["account"] for r in runs(admin, "--account", LONG_ACCOUNT)} == {LONG_ACCOUNT}
    failed = runs(admin, "--state", "failed")
    assert failed and {r["state"] for r in failed} == {"failed"} and len(failed) < len(every)
    [by_mail] = runs(admin, "--channel", "mail")
    assert by_mail["filename"] == "20240510.csv"
    assert len(runs(admin, "--channel", "cli")) == 4
    both = runs(admin, "--account", "acme", "--state", "completed", "--channel", "cli")
    assert sorted(r["filename"] for r in both) == ["20240516.csv", "20240518.csv"]
    assert runs(admin, "--limit", "2") == every[:2]


def test_since_takes_a_span_a_date_or_a_time(admin):
    every = runs(admin)
    recent = runs(admin, "--since", "7d")
    assert len(recent) == 4 and "20240510.csv" not in {r["filename"] for r in recent}
    assert runs(admin, "--since", "12h") == recent
    assert runs(admin, "--since", "11d") == every
    tokyo = dt.timezone(dt.timedelta(hours=9))
    today = dt.datetime.now(tokyo)
    assert runs(admin, "--since", f"{today:%Y-%m-%d}") == recent
    assert runs(admin, "--since", f"{today - dt.timedelta(days=11):%Y-%m-%d}") == every
    assert runs(admin, "--since", f"{today + dt.timedelta(hours=1):%Y-%m-%dT%H:%M}") == []
    assert "該当する実行はありません" in table(admin, "--since", "2099-01-01")


@pytest.mark.parametrize("since", ["yesterday", "7 days", "2024-13-01", "3y", ""])
def test_a_since_not_understood_exits_2_saying_what_is_taken(admin, since):
    result = renkei("runs", "--since", since, "--config", str(admin.config))
    assert result.returncode == 2 and not result.stdout
    assert f"--since: {since!r} は日付(2024-05-16)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("since", ["0001-01-01", "9999-12-31", "999999999d", "9" * 20 + "w"])
def test_a_since_outside_the_calendar_exits_2_naming_the_years(admin, since):
    result = renkei("runs", "--since", since, "--config", str(admin.config))
    assert result.returncode == 2 and not result.stdout
    assert f"--since: {since!r} は日付" in result.stderr and "1970–9998 年" in result.stderr


def test_a_limit_past_what_the_store_counts_exits_2(admin):
    result = renkei("runs", "--limit", "9" * 20, "--config", str(admin.config))
    assert result.returncode == 2 and not result.stdout
    assert "--limit: 99999999999999999999 ではなく 1 から 100,000 まで" in result.stderr


def test_sweep_as_of_the_year_1_exits_2(admin):
    result = renkei("sweep", "--now", "0001-01-01T00:00", "--config", str(admin.config))
    assert result.returncode == 2 and not result.stdout
    assert "--now: '0001-01-01T00:00' は日時" in result.stderr and "1970–9998" in result.stderr


def test_bad_state_and_limit_exit_2(admin):
    result = renkei("runs", "--state", "done", "--config", str(admin.config))
    assert result.returncode == 2 and "queued, running, completed" in result.stderr
    result = renkei("runs", "--limit", "0", "--config", str(admin.config))
    assert result.returncode == 2 and "--limit" in result.stderr
    result = renkei("runs", "--channel", "fax", "--config", str(admin.config))
    assert result.returncode == 2 and not result.stdout
    assert "--channel: 'fax' ではなく mail, ftp, api, dropdir, cli, send" in result.stderr


def test_runs_json_keeps_its_shape(admin):
    every = runs(admin)
    assert all(list(run) == [*RUN_FIELDS, "send"] for run in every)
    assert [r["received_at"] for r in every] == sorted(
        (r["received_at"] for r in every), reverse=True
    )


def test_show_by_short_id_gives_counts_errors_and_file(admin):
    [bad] = runs(admin, "--account", "acme", "--state", "failed")
    result = renkei("show", bad["id"][-6:], "--config", str(admin.config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"実行ID: {bad['id']}"
    assert f"件数: 全 {BAD_ROWS + 1} 行 / 取込 0 行 / エラー {BAD_ROWS} 行" in lines
    assert "結果: 何も書き込んでいません。" in lines and "状態: 失敗" in lines
    assert f"エラー(先頭 20 件 / 全 {BAD_ROWS} 件):" in lines
    assert "  3行目 列「member_no」の値「x0」は整数ではありません" in lines
    assert f"  …ほか {BAD_ROWS - 20} 件" in lines
    assert "ファイル: 20240517.csv" in lines
    size = len(csv_bytes(["1,2024/05/16,10,a"] + [f"x{i},2024/05/16,1,z" for i in range(BAD_ROWS)]))
    assert f"サイズ: {size:,} バイト" in lines
    assert any(line.startswith("SHA-256: ") and len(line) == 9 + 64 for line in lines)
    kept = admin.data_dir / "files" / bad["id"] / "20240517.csv"
    assert f"保存先: {kept}" in lines and kept.read_bytes() == csv_bytes(
        ["1,2024/05/16,10,a"] + [f"x{i},2024/05/16,1,z" for i in range(BAD_ROWS)]
    )
    [error_csv] = [line for line in lines if line.startswith("エラーCSV: ")]
    path = error_csv.removeprefix("エラーCSV: ")
    assert path.endswith(f"reports/{bad['id']}/20240517.errors.csv")
    assert Path(path).read_bytes().count(b"\r\n") == BAD_ROWS + 1


def test_show_in_english_and_as_json(admin):
    [good] = runs(admin, "--account", "acme", "--since", "7d", "--state", "completed")[-1:]
    result = renkei("show", good["id"][:22], "--config", str(admin.english))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Rows: 2 total / 2 imported / 0 failed" in lines and "Result: 2 inserted." in lines
    assert "Mode: replace (the rows this file name imported before are replaced)" in lines
    assert not any(line.startswith("Error CSV") for line in lines)  # no errors to read
    shown = json.loads(renkei("show", good["id"], "--json", "--config", str(admin.config)).stdout)
    assert {k: shown[k] for k in [*RUN_FIELDS, "send"]} == good
    assert shown["errors"] == [] and shown["size"] > 0
    assert shown["kept_file"] == str(admin.data_dir / "files" / good["id"] / good["filename"])


def test_show_says_when_an_id_is_unknown_or_ambiguous(admin, tmp_path):
    unknown = renkei("show", "nosuchrun", "--config", str(admin.config))
    assert unknown.returncode == 1 and "'nosuchrun': そのIDの実行はありません" in unknown.stderr
    year = runs(admin, "--limit", "1")[0]["id"][:4]
    ambiguous = renkei("show", year, "--config", str(admin.english))
    assert ambiguous.returncode == 2
    heading, *candidates = ambiguous.stderr.splitlines()
    assert heading == f"'{year}' fits more than one run; give more of its id:"
    assert len(candidates) == 5 and all(c.startswith(f"  {year}") for c in candidates)


def test_show_save_copies_the_kept_file_and_the_error_csv(admin, tmp_path):
    [bad] = runs(admin, "--account", "acme", "--state", "failed")
    out = tmp_path / "out"
    result = renkei("show", bad["id"], "--save", str(out), "--config", str(admin.config))
    assert result.returncode == 0, result.stderr
    assert (out / "20240517.errors.csv").is_file()
    assert (out / "20240517.csv").read_bytes() == (admin.folder / "20240517.csv").read_bytes()


def test_show_save_onto_a_file_exits_2_and_leaves_it(admin, tmp_path):
    [bad] = runs(admin, "--account", "acme", "--state", "failed")
    there = tmp_path / "passwd"
    there.write_text("root:x:0:0\n")
    result = renkei("show", bad["id"], "--save", str(there), "--config", str(admin.config))
    assert result.returncode == 2 and not result.stdout
    assert f"--save: {there} はフォルダではなく既にあるファイルです" in result.stderr
    assert there.read_text() == "root:x:0:0\n"


def test_show_save_says_when_the_file_is_no_longer_kept(admin, tmp_path):
    [bad] = runs(admin, "--account", "acme", "--state", "failed")
    kept = admin.data_dir / "files" / bad["id"] / "20240517.csv"
    hidden = kept.with_name("gone")
    kept.rename(hidden)  # as the retention sweep leaves it
    try:
        out = tmp_path / "out"
        result = renkei("show", bad["id"], "--save", str(out), "--config", str(admin.config))
    finally:
        hidden.rename(kept)
    assert result.returncode == 1
    assert (out / "20240517.errors.csv").is_file() and not (out / "20240517.csv").exists()
    assert "受信したファイルは保存されていません" in result.stderr.splitlines()[-1]


def test_dry_run_writes_no_row_and_queues_no_mail(admin):
    result = admin.outputs["20240518.csv"]
    assert result.returncode == 0, result.stderr
    first, sentence, *_ = result.stdout.splitlines()
    assert "(試行のみ)" in first and "全 2 行 / 取込 2 行 / エラー 0 行" in first
    assert (
        sentence
        == "試行のみ(dry run)のため何も書き込んでいません。実際に取り込むと: 2 件を新規登録。"
    )
    [dry] = runs(admin, "--state", "completed", "--since", "7d", "--limit", "1")
    assert dry["dry_run"] is True and dry["report_state"] == "none"
    assert admin.query("SELECT count(*) FROM performance WHERE _source_file = '20240518.csv'") == [
        (0,)
    ]
    outbox = admin.data_dir / "outbox"
    assert not list(outbox.glob(f"{dry['id']}*"))
    [real] = runs(admin, "--account", "acme", "--state", "failed")
    assert list(outbox.glob(f"{real['id']}*"))  # a real run's report waits there (no relay)


def test_import_prints_its_row_errors_and_the_error_csv(admin):
    result = admin.outputs["20240517.csv"]
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    head = lines.index(f"エラー(先頭 20 件 / 全 {BAD_ROWS} 件):")
    errors = lines[head + 1 : head + 21]
    assert errors[0] == "  3行目 列「member_no」の値「x0」は整数ではありません"
    assert all(line.startswith("  ") and "行目" in line for line in errors)
    assert lines[head + 21] == f"  …ほか {BAD_ROWS - 20} 件"
    assert lines[head + 22].startswith("エラーCSV: ")
    error_csv = Path(lines[head + 22].removeprefix("エラーCSV: "))
    assert error_csv.read_bytes().startswith(b"member_no")
    good = admin.outputs["20240516.csv"].stdout
    assert "エラー(" not in good and "エラーCSV" not in good


def test_version():
    result = renkei("--version")
    assert result.returncode == 0 and result.stdout == f"renkei {version('renkei')}\n"


@pytest.mark.parametrize("command", ["digest", "expect-check"])
def test_a_moment_not_given_is_said_in_the_daemons_time_zone(admin, command):
    """Without --now the step runs as of now, said in daemon.timezone (Asia/Tokyo) as
    a given --now is, not in UTC."""
    result = renkei(command, "--config", str(admin.config))
    assert result.returncode == 0, result.stderr
    assert "+09:00 時点" in result.stdout, result.stdout
