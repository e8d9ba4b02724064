"""The `renkei` command: import, runs, help — each a thin call into the library."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from daemon.settings.model import WEEKDAYS
from tests.support import (
    ROOT,
    Daemon,
    account,
    csv_bytes,
    ftp_served,
    mail,
    queued_ids,
    renkei,
    send,
    send_as,
    weekday_ahead,
    write_config,
)

COMMANDS = ["serve", "check", "import", "runs", "show", "schedule", "poll", "expect-check"]


@pytest.fixture
def config(tmp_path, relay):
    return write_config(tmp_path, account("acme") + account("beta"), relay_port=relay.port)


def data_file(tmp_path, name: str, rows: list[str]):
    path = tmp_path / name
    path.write_bytes(csv_bytes(rows))
    return path


def test_import_commits_and_reports_like_the_daemon(tmp_path, config, relay):
    path = data_file(tmp_path, "20240516.csv", ["1,2024/05/16,10,①", "2,2024/05/16,20,②"])
    result = renkei("import", str(path), "--account", "acme", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert (run["state"], run["channel"], run["rows_imported"]) == ("completed", "cli", 2)
    assert run["sender"] == str(path.resolve()) and run["encoding"] == "cp932"
    [report] = relay.for_recipient("sales@acme.example")
    assert "取込完了" in report["Subject"]


def test_a_dry_run_of_a_file_of_no_rows_says_what_it_would_remove(tmp_path, config):
    """The preview said only "no rows to import" where the real import of a header-only
    file removes every row its name imported before."""
    path = data_file(tmp_path, "20240516.csv", ["1,2024/05/16,10,a", "2,2024/05/16,20,b"])
    assert renkei("import", str(path), "--account", "acme", "--config", str(config)).returncode == 0
    (tmp_path / "again").mkdir()
    empty = data_file(tmp_path / "again", "20240516.csv", [])
    args = ("import", str(empty), "--account", "acme", "--dry-run", "--config", str(config))
    result = renkei(*args)
    assert result.returncode == 0, result.stderr
    assert (
        "実際に取り込むと、同じ名前のファイルが前に取り込んだ 2 行は置き換えられます"
        in result.stdout
    )


def test_import_of_a_bad_file_exits_1_and_says_why(tmp_path, config):
    path = data_file(tmp_path, "20240516.csv", ["x,2024/05/16,10,a"])
    result = renkei("import", str(path), "--account", "acme", "--config", str(config))
    assert result.returncode == 1
    assert "失敗 ― 置換" in result.stdout and "1 行にエラー" in result.stdout
    as_json = renkei("import", str(path), "--account", "acme", "--json", "--config", str(config))
    run = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and run["state"] == "failed" and len(run["sha256"]) == 64
    [error] = run["errors"]
    assert (error["line"], error["column"], error["value"]) == (2, "member_no", "x")
    assert run["error_csv"].endswith("20240516.errors.csv")


def test_a_number_of_thousands_of_digits_is_a_row_error_on_its_line(tmp_path, config, relay):
    """Python's int() refuses a text of over 4,300 digits: such a cell is out of range,
    said on its line, where the whole run stayed queued for another attempt (and the
    daemon would have tried it again and again); zeros padding one are no such number.
    The sentence quotes the cell's start and its length; the cell stays whole in the
    error's value and the error CSV."""
    huge = "9" * 5000
    rows = ["1,2024/05/16,10,a", f"{huge},2024/05/16,20,b", "0" * 5000 + "3,2024/05/16,30,c"]
    path = data_file(tmp_path, "20240516.csv", rows)
    result = renkei("import", str(path), "--account", "acme", "--json", "--config", str(config))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    run = json.loads(result.stdout)
    assert (run["state"], run["rows_total"], run["rows_failed"]) == ("failed", 3, 1)
    [error] = run["errors"]
    assert (error["line"], error["column"], error["value"]) == (3, "member_no", huge)
    assert "整数として扱える範囲を超えています" in error["message"]
    assert "9" * 40 + "…(全5,000文字)" in error["message"] and len(error["message"]) < 200
    assert huge.encode() in Path(run["error_csv"]).read_bytes()
    [report] = relay.for_recipient("ops@acme.example")
    body = report.get_body().get_content()
    assert "…(全5,000文字)" in body and "9" * 41 not in body
    printed = renkei("show", run["id"], "--config", str(config))
    assert "…(全5,000文字)" in printed.stdout and "9" * 41 not in printed.stdout


