"""More that `renkei check`, `renkei serve` and a reload catch: a drop folder holding the
daemon's own files, wrong types, names SQLite refuses, shared tokens, keys a reload
cannot change, a busy store, renkei's own paths, unset header variables, a SIGHUP while
starting, a config not in UTF-8, settings that could never work, names a request must
carry, values shown as TOML writes them, and the exact key of a send's or call's mistake."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from daemon.settings import parse
from daemon.settings.model import RESERVED_TABLES
from daemon.store.postgres.jobs import SCHEMA as JOBS_SCHEMA
from daemon.store.postgres.outbox import SCHEMA as OUTBOX_SCHEMA
from daemon.store.postgres.schema import INDEXES as PG_INDEXES
from daemon.store.schema import MIGRATIONS
from daemon.store.scratch import ERRORS_TABLE, ROWS_TABLE
from importers.messages import message
from tests import support
from tests.support import (
    ROOT,
    Daemon,
    NotifySocket,
    account,
    csv_bytes,
    free_port,
    ftp_served,
    queued_ids,
    send_as,
    stop_serving,
    store_held,
    write_config,
)

renkei = functools.partial(support.renkei, timeout=60)
EN = 'language = "en"'
ADMIN = "admin@example.jp"
SEND = '[sends.s]\nlayout = "performance"\nurl = "https://e.example/x"\n'


def en_config(tmp_path: Path, accounts: str = "", extra: str = "", **keys) -> Path:
    return write_config(tmp_path, account("acme") + accounts, extra=f"{EN}\n{extra}", **keys)


def checked(config: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """`renkei check`: its exit code and the problem lines after the heading."""
    result = renkei("check", "--config", str(config), env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr.splitlines()[1:]


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


# -- 1. a drop folder that holds the config or data_dir ---------------------------------


@pytest.mark.parametrize(
    ("drop", "data_dir", "held"),
    [
        (".", "var", "{tmp}"),  # the config's own folder
        ("..", "var", "{tmp}"),  # a folder above it
        ("{tmp}/srv", "{tmp}/srv/var", "{tmp}/srv/var"),  # above data_dir alone
    ],
)
def test_a_drop_folder_that_is_or_holds_the_config_folder_or_data_dir_is_refused(
    tmp_path, drop, data_dir, held
):
    """The daemon once took renkei.toml, its log and its pid file as partner files."""
    (tmp_path / "srv").mkdir()
    drop, data_dir, held = (v.format(tmp=tmp_path) for v in (drop, data_dir, held))
    config = en_config(tmp_path, f'[accounts.acme.dropdir]\npath = "{drop}"\nsettle = 0\n')
    config.write_text(config.read_text().replace('data_dir = "var"', f'data_dir = "{data_dir}"'))
    code, lines = checked(config)
    assert code == 1
    assert lines == [
        f"accounts.acme.dropdir.path: '{drop}' is or holds {held}, where renkei keeps its own"
        " files (the config, its log, the database): renkei would take them as the partner's;"
        " give the account a folder of its own"
    ]
    served = renkei("serve", "--config", str(config))
    assert served.returncode == 1 and config.exists()


def test_a_drop_folder_beside_the_config_is_fine(tmp_path):
    config = en_config(tmp_path, '[accounts.acme.dropdir]\npath = "drop/acme"\n')
    assert checked(config) == (0, [])


# -- 2. wrong types: one problem line each, never a traceback ---------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda t: t.replace('layout = "performance"', 'layout = ["performance"]', 1),
            'accounts.acme.layout: ["performance"] is not a string: write it in quotes',
        ),
        (
            lambda t: t + '[layouts.other]\ncolumns = [{ name = "a", reference = ["x"] }]\n',
            'layouts.other.columns.0.reference: ["x"] is not a string: write it in quotes',
        ),
        (
            lambda t: t + SEND.replace('"performance"', '["performance"]') + 'columns = ["a"]\n',
            'sends.s.layout: ["performance"] is not a string: write it in quotes',
        ),
        (
            lambda t: t + SEND + "where = 5\n",
            "sends.s.where: 5 is not a table ([section] or { key = value })",
        ),
        (
            lambda t: t + SEND + "columns = 5\n",
            "sends.s.columns: 5 is not a list: write it in brackets, [ ]",
        ),
        (
            lambda t: t + SEND + 'columns = "member_no"\n',
            "sends.s.columns: 'member_no' is not a list: write it in brackets, [ ]",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_one_problem_line(tmp_path, change, expected):
    config = en_config(tmp_path)
    config.write_text(change(config.read_text()))
    assert checked(config) == (1, [expected])


# -- 3. names SQLite refuses; a reload that cannot be applied ---------------------------


def test_every_name_the_store_creates_is_reserved():
    """A table or an index the schema makes (SQLite's migrations, PostgreSQL's own, the
    scratch tables) may be no layout's name: the list is written out, so it is checked."""
    made = "\n".join([*MIGRATIONS, JOBS_SCHEMA, OUTBOX_SCHEMA, *PG_INDEXES])
    pattern = r"CREATE (?:UNIQUE )?(?:TABLE|INDEX) (?:IF NOT EXISTS )?(\w+)"
    names = {name.lower() for name in re.findall(pattern, made)}
    names |= {"renkei_schema", ROWS_TABLE, ERRORS_TABLE}
    assert names == set(RESERVED_TABLES)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (
            '[layouts.twice]\ncolumns = [{ name = "a" }, { name = "b" }, { name = "a" }]\n',
            "layouts.twice.columns.2.name: the column name 'a' is already in this layout",
        ),
        (
            '[layouts.sqlite_stat1]\ncolumns = [{ name = "a" }]\n',
            "layouts.sqlite_stat1: names starting with sqlite_ are SQLite's own: choose another",
        ),
        (
            '[layouts.digests]\ncolumns = [{ name = "a" }]\n',
            "layouts.digests: the name of one of renkei's own tables",
        ),
        (
            '[layouts.runs_by_account]\ncolumns = [{ name = "a" }]\n',
            "layouts.runs_by_account: the name of one of renkei's own tables",
        ),
        (
            '[layouts.members]\nkey = ["member_no"]\ncolumns = [{ name = "member_no" }]\n'
            '[layouts.members__key_member_no]\ncolumns = [{ name = "a" }]\n',
            "layouts.members__key_member_no: the name of layout members's key index (no"
            " table can have it): choose another",
        ),
        (
            # The label it suggests is the header it stands for, not always "rowid".
            '[layouts.ids]\ncolumns = [{ name = "oid" }]\n',
            "layouts.ids.columns.0.name: 'oid' is a name the database uses for a column of"
            " its own (rowid, oid, ctid, xmin, …); choose another name and put the header's"
            " in label, e.g. label = 'oid'",
        ),
    ],
)
def test_a_layout_sqlite_would_refuse_is_refused_at_check(tmp_path, layout, expected):
    config = en_config(tmp_path, extra=layout)
    assert checked(config) == (1, [expected])