def test_import_usage_errors_exit_2_without_traceback(tmp_path, config):
    path = data_file(tmp_path, "20240516.csv", ["1,2024/05/16,10,a"])
    result = renkei("import", str(path), "--account", "nobody", "--config", str(config))
    assert result.returncode == 2 and "'nobody' は設定にあるアカウント" in result.stderr
    result = renkei(
        "import", str(tmp_path / "missing.csv"), "--account", "acme", "--config", str(config)
    )
    assert result.returncode == 2 and "ファイルがありません" in result.stderr
    assert "Traceback" not in result.stderr
    # A folder is not taken for a missing file: the words say what to give instead.
    result = renkei("import", str(tmp_path), "--account", "acme", "--config", str(config))
    assert result.returncode == 2 and "フォルダです" in result.stderr, result.stderr
    assert "ファイルがありません" not in result.stderr


@pytest.mark.parametrize(
    "args", [["check"], ["serve"], ["runs"], ["import", "x.csv", "--account", "acme"]]
)
def test_a_folder_given_as_the_config_is_a_config_error(tmp_path, args):
    result = renkei(*args, "--config", str(tmp_path))
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.splitlines()[-1] == f"{tmp_path}: 設定ファイルではなくフォルダです"


def test_import_into_a_stopped_account_is_refused(tmp_path, relay):
    """By the config, or by the console's switch kept in data_dir, as the console's
    upload and a retry refuse it; it once imported and mailed a success report."""
    accounts = account("acme", status="stopped") + account("beta")
    config = write_config(tmp_path, accounts, relay_port=relay.port)
    path = data_file(tmp_path, "20240516.csv", ["1,2024/05/16,10,a"])
    result = renkei("import", str(path), "--account", "acme", "--config", str(config))
    assert result.returncode == 1 and "アカウント acme は連動稼働停止中です" in result.stderr
    switches = tmp_path / "var" / "switches.json"
    switches.parent.mkdir(exist_ok=True)
    switches.write_text(json.dumps({"beta": {"status": "stopped", "by": "admin", "at": "x"}}))
    result = renkei("import", str(path), "--account", "beta", "--config", str(config))
    assert result.returncode == 1 and "アカウント beta は連動稼働停止中です" in result.stderr
    runs = renkei("runs", "--json", "--config", str(config))
    assert json.loads(runs.stdout) == [] and relay.messages == []


def test_import_works_beside_a_running_daemon(tmp_path, config):
    daemon = Daemon(config).start()
    try:
        path = data_file(tmp_path, "20240517.csv", ["5,2024/05/17,50,x"])
        result = renkei("import", str(path), "--account", "beta", "--json", "--config", str(config))
        assert result.returncode == 0, result.stderr
        run_id = json.loads(result.stdout)["id"]
        seen = httpx.get(
            f"{daemon.api}/api/v1/runs/{run_id}", headers={"Authorization": "Bearer demo-admin"}
        ).json()
        assert seen["state"] == "completed" and seen["rows_imported"] == 1
    finally:
        assert daemon.terminate() == 0


def test_runs_lists_newest_first_as_json_and_table(tmp_path, config):
    for name in ("20240501.csv", "20240502.csv"):
        renkei(
            "import",
            str(data_file(tmp_path, name, ["1,2024/05/01,1,a"])),
            "--account",
            "acme",
            "--config",
            str(config),
        )
    result = renkei("runs", "--json", "--config", str(config))
    runs = json.loads(result.stdout)
    assert [r["filename"] for r in runs] == ["20240502.csv", "20240501.csv"]
    result = renkei("runs", "--account", "beta", "--json", "--config", str(config))
    assert json.loads(result.stdout) == []
    table = renkei("runs", "--limit", "1", "--config", str(config)).stdout
    assert runs[0]["id"][-6:] in table and runs[1]["id"][-6:] not in table


def test_the_config_may_come_before_the_command(tmp_path, config):
    """`renkei --config PATH runs`, as many tools take it: the path was read as the
    command's name, "no such command"."""
    renkei("import", str(data_file(tmp_path, "20240503.csv", ["1,2024/05/03,1,a"])),
           "--account", "acme", "--config", str(config))  # fmt: skip
    before = renkei("--config", str(config), "runs", "--json")
    assert before.returncode == 0, before.stderr
    assert [r["filename"] for r in json.loads(before.stdout)] == ["20240503.csv"]
    # The command's own wins over one before it.
    both = renkei(
        "--config", str(tmp_path / "none.toml"), "runs", "--json", "--config", str(config)
    )
    assert both.returncode == 0 and json.loads(both.stdout) == json.loads(before.stdout)