def test_a_reload_that_fails_while_applied_is_refused_and_ready_follows(tmp_path, relay):
    """What the config's own check cannot see (here an index of that name, made by
    hand in the database): the reload is refused as an invalid config is, with the
    key and a way out, never half applied."""
    extra = f'admin_to = ["{ADMIN}"]'
    config = en_config(tmp_path, extra=extra, relay_port=relay.port)
    good = config.read_text()
    daemon = Daemon(config).start()
    try:
        daemon.query("CREATE INDEX clash ON runs (id)")
        daemon.notify.drain()
        daemon.notify.received.clear()
        config.write_text(good + '[layouts.clash]\ncolumns = [{ name = "a" }]\n')
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        wait_for(lambda: "reload refused" in daemon.log.read_text())
        log = daemon.log.read_text()
        said = (
            "layouts.clash: layout clash cannot have its table: the database has an object"
            " of that name (index;"
        )
        assert f"reload refused: {said}" in log
        assert "Task exception was never retrieved" not in log
        [alert] = relay.for_recipient(ADMIN)
        assert alert["Subject"] == "[renkei] config reload refused"
        assert said in alert.get_body().get_content()
        received = daemon.notify.received
        assert received.index("READY=1") > received.index("RELOADING=1")
        _, code, reply = send_as(
            daemon.smtp_port, "acme", [("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))]
        )
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
    finally:
        daemon.terminate()


# -- 4. one API token per account ----------------------------------------------------------


def test_an_api_token_shared_by_two_accounts_or_equal_to_the_admin_token_is_refused(tmp_path):
    digest = hashlib.sha256(b"demo-acme-api").hexdigest()
    accounts = (
        '[accounts.acme.api]\ntoken = "demo-acme-api"\n'
        + account("beta")
        + '[accounts.beta.api]\ntoken = "demo-acme-api"\n'
        + account("gamma")
        + f'[accounts.gamma.api]\ntoken_sha256 = "{digest.upper()}"\n'
        + account("delta")
        + '[accounts.delta.api]\ntoken = "env:DELTA_TOKEN"\n'
    )
    config = en_config(tmp_path, accounts)
    code, lines = checked(config, env={"DELTA_TOKEN": "demo-admin"})
    assert code == 1
    taken = ": give each account its own (this account's uploads would be filed as the other's)"
    assert lines == [
        "accounts.beta.api.token: the same token as accounts.acme.api.token" + taken,
        "accounts.gamma.api.token_sha256: the same token as accounts.acme.api.token" + taken,
        "accounts.delta.api.token: the same token as api.admin_token: the partner would read"
        " every account's runs; give the account a token of its own",
    ]


# -- 5. keys a reload cannot change ----------------------------------------------------------


def test_a_reload_keeps_listeners_and_data_dir_and_says_they_need_a_restart(tmp_path):
    config = en_config(tmp_path)
    daemon = Daemon(config).start()
    try:
        old_api, new_api, new_smtp = daemon.api, free_port(), free_port()
        changed = (
            config.read_text()
            .replace(f"127.0.0.1:{daemon.api_port}", f"127.0.0.1:{new_api}")
            .replace(f"127.0.0.1:{daemon.smtp_port}", f"127.0.0.1:{new_smtp}")
            .replace('data_dir = "var"', 'data_dir = "var2"')
            .replace("[layouts.performance]", "[layouts.added]\ncolumns = [{ name = 'a' }]\n"
                     "[layouts.performance]")
        )  # fmt: skip
        daemon.notify.drain()
        daemon.notify.received.clear()
        config.write_text(changed)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.notify.wait_for("READY=1")
        wait_for(lambda: "config reloaded" in daemon.log.read_text())
        log = daemon.log.read_text()
        for key in ("daemon.data_dir", "smtp.listen", "api.listen"):
            assert f"config: {key} changed: needs a restart to take effect" in log
        assert "api.admin_token changed" not in log
        assert httpx.get(f"{old_api}/healthz", timeout=10).status_code == 200
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{new_api}/healthz", timeout=2)
        # The rest of the config is served: the new layout's table is there.
        assert daemon.query("SELECT name FROM sqlite_master WHERE name = 'added'")
        # A run with an error CSV: the run and its CSV both under the old data_dir.
        _, code, reply = send_as(
            daemon.smtp_port, "acme", [("20240516.csv", csv_bytes(["x,2024/05/16,1,a"]))]
        )
        run = daemon.wait_run(queued_ids(reply)[0])
        assert run["state"] == "failed" and run["error_report"]
        assert (tmp_path / "var" / run["error_report"]).is_file()
        assert not (tmp_path / "var2").exists()
    finally:
        daemon.terminate()


# -- 6. a busy store ---------------------------------------------------------------------


def test_reading_runs_does_not_wait_for_a_writer_holding_the_store(tmp_path):
    config = write_config(tmp_path, account("acme"))
    data = tmp_path / "20240516.csv"
    data.write_bytes(csv_bytes(["1,2024/05/16,1,a"]))
    assert renkei("import", str(data), "--account", "acme", "--config", str(config)).returncode == 0
    with store_held(tmp_path / "var" / "renkei.db"):
        started = time.monotonic()
        result = renkei("runs", "--config", str(config), env={"RENKEI_BUSY_TIMEOUT_MS": "20000"})
        took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "20240516.csv" in result.stdout
    assert took < 15


def test_a_store_locked_while_it_must_be_migrated_is_said_and_the_command_ends(tmp_path):
    config = write_config(tmp_path, account("acme"))
    db_path = tmp_path / "var" / "renkei.db"
    db_path.parent.mkdir()
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE other (a)")  # a store not yet migrated
    with store_held(db_path):
        result = renkei("runs", "--config", str(config), env={"RENKEI_BUSY_TIMEOUT_MS": "300"})
    assert result.returncode == 1
    assert result.stderr.strip() == message("store.busy", "ja", path=db_path)


# -- 7. renkei's own paths -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/console",
        "/console/login",
        "/console/static/console.css",
        "/api/v1/records/performance",
        "/api/v1/sends/out",
        "/api/v1/runs/x/retry",
        "/docs/oauth2-redirect",
    ],
)
def test_an_api_path_on_renkeis_own_routes_is_refused(tmp_path, path):
    config = en_config(tmp_path, f'[accounts.acme.api]\ntoken = "t-acme"\npath = "{path}"\n')
    assert checked(config) == (
        1,
        [f"accounts.acme.api.path: '{path}' is one of renkei's own paths"],
    )


@pytest.mark.parametrize("path", ["/consoles", "/partner/upload", "/api/v1/imports/acme"])
def test_an_api_path_beside_renkeis_own_routes_is_fine(tmp_path, path):
    config = en_config(tmp_path, f'[accounts.acme.api]\ntoken = "t-acme"\npath = "{path}"\n')
    assert checked(config) == (0, [])


# -- 8. headers from unset variables -------------------------------------------------------


def test_a_send_or_call_header_from_an_unset_variable_is_refused(tmp_path):
    extra = (
        SEND
        + 'headers = { X-Token = "env:NO_SUCH_SEND_TOKEN" }\n'
        + '[calls.c]\nafter_import = ["acme"]\nurl = "https://e.example/y"\n'
        + 'headers = { X-Token = "env:NO_SUCH_CALL_TOKEN", X-Set = "env:SET_TOKEN" }\n'
    )
    config = en_config(tmp_path)
    config.write_text(config.read_text() + extra)
    assert checked(config, env={"SET_TOKEN": "s"}) == (
        1,
        [
            "sends.s.headers.X-Token: environment variable NO_SUCH_SEND_TOKEN is not set",
            "calls.c.headers.X-Token: environment variable NO_SUCH_CALL_TOKEN is not set",
        ],
    )


# -- 9. a SIGHUP while starting ------------------------------------------------------------