def test_import_does_not_load_the_web_framework_or_servers(tmp_path, config):
    path = data_file(tmp_path, "20240516.csv", ["1,2024/05/16,10,a"])
    probe = (
        "import sys; from daemon.cli import main; "
        f"main(['import', {str(path)!r}, '--account', 'acme', '--config', {str(config)!r}]); "
        "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'aiosmtpd', 'pandas')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


@pytest.mark.parametrize("args", [["check"], ["runs"]])
def test_output_into_a_closed_pipe_ends_quietly(tmp_path, config, args):
    """`renkei runs | head -1`: once the reader has gone, the command stops with the
    shell's code for it (141) and no traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    command = [sys.executable, "-m", "daemon.cli", *args, "--config", str(config)]
    with subprocess.Popen(command, cwd=ROOT, stdout=write, stderr=subprocess.PIPE) as proc:
        os.close(write)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141, err.decode()
    assert b"Traceback" not in err and b"Exception" not in err, err.decode()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = renkei(command, "--help")
    assert result.returncode == 0 and "--config" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_serve_on_a_port_in_use_exits_1_naming_the_key(tmp_path, config):
    daemon = Daemon(config).start()
    # The same ports, its own data_dir (one daemon per data_dir is refused before
    # it binds anything: test_serving.py).
    (tmp_path / "other").mkdir()
    second = tmp_path / "other" / "renkei.toml"
    second.write_text(config.read_text())
    try:
        # The doors open while the import process starts: a door that cannot bind
        # ends the start, and the import process started for it ends too.
        serve = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "serve", "--config", str(second)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, stderr = serve.communicate(timeout=120)
        assert serve.returncode == 1
        assert "cannot start: smtp.listen 127.0.0.1:" in stderr  # the journal's line
        # and the same in the config's language, for whoever started it at a terminal
        said = '起動できません: smtp.listen = "127.0.0.1:'
        assert said in stderr and "他のプロセスが使っています" in stderr, stderr
        assert "Traceback" not in stderr
        deadline = time.monotonic() + 10
        while children_of(serve.pid):
            assert time.monotonic() < deadline, f"left running: {children_of(serve.pid)}"
            time.sleep(0.1)
    finally:
        daemon.terminate()


def test_a_test_daemon_whose_port_was_taken_meanwhile_starts_on_another(tmp_path):
    # The tests' helper, not renkei: a port free when the test chose it may be taken by
    # the other test worker before the daemon binds it; the helper then moves it.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, account("acme"), api_port=port)
        daemon = Daemon(config).start()
        try:
            assert daemon.api_port != port
            assert f"127.0.0.1:{daemon.api_port}" in config.read_text()
            assert httpx.get(f"{daemon.api}/healthz").status_code == 200
            assert "api.listen 127.0.0.1:" in daemon.log.read_text()
        finally:
            daemon.terminate()


def children_of(master: int) -> list[int]:
    """Processes started by `renkei serve` of pid `master` (they carry its pid)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
                if f"RENKEI_MASTER_PID={master}".encode() in environ:
                    found.append(int(entry))
    return found


def on_a_terminal(path: Path, config: Path) -> tuple[subprocess.CompletedProcess, bytes]:
    """`renkei import path` with its stderr on a terminal: how it ended, and the screen."""
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "import",
            str(path),
            "--account",
            "acme",
            "--config",
            str(config),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=secondary,
        env={**os.environ, "TERM": "xterm"},
    )
    os.close(secondary)
    chunks: list[bytes] = []

    def read_screen() -> None:
        with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
            while data := os.read(primary, 65536):
                chunks.append(data)

    reader = threading.Thread(target=read_screen)
    reader.start()
    out, _ = proc.communicate(timeout=120)
    reader.join(10)
    os.close(primary)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out), b"".join(chunks)