def test_a_sighup_while_starting_is_reloaded_once_ready(tmp_path):
    """Between the listeners' bind and the signal handlers, a SIGHUP once ended the
    daemon at once (its default action), without a word."""
    config = en_config(tmp_path)
    log = tmp_path / "daemon.log"
    notify = NotifySocket(tmp_path / "notify.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "serve", "--config", str(config)],
        cwd=ROOT,
        env={**support.os.environ, "NOTIFY_SOCKET": str(notify.path)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: "http listening" in log.read_text() or proc.poll() is not None, 60)
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", timeout=60, proc=proc)
        wait_for(lambda: "config reloaded" in log.read_text() or proc.poll() is not None)
        assert proc.poll() is None, log.read_text()
        notify.wait_for("RELOADING=1", proc=proc)
        notify.drain()
        received = notify.received
        assert received.index("RELOADING=1") > received.index("READY=1")
        assert received[-1] == "READY=1" or "READY=1" in received[received.index("RELOADING=1") :]
    finally:
        stop_serving(proc, notify)


# -- 10. a config not in UTF-8 ---------------------------------------------------------------


def test_a_shift_jis_config_names_its_line_and_a_bom_is_read_past(tmp_path):
    config = en_config(tmp_path)
    text = config.read_text().replace("[layouts.performance]", "# 実績\n[layouts.performance]")
    line = text[: text.index("# 実績")].count("\n") + 1
    config.write_bytes(text.encode("cp932"))
    english = {"LC_ALL": "en_US.UTF-8"}
    code, lines = checked(config, env=english)
    assert code == 1
    assert lines == [
        f"{config}: line {line} is not UTF-8 (saved as Shift_JIS?): save the config file as UTF-8"
    ]
    config.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert checked(config, env=english) == (0, [])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_utf16_config_is_said_to_be_utf16_not_shift_jis(tmp_path, encoding):
    """Windows' "Unicode": with its BOM, or without one (which reads as UTF-8 with NULs)."""
    config = en_config(tmp_path)
    config.write_bytes(config.read_text().encode(encoding))
    assert checked(config, env={"LC_ALL": "en_US.UTF-8"}) == (
        1,
        [f'{config}: saved as UTF-16 ("Unicode"): save the config file as UTF-8'],
    )


# -- 11. settings that could never work --------------------------------------------------


@pytest.mark.parametrize(
    ("accounts", "extra", "expected"),
    [
        (
            '[accounts.acme.ftp]\nuser = "acme"\npassword_sha256 = "abc123"\n',
            "",
            "accounts.acme.ftp.password_sha256: *** is not a sha256 in hex (64 hex"
            " digits, as sha256sum prints it)",
        ),
        (
            '[accounts.acme.api]\ntoken = ""\n',
            "",
            "accounts.acme.api.token: an empty token or password cannot be used",
        ),
        (
            '[accounts.acme.api]\ntoken = "env:"\n',
            "",
            "accounts.acme.api.token: env: names no environment variable (write"
            " env:RENKEI_TOKEN, say)",
        ),
        (
            "",
            '[layouts.other]\ncolumns = [{ name = "a", type = "int", values = ["1"] }]\n',
            "layouts.other.columns.0.values: only a choice column takes values (this one's"
            " type is 'int'): make it type = \"choice\" or remove values",
        ),
        (
            "",
            '[layouts.other]\ncolumns = [{ name = "a" }]\nkey = ["a", "a"]\n',
            "layouts.other.key: 'a' is named twice in the key",
        ),
        (
            "",
            "[accounts.beta]\nlayout = 'performance'\nmember_key = 'nope'\n",
            "accounts.beta.member_key: 'nope' is not a column of any layout",
        ),
    ],
)
def test_settings_that_could_never_work_are_refused(tmp_path, accounts, extra, expected):
    config = en_config(tmp_path, accounts, extra)
    assert checked(config) == (1, [expected])


def test_an_smtp_hostname_with_a_line_break_is_refused(tmp_path):
    config = en_config(tmp_path)
    config.write_text(config.read_text().replace("[smtp]\n", '[smtp]\nhostname = "a\\r\\n250 b"\n'))
    assert checked(config) == (
        1,
        ["smtp.hostname: 'a\\r\\n250 b' cannot be said in the SMTP greeting (no spaces or line"
         " breaks)"],
    )  # fmt: skip


def test_an_ftp_account_without_a_password_is_warned_of(tmp_path):
    """No one can log in; what is put in its home by other means is still taken."""
    config = en_config(tmp_path, '[accounts.acme.ftp]\nuser = "acme"\n')
    # With FTP intake off its home is not checked either (said apart).
    ftp_served(config, "max_connections = 1")
    assert checked(config) == (
        0,
        [
            "accounts.acme.ftp: no password or password_sha256: no one can log in by FTP"
            " (the FTP checks still take what is put in its home)"
        ],
    )


# -- 12. names a request must carry, values as TOML writes them, the key of each mistake --

API = '[accounts.acme.api]\ntoken = "demo-acme-api"\npath = "/partner/upload"\n'


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("token_header", '""', "'' is not an HTTP header name"),
        ("token_header", '"X Bad:Header"', "'X Bad:Header' is not an HTTP header name"),
        ("file_field", '""', "'' is not a form field name"),
        ("json_field", '"a\\u0001"', "'a\\x01' is not a form field name"),
    ],
)
def test_an_api_name_no_request_could_carry_is_refused(tmp_path, key, value, expected):
    """Every upload was refused as without a token (or its file), and check said nothing."""
    config = en_config(tmp_path, f"{API}{key} = {value}\n")
    code, [line] = checked(config)
    assert code == 1 and line.startswith(f"accounts.acme.api.{key}: {expected} ("), line


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("file_field", '""', "'' is not a form field name"),
        ("json_field", '"a\\r\\nb"', "'a\\r\\nb' is not a form field name"),
        ("filename", '""', "'' is not a name for the file sent"),
        ("filename", '"  "', "'  ' is not a name for the file sent"),
        ("filename", '"a\\nb.csv"', "'a\\nb.csv' is not a name for the file sent"),
    ],
)
def test_a_send_field_no_receiver_could_read_is_refused(tmp_path, key, value, expected):
    """A send's CSV went out as a part named '' (or with a line break in its name), which
    no receiver finds, and check said nothing."""
    config = en_config(tmp_path, f"{SEND}{key} = {value}\n")
    code, [line] = checked(config)
    assert code == 1 and line.startswith(f"sends.s.{key}: {expected} ("), line


def test_api_names_a_request_can_carry_are_fine(tmp_path):
    names = 'token_header = "X-Api_Token.1"\nfile_field = "ファイル"\njson_field = "設定 json"\n'
    assert checked(en_config(tmp_path, API + names)) == (0, [])


def test_a_bad_header_name_is_said_in_japanese_too(tmp_path):
    config = write_config(tmp_path, account("acme") + API + 'token_header = "X Bad:Header"\n')
    code, [line] = checked(config)
    assert code == 1
    assert line.startswith("accounts.acme.api.token_header: 'X Bad:Header' は HTTP ヘッダーの名前")


def test_toml_values_are_shown_as_written_not_as_python_sees_them(tmp_path):
    config = en_config(tmp_path)
    text = config.read_text().replace('data_dir = "var"', "data_dir = 2024-01-01T00:00:00")
    text = text.replace(
        'layout = "performance"',
        'layout = { a = 1, b = "x" }\ndigest_at = 18:00:00\nfilename = ["a", 2024-05-16]',
    )
    config.write_text(text)
    code, lines = checked(config)
    assert code == 1 and sorted(lines) == [
        "accounts.acme.digest_at: 18:00:00 is not a string: write it in quotes",
        "accounts.acme.filename.1: 2024-05-16 is not a string: write it in quotes",
        'accounts.acme.layout: { a = 1, b = "x" } is not a string: write it in quotes',
        "daemon.data_dir: 2024-01-01T00:00:00 is not a path",
    ]