def test_import_shows_a_progress_bar_on_a_terminal(tmp_path, config):
    path = data_file(tmp_path, "20240516.csv", [f"{i},2024/05/16,{i},x" for i in range(9000)])
    done, screen = on_a_terminal(path, config)
    assert done.returncode == 0 and "完了".encode() in done.stdout
    assert b"20240516.csv" in screen and "━".encode() in screen


def test_a_relay_that_never_answers_is_said_while_waited_for_and_after(tmp_path):
    """The report's one try waits `report.timeout` for a relay that takes the connection
    and says nothing: the terminal says what the command waits for, then that the mail
    waits in the outbox for a timeout, in the catalog's words (aiosmtplib's are English)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        config = write_config(tmp_path, account("acme"), relay_port=port)
        config.write_text(config.read_text().replace("timeout = 5", "timeout = 2"))
        path = data_file(tmp_path, "20240516.csv", ["1,2024/05/16,1,x"])
        done, screen = on_a_terminal(path, config)
    assert done.returncode == 0 and "完了".encode() in done.stdout
    assert f"報告メールをリレー 127.0.0.1:{port} に渡しています".encode() in screen, screen
    shown = screen.decode(errors="replace")
    assert "送信待ちとして残し" in shown and "応答がなく時間切れになりました" in shown, shown
    assert "Timed out" not in shown


def later_weekday() -> tuple[str, str]:
    """The day after tomorrow in Tokyo, as the config and `renkei schedule` name it: a
    window on it always has its first check next (a fixed weekday failed the schedule
    tests on that day during its window)."""
    day = weekday_ahead(2)
    return WEEKDAYS[day], "月火水木金土日"[day]


def test_schedule_prints_the_next_checks(tmp_path):
    name, said = later_weekday()
    config = write_config(
        tmp_path,
        account("acme") + '[accounts.acme.ftp]\nuser = "acme"\n'
        f'weekdays = ["{name}"]\nwindow = "10:00-11:00"\ninterval = "30m"\ndelay = "2m"\n',
    )
    ftp_served(config)  # checks are made only with FTP intake served
    result = renkei("schedule", "acme", "--count", "4", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"acme: {said} 10:00-11:00、30m ごと、各時刻の 2m 後(Asia/Tokyo)"
    assert [line[-13:] for line in lines[1:]] == [
        f"{said} 10:02 +0900",
        f"{said} 10:32 +0900",
        f"{said} 11:02 +0900",
        f"{said} 10:02 +0900",
    ]
    assert renkei("schedule", "nobody", "--config", str(config)).returncode == 2
    none = renkei("schedule", "acme", "--count", "0", "--config", str(config))
    assert none.returncode == 2 and "--count: 0 ではなく 1 以上" in none.stderr


def test_schedule_of_an_account_checked_only_by_poll_says_so(tmp_path):
    config = write_config(
        tmp_path, account("acme") + '[accounts.acme.ftp]\nuser = "acme"\nweekdays = []\n'
    )
    ftp_served(config)  # checks are made only with FTP intake served
    result = renkei("schedule", "acme", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "acme: accounts.acme.ftp.weekdays が空なので定期確認はありません。"
        "ファイルは renkei poll acme か画面の「今すぐチェック」で取り込みます"
    ]


def test_poll_takes_the_admin_token_from_the_environment(tmp_path):
    """A config that keeps only the admin token's sha256 cannot send it."""
    config = write_config(tmp_path, account("acme"))
    digest = hashlib.sha256(b"demo-admin").hexdigest()
    text = config.read_text().replace(
        'admin_token = "demo-admin"', f'admin_token_sha256 = "{digest}"'
    )
    config.write_text(text)
    daemon = Daemon(config).start()
    try:
        args = ("poll", "acme", "--config", str(config))
        without = renkei(*args, env={"RENKEI_ADMIN_TOKEN": ""})
        assert without.returncode == 2 and "RENKEI_ADMIN_TOKEN" in without.stderr
        wrong = renkei(*args, env={"RENKEI_ADMIN_TOKEN": "nope"})
        assert wrong.returncode == 1
        right = renkei(*args, env={"RENKEI_ADMIN_TOKEN": "demo-admin"})
        # Let in: acme has no FTP home, which the daemon says (not 401).
        assert right.returncode == 1 and "FTP 受付がありません" in right.stderr
    finally:
        daemon.terminate()