def test_a_time_quoted_as_toml_writes_it_is_taken(tmp_path):
    """The first message shows 18:00:00; quoted as it is shown, it is the time 18:00."""
    expect = '[accounts.acme.expect]\nweekdays = ["mon"]\nby = "09:30:00"\n'
    config = en_config(tmp_path, expect)
    config.write_text(
        config.read_text().replace("[accounts.acme]\n", '[accounts.acme]\ndigest_at = "18:00:00"\n')
    )
    assert checked(config) == (0, [])
    settings = parse(tomllib.loads(config.read_text()), source=config)
    acme = settings.accounts["acme"]
    assert (acme.digest_at, acme.expect.by) == ("18:00", "09:30")
    config.write_text(config.read_text().replace('"18:00:00"', '"18:00:30"'))
    assert checked(config) == (
        1,
        ["accounts.acme.digest_at: '18:00:30' is not a time like 10:00 (00:00 to 23:59)"],
    )


def test_each_mistake_of_a_send_or_call_names_its_key(tmp_path):
    """An unknown account named twice was said twice at `sends.out`; a placeholder's
    problem named only the call."""
    sends = (
        '[sends.out]\nlayout = "performance"\nurl = "https://e.example/{nope}"\n'
        'account = "acm"\nafter_import = ["acme", "acm"]\nfilename = "{day}.csv"\n'
        'params = { a = "{bad}" }\ncolumns = ["member_no", "zz"]\nwhere = { yy = "1" }\n'
        '[calls.c]\nurl = "https://e.example/{row.nocol}"\nafter_import = ["acme"]\n'
        'body = "json"\njson = { a = "{row.q}", b = [1, "{x}"] }\n'
    )
    code, lines = checked(en_config(tmp_path, extra=sends))
    said = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines}
    assert code == 1 and len(said) == len(lines) == 10, lines
    assert said["sends.out.account"].startswith("'acm' is not an account")
    assert said["sends.out.after_import.1"].startswith("'acm' is not an account")
    assert said["sends.out.columns.1"] == "'zz' is not a column of layout 'performance'"
    assert said["sends.out.where.yy"] == "'yy' is not a column of layout 'performance'"
    for key, name in [
        ("sends.out.url", "{nope}"),
        ("sends.out.filename", "{day}"),
        ("sends.out.params.a", "{bad}"),
        ("calls.c.url", "{row.nocol}"),
        ("calls.c.json.a", "{row.q}"),
        ("calls.c.json.b.1", "{x}"),
    ]:
        assert said[key].startswith(f"{name} is not a placeholder renkei fills in"), key


def test_a_sheet_on_an_account_without_excel_is_warned_of(tmp_path):
    """`sheet` names the sheet a workbook is read from; an account without `excel =
    true` takes no workbook, and check said nothing of the setting that does nothing."""
    config = en_config(tmp_path, account("book", sheet="売上"))
    assert checked(config) == (
        0,
        [
            "accounts.book.sheet: the account takes no workbook (excel is not true): sheet is never used"
        ],
    )
    (tmp_path / "x").mkdir()
    assert checked(en_config(tmp_path / "x", account("book", sheet="売上", excel=True))) == (0, [])


def test_a_send_of_its_imports_rows_that_could_find_none_is_refused(tmp_path):
    """A `rows = "run"` send following an account of another layout, or another account
    than its own, sent nothing after every import; and a JSON part named as the CSV's
    went out beside it as a second `file`."""
    other = '[layouts.other]\ncolumns = [{ name = "code", type = "text" }]\n'
    sends = (
        f'{other}[sends.s]\nlayout = "performance"\nurl = "https://e.example/x"\n'
        'rows = "run"\nafter_import = ["acme", "beta"]\n'
        '[sends.t]\nlayout = "performance"\nurl = "https://e.example/x"\n'
        'rows = "run"\naccount = "acme"\nafter_import = ["gamma"]\n'
        'body = "json"\njson_field = "file"\nparams = { a = "1" }\n'
    )
    accounts = account("beta", layout="other") + account("gamma")
    code, lines = checked(en_config(tmp_path, accounts, extra=sends))
    assert code == 1 and sorted(lines) == [
        'sends.s.after_import.1: account beta imports into layout other: a send of rows = "run"'
        " of layout performance has none of its import's rows to send; follow an account of"
        " performance",
        'sends.t.after_import.0: a send of rows = "run" sends the rows of account acme alone:'
        " after an import of gamma it has none to send; follow acme, or remove account",
        "sends.t.json_field: parameter file has the name of the CSV part (file_field)",
    ], lines


def test_a_choice_named_in_other_words_is_pointed_to(tmp_path):
    """`sjis`, full-width `ａｃｔｉｖｅ`, `月` and `wednesday` are no near spelling of
    cp932, active, mon and wed: they were refused with no hint."""
    more = 'encoding = "Shift_JIS"\nstatus = "ａｃｔｉｖｅ"\n'
    ftp = '[accounts.acme.ftp]\nuser = "acme"\npassword = "demo-acme-ftp"\n'
    ftp += 'weekdays = ["月", "wednesday"]\n'
    config = en_config(tmp_path, ftp)
    config.write_text(config.read_text().replace("[accounts.acme]\n", f"[accounts.acme]\n{more}"))
    code, lines = checked(config)
    assert code == 1 and sorted(lines) == [
        "accounts.acme.encoding: 'Shift_JIS' is not one of auto, cp932, utf-8; did you mean cp932?",
        "accounts.acme.ftp.weekdays.0: '月' is not one of mon, tue, wed, thu, fri, sat, sun;"
        " did you mean mon?",
        "accounts.acme.ftp.weekdays.1: 'wednesday' is not one of mon, tue, wed, thu, fri, sat,"
        " sun; did you mean wed?",
        "accounts.acme.status: 'ａｃｔｉｖｅ' is not one of active, stopped; did you mean active?",
    ], lines


def test_a_call_that_follows_no_import_is_one_problem(tmp_path):
    """Its `{row.…}` placeholders were said too, naming an empty list of accounts."""
    calls = '[calls.c]\nurl = "https://e.example/{row.nope}"\nafter_import = []\n'
    code, lines = checked(en_config(tmp_path, extra=calls))
    assert code == 1 and len(lines) == 1 and lines[0].startswith("calls.c.after_import: "), lines


def test_a_secret_given_both_as_itself_and_as_its_sha256_is_warned_of(tmp_path):
    """Either is taken: the token an admin meant to replace by its sha256 still works."""
    digest = "0" * 64
    api = f'[accounts.acme.api]\ntoken = "demo-acme"\ntoken_sha256 = "{digest}"\n'
    code, lines = checked(en_config(tmp_path, api))
    assert code == 0 and lines == [
        "accounts.acme.api.token_sha256: both token and token_sha256 are set: either is"
        " taken, so the one meant to be replaced still lets its holder in; remove the one"
        " not in use"
    ], lines