def test_times_typed_in_full_width_are_read_as_their_digits(tmp_path):
    """２２：００ as a Japanese IME types it: the check passed it and the daemon's clock
    code then failed on it at start. Now it is the time it says, everywhere."""
    name, said = later_weekday()
    config = write_config(
        tmp_path,
        account("acme", report="digest", digest_at="１８：００")
        + f'[accounts.acme.ftp]\nuser = "acme"\nweekdays = ["{name}"]\n'
        'window = "２２:００-０２:００"\ninterval = "1h"\ndelay = "１０m"\n',
    )
    ftp_served(config)  # checks are made only with FTP intake served
    checked = renkei("check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    result = renkei("schedule", "acme", "--count", "2", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"acme: {said} 22:00-02:00、1h ごと、各時刻の 10m 後(Asia/Tokyo)"
    assert [line[-13:] for line in lines[1:]] == [f"{said} 22:10 +0900", f"{said} 23:10 +0900"]
    text = config.read_text(encoding="utf-8").replace("０２:００", "２５:００")
    config.write_text(text, encoding="utf-8")
    refused = renkei("check", "--config", str(config))
    assert refused.returncode == 1 and "accounts.acme.ftp.window" in refused.stderr


def test_renkei_import_names_its_run_as_the_doors_name_theirs(tmp_path):
    """A right-to-left override in a file's name would reverse it in the console and
    downloads: dropped, as mail, FTP and the API drop it."""
    config = write_config(tmp_path, account("acme", report="never"))
    source = tmp_path / "2024\u202e0516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    result = renkei("import", str(source), "--account", "acme", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["filename"] == "20240516.csv"


def test_poll_says_a_daemon_gone_mid_answer_in_its_own_words(tmp_path):
    """A daemon that closed the connection without answering (stopping, or killed
    under the request) was said with httpx's English inside the Japanese sentence."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                conn.recv(65536)  # the request, then no answer
                conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        config = write_config(tmp_path, account("acme"), api_port=port)
        result = renkei("poll", "acme", "--config", str(config))
    finally:
        listener.close()
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"127.0.0.1:{port} のデーモンに接続できません:"
        " デーモンが応答せずに接続を閉じました(停止中か再起動中かもしれません)"
    )


def test_schedule_of_a_stopped_account_lists_no_check(tmp_path):
    """It listed check times the daemon never keeps while the account is stopped, where
    the API's next_checks and the console say none."""
    name, _ = later_weekday()
    ftp = f'[accounts.acme.ftp]\nuser = "acme"\nweekdays = ["{name}"]\nwindow = "10:00-11:00"\n'
    config = write_config(tmp_path, account("acme", status="stopped") + ftp)
    ftp_served(config)  # checks are made only with FTP intake served
    result = renkei("schedule", "acme", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "acme: 停止中のため FTP の確認はしません(再開すると予定どおり確認します)"
    ]


def test_show_says_why_a_runs_file_is_not_kept(tmp_path):
    """It blamed retention ("past daemon.retention_days, or the run held no file") for a
    file a stopped account's door threw away, and for one still waiting its turn."""
    config = write_config(tmp_path, account("idle", status="stopped"))
    daemon = Daemon(config).start()
    try:
        _, code, reply = send_as(daemon.smtp_port, "idle", [("20240516.csv", csv_bytes(["1,a"]))])
        run = daemon.wait_run(queued_ids(reply)[0])
        assert code == 250 and run["state"] == "ignored"
        shown = renkei("show", run["id"], "--config", str(config))
        assert "停止中のアカウントに届いたファイルは捨てられます" in shown.stdout, shown.stdout
        saved = renkei("show", run["id"], "--save", str(tmp_path / "out"), "--config", str(config))
        assert saved.returncode == 1 and "捨てられます" in saved.stderr
    finally:
        daemon.terminate()
    from daemon.runview import not_kept_key

    for state in ("queued", "running", "aborted"):
        assert not_kept_key({"state": state}) == "cli.show.not_kept_yet"


def _run_state(db: Path, run_id: str | None = None) -> dict | None:
    """A run of the store as it stands (the newest when no id is given), or None."""
    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        where, params = ("WHERE id = ?", (run_id,)) if run_id else ("", ())
        row = conn.execute(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT 1", params)
        found = row.fetchone()
        return dict(found) if found else None


def _until(what, timeout: float = 60):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, "never came"
        time.sleep(0.01)
    return found


@pytest.mark.slow
def test_an_import_that_commits_after_a_newer_file_of_its_name_leaves_the_newer(tmp_path, relay):
    """`renkei import` reads a large file beside the daemon; meanwhile the daemon takes
    a file of the same name that came after it and imports it. The command, committing
    last, must not put the older rows over the newer: its run is ignored, naming the
    daemon's."""
    extra = "[limits]\nmax_rows = 1000000\nmax_bytes = 104857600\n"
    config = write_config(tmp_path, account("acme"), extra=extra, relay_port=relay.port)
    # Over 16 MB: read in parts before the run's transaction begins.
    rows = [f"{i},2024/05/16,{i * 7},old" for i in range(1, 700_001)]
    big = data_file(tmp_path, "20240516.csv", rows)
    db = tmp_path / "var" / "renkei.db"
    daemon = Daemon(config).start()
    command = [sys.executable, "-m", "daemon.cli", "import", str(big), "--account", "acme"]
    command += ["--config", str(config), "--json"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        held = _until(lambda: (r := _run_state(db)) and r["state"] == "running" and r)
        os.kill(proc.pid, signal.SIGSTOP)  # still reading: its transaction not begun
        new = mail([("20240516.csv", csv_bytes(["1,2024/05/16,11,new"]))])
        _, code, reply = send(daemon.smtp_port, new)
        assert code == 250
        [newer] = queued_ids(reply)
        done = _until(
            lambda: (r := _run_state(db, newer)) and r["state"] not in ("queued", "running") and r
        )
        assert done["state"] == "completed", done
        os.kill(proc.pid, signal.SIGCONT)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 1
        run = json.loads(out)
        assert run["id"] == held["id"] and run["state"] == "ignored", run
        assert newer in run["message"] and "より新しいもの" in run["message"]
        with contextlib.closing(sqlite3.connect(db)) as conn:
            table = conn.execute("SELECT member_no, note, _run_id FROM performance").fetchall()
        assert table == [(1, "new", newer)]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()
        daemon.terminate()


def test_show_says_a_runs_message_and_errors_in_the_language_of_the_day(tmp_path, config):
    """Messages are stored as they were said: after report.language changed to en,
    `renkei show` (and the digest) mixed English around the Japanese stored before."""
    path = data_file(tmp_path, "20240516.csv", ["x,2024/05/16,10,a"])
    result = renkei("import", str(path), "--account", "acme", "--json", "--config", str(config))
    run = json.loads(result.stdout)
    assert "1 行にエラーがあるため" in run["message"], run
    config.write_text(config.read_text().replace("[report]\n", '[report]\nlanguage = "en"\n'))
    shown = renkei("show", run["id"], "--config", str(config)).stdout
    assert "with errors: no row was imported" in shown, shown
    assert "member_no" in shown and "is not a whole number" in shown, shown
    assert "エラー" not in shown and "整数" not in shown, shown
    listed = renkei("runs", "--config", str(config), env={"COLUMNS": "200"}).stdout
    assert "with errors: no row was imported" in listed, listed  # runs said it as stored
    assert "エラー" not in listed, listed
    as_json = json.loads(renkei("runs", "--json", "--config", str(config)).stdout)
    assert "1 行にエラーがあるため" in as_json[0]["message"] and "said" not in as_json[0]


def test_a_file_in_a_folder_named_in_shift_jis_is_imported(tmp_path, config):
    """A folder (or file) name that is not UTF-8, from a Samba share or an unpacked
    archive, was a traceback: the run's record could not be written."""
    folder = os.fsdecode(bytes(tmp_path) + b"/" + "売上".encode("cp932"))
    os.mkdir(folder)
    path = os.path.join(folder, "20240516.csv")
    with open(path, "wb") as out:
        out.write(csv_bytes(["1,2024/05/16,10,a"]))
    result = renkei("import", path, "--account", "acme", "--json", "--config", str(config))
    assert "Traceback" not in result.stderr, result.stderr
    run = json.loads(result.stdout)
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run
    assert run["sender"].endswith("/売上/20240516.csv"), run["sender"]


def test_a_c_locale_gets_japanese_escaped_not_a_traceback(tmp_path, config):
    path = data_file(tmp_path, "20240516.csv", ["1,2024/05/16,10,a"])
    renkei("import", str(path), "--account", "acme", "--config", str(config))
    env = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""}
    result = renkei("runs", "--config", str(config), env=env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "\\u" in result.stdout or "\\x" in result.stdout, result.stdout
