"""`renkei check` catches mistakes: shared drop folders and listeners, quoted numbers,
addresses that are not addresses; it warns on who may send, suggests the near miss, and
speaks the config's language. The daemon logs warnings, refusals and its first checks."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import time
import zoneinfo
from pathlib import Path

import pytest

from daemon.settings import ConfigError, check_warnings, parse
from daemon.settings.checks import served_checks
from daemon.settings.restart import keep_started
from tests import support
from tests.support import Daemon, account, write_config
from tests.test_ftp import ftp_config, ftp_section

LAYOUTS = {"performance": {"columns": [{"name": "a"}]}}


def problems(raw: dict, source: Path | None = None, language: str = "en") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(raw, source)
    return [problem.render(language) for problem in info.value.problems]


def with_accounts(**accounts: dict) -> dict:
    return {
        "layouts": LAYOUTS,
        "accounts": {n: {"layout": "performance", **a} for n, a in accounts.items()},
    }


renkei = functools.partial(support.renkei, timeout=60)


# -- refusals --------------------------------------------------------------------------


def test_two_accounts_watching_one_drop_folder(tmp_path):
    source = tmp_path / "renkei.toml"
    absolute = str(tmp_path / "drop" / "a")  # the same folder, written another way
    raw = with_accounts(a={"dropdir": {"path": "drop/a"}}, b={"dropdir": {"path": absolute}})
    assert problems(raw, source) == [
        f"accounts.b.dropdir.path: '{absolute}' is also the drop folder of accounts.a"
    ]


def test_a_drop_folder_inside_an_ftp_home(tmp_path):
    source = tmp_path / "renkei.toml"
    raw = with_accounts(
        a={"ftp": {"user": "a", "password": "demo-a"}},
        b={"dropdir": {"path": "var/ftp/a/in"}},
    )
    home = tmp_path / "var" / "ftp" / "a"
    assert problems(raw, source) == [
        f"accounts.b.dropdir.path: 'var/ftp/a/in' is in the FTP home of accounts.a ({home}):"
        " its files would be taken twice"
    ]
    assert problems(raw, source, "ja") == [
        f"accounts.b.dropdir.path: 'var/ftp/a/in' は accounts.a の FTP ホーム({home})の中です。"
        "同じファイルを二つの経路で取り込むことになります"
    ]


@pytest.mark.parametrize(
    "path", ["var", "var/spool", "var/spool/incoming", "var/files", "var/ftp", "var/ftp/b"]
)
def test_a_drop_folder_that_is_data_dir_or_one_of_its_own_folders(tmp_path, path):
    """Watching data_dir, the daemon once took its own renkei.db as a dropped file."""
    source = tmp_path / "renkei.toml"
    raw = with_accounts(a={"dropdir": {"path": path}})
    data_dir = tmp_path / "var"
    assert problems(raw, source) == [
        f"accounts.a.dropdir.path: '{path}' is a folder of renkei's own (data_dir {data_dir},"
        f" or its spool/, files/, …): renkei would take its own files; choose a folder outside"
        f" data_dir, or under {data_dir}/drop/"
    ]


def test_a_drop_folder_under_data_dir_drop_is_fine(tmp_path):
    raw = with_accounts(a={"dropdir": {"path": "var/drop/a"}})
    assert parse(raw, tmp_path / "renkei.toml").accounts["a"].dropdir is not None


def test_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "var").write_text("")
    assert problems(with_accounts(a={}), tmp_path / "renkei.toml") == [
        f"daemon.data_dir: {tmp_path / 'var'} is a file, not a folder; data_dir must be a folder"
    ]


def test_data_dir_under_a_file_or_an_ftp_home_that_is_a_file(tmp_path):
    # Both passed check, and serve then refused them.
    (tmp_path / "afile").write_text("")
    raw = with_accounts(a={}) | {"daemon": {"data_dir": "afile/sub"}}
    assert problems(raw, tmp_path / "renkei.toml") == [
        f"daemon.data_dir: {tmp_path / 'afile'} is a file, not a folder; data_dir must be a folder"
    ]
    (tmp_path / "var" / "ftp").mkdir(parents=True)
    (tmp_path / "var" / "ftp" / "a").write_text("")
    ftp = {"user": "a", "password": "demo-a"}
    assert problems(with_accounts(a={"ftp": ftp}), tmp_path / "renkei.toml") == [
        f"accounts.a.ftp: {tmp_path / 'var' / 'ftp' / 'a'} is not a folder; the account's FTP"
        " home must be one: move what is there away"
    ]


def test_a_data_dir_others_may_enter_is_warned_of_with_the_fix(tmp_path):
    """renkei makes data_dir 0750; one made beforehand keeps its mode, and what renkei
    writes there follows the umask."""
    config = write_config(tmp_path, account("acme"))
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    result = renkei("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    said = f"daemon.data_dir: {data_dir} は他のユーザーも読めます(権限 0755)"
    assert said in result.stderr and f"chmod o-rwx {data_dir}" in result.stderr
    data_dir.chmod(0o750)
    result = renkei("check", "--config", str(config))
    assert result.returncode == 0 and "他のユーザー" not in result.stderr, result.stderr


def test_a_data_dir_renkei_makes_is_closed_to_others(tmp_path):
    config = write_config(tmp_path, account("acme"))
    path = tmp_path / "20240516.csv"
    path.write_bytes(support.csv_bytes(["1,2024/05/16,10,a"]))
    result = renkei("import", str(path), "--account", "acme", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var").stat().st_mode & 0o007 == 0
    assert "他のユーザー" not in renkei("check", "--config", str(config)).stderr


@pytest.mark.parametrize("name", ["rowid", "ROWID", "oid", "xmin", "ctid"])
def test_a_column_named_as_the_database_own_columns(name):
    raw = {"layouts": {"p": {"columns": [{"name": name}]}}}
    [problem] = problems(raw)
    assert problem.startswith(f"layouts.p.columns.0.name: '{name}' is a name the database uses")


@pytest.mark.parametrize(
    ("where", "raw"),
    [
        ("limits.max_bytes", {"limits": {"max_bytes": 10**20}}),
        ("smtp.timeout", {"smtp": {"timeout": 2**63}}),
    ],
)
def test_a_number_past_any_sense_is_refused_at_check(where, raw):
    assert problems(raw) == [
        f"{where}: {raw[where.split('.')[0]][where.split('.')[1]]} is too"
        f" large (at most 4611686018427387904)"
    ]


@pytest.mark.parametrize(
    ("listeners", "expected"),
    [
        (
            {"smtp": "127.0.0.1:2600", "api": "localhost:2600"},
            "api.listen: 'localhost:2600' is also the address of smtp.listen:"
            " each listener needs its own",
        ),
        (
            {"smtp": "127.0.0.1:2600", "ftp": "0.0.0.0:2600"},
            "ftp.listen: '0.0.0.0:2600' is also the address of smtp.listen:"
            " each listener needs its own",
        ),
    ],
)
def test_two_listeners_on_one_address(listeners, expected):
    raw = {section: {"listen": listen} for section, listen in listeners.items()}
    assert problems(raw) == [expected]


def test_listeners_on_other_ports_are_fine():
    parse(
        {"smtp": {"listen": "127.0.0.1:2600"}, "ftp": {"enabled": False, "listen": "0.0.0.0:2600"}}
    )
    parse({"smtp": {"listen": "127.0.0.1:2600"}, "api": {"listen": "127.0.0.2:2600"}})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"limits": {"max_rows": "30"}},
            "limits.max_rows: '30' is a string where a number belongs: write 30, without quotes",
        ),
        (
            {"report": {"timeout": "2.5"}},
            "report.timeout: '2.5' is a string where a number belongs: write 2.5, without quotes",
        ),
        (
            {"smtp": {"enabled": "False"}},
            "smtp.enabled: 'False' is a string where true or false belongs: write false,"
            " without quotes",
        ),
        ({"limits": {"max_rows": "many"}}, "limits.max_rows: 'many' is not a whole number"),
        ({"limits": {"max_rows": 2.5}}, "limits.max_rows: 2.5 is not a whole number"),
        ({"smtp": {"enabled": 1}}, "smtp.enabled: 1 is not true or false"),
        ({"limits": {"max_rows": 0}}, "limits.max_rows: 0 is less than 1, the least allowed"),
        ({"smtp": {"hostname": 7}}, "smtp.hostname: 7 is not a string: write it in quotes"),
    ],
)
def test_a_string_where_a_number_belongs_and_other_wrong_types(raw, expected):
    assert problems(raw) == [expected]


def test_keys_that_take_strings_still_take_them():
    raw = with_accounts(
        a={
            "set_values": {"a": "1"},
            "ftp": {"user": "1", "password": "demo-1", "interval": "15m", "delay": "3m"},
            "dropdir": {"path": "drop/a", "settle": 0},
        }
    )
    raw["daemon"] = {"data_dir": "var", "timezone": "UTC"}
    raw["report"] = {"retry_seconds": 1}  # an integer is a number too
    settings = parse(raw)
    assert settings.accounts["a"].dropdir.path == Path("drop/a")
    assert settings.report.retry_seconds == 1.0


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (
            "mail",
            {"address": "acme at in.example.jp"},
            "accounts.a.mail.address: 'acme at in.example.jp' is not a mail address",
        ),
        (
            "error_report_to",
            ["ops@acme.example", "Ops <ops@acme.example>"],
            "accounts.a.error_report_to.1: 'Ops <ops@acme.example>' is not a mail address",
        ),
        (
            "success_report_to",
            "sales@acme.example",
            "accounts.a.success_report_to: 'sales@acme.example' is not a list:"
            " write it in brackets, [ ]",
        ),
    ],
)
def test_an_address_that_is_not_an_email_address(where, value, expected):
    assert problems(with_accounts(a={where: value})) == [expected]


def test_address_messages_name_the_item():
    raw = with_accounts(
        a={
            "error_report_to": ["ops@acme.example", "ops@acme.example, it@acme.example"],
            "mail": {"address": "a@in.example.jp", "allowed_senders": ["@acme.example", "acme"]},
        }
    )
    raw["report"] = {"from": "renkei"}
    assert problems(raw) == [
        "report.from: 'renkei' is not a mail address",
        "accounts.a.error_report_to.1: 'ops@acme.example, it@acme.example' is not a mail address",
        "accounts.a.mail.allowed_senders.1: 'acme' is neither a mail address nor @domain",
    ]
    parse({"report": {"from": "renkei@localhost"}})  # the default: a bare host is a domain


# -- near misses ----------------------------------------------------------------------


def test_unknown_keys_suggest_the_near_miss():
    raw = with_accounts(acme={"on_row_eror": "skip", "mail": {"adress": "a@in.example.jp"}})
    raw["smpt"] = {"listen": "127.0.0.1:2600"}
    assert problems(raw) == [
        "accounts.acme.mail.address: required key is missing",
        "accounts.acme.mail.adress: unknown key; did you mean address?",
        "accounts.acme.on_row_eror: unknown key; did you mean on_row_error?",
        "smpt: unknown key; did you mean smtp?",
    ]


def test_unknown_layouts_suggest_a_configured_one():
    raw = with_accounts(a={})
    raw["accounts"]["a"]["layout"] = "performace"
    assert problems(raw) == [
        "accounts.a.layout: 'performace' is not a layout ([layouts.performace] is missing);"
        " did you mean performance?"
    ]
    raw["accounts"]["a"]["layout"] = "orders"  # nothing near: no guess
    assert problems(raw) == [
        "accounts.a.layout: 'orders' is not a layout ([layouts.orders] is missing)"
    ]


@pytest.mark.parametrize(
    ("zone", "near"),
    [("JST", "Asia/Tokyo"), ("asia/tokyo", "Asia/Tokyo"), ("Tokyo", "Asia/Tokyo")],
)
def test_unknown_time_zones_suggest_the_zone(zone, near):
    assert problems({"daemon": {"timezone": zone}}) == [
        f"daemon.timezone: '{zone}' is not a known time zone; did you mean {near}?"
    ]


@pytest.mark.parametrize("zone", ["Asia", "America/Argentina", "Etc"])
def test_a_folder_of_zones_is_no_zone(zone):
    """A region's folder of the zone database: a traceback (IsADirectoryError) from
    check, schedule and serve, and on reload an alert naming no key."""
    [found] = problems({"daemon": {"timezone": zone}})
    assert found.startswith(f"daemon.timezone: '{zone}' is not a known time zone")


def test_a_suggestion_in_japanese():
    found = problems({"daemon": {"timezone": "JST"}}, language="ja")
    assert found == [
        "daemon.timezone: 'JST' は既知のタイムゾーンではありません。Asia/Tokyo の誤りではありませんか?"
    ]


# -- warnings -------------------------------------------------------------------------


def test_an_empty_allowed_senders_is_a_warning_not_a_refusal():
    settings = parse(with_accounts(a={"mail": {"address": "a@in.example.jp"}}))
    assert [str(w) for w in check_warnings(settings)] == [
        "accounts.a.mail.allowed_senders: empty: no one may send mail to this account;"
        " list the senders' addresses or @domain"
    ]
    listed = {"address": "a@in.example.jp", "allowed_senders": ["@acme.example"]}
    assert check_warnings(parse(with_accounts(a={"mail": listed}))) == []


def test_ftp_checks_on_no_weekday_are_a_warning():
    ftp = {"user": "a", "password": "demo-a", "weekdays": []}
    settings = parse(with_accounts(a={"ftp": ftp}))
    assert [str(w) for w in check_warnings(settings)] == [
        "accounts.a.ftp.weekdays: empty: the FTP home is never checked on a schedule, only by"
        " renkei poll or the console's check now"
    ]


def test_an_expected_file_on_no_weekday_is_a_warning():
    expect = {"weekdays": [], "by": "10:00"}
    settings = parse(with_accounts(a={"expect": expect}))
    assert [str(w) for w in check_warnings(settings)] == [
        "accounts.a.expect.weekdays: empty: no day is one a file is due, so a missing file"
        " is never alerted"
    ]


@pytest.mark.parametrize("settle", [float("inf"), 86401])
def test_a_drop_folder_that_would_never_settle_is_refused(settle):
    dropdir = {"path": "drop", "settle": settle}
    [problem] = problems(with_accounts(a={"dropdir": dropdir}))
    assert problem.startswith("accounts.a.dropdir.settle: ") and "86400" in problem


@pytest.mark.parametrize(
    ("ftp", "api", "listen"),
    [
        ({"listen": "127.0.0.1:2121", "passive_ports": "8000-8100"}, "127.0.0.1:8080", "api"),
        ({"listen": "0.0.0.0:2121", "passive_ports": "2100-2200"}, "127.0.0.1:8080", "ftp"),
    ],
)
def test_a_passive_range_holding_a_listeners_port(ftp, api, listen):
    raw = {"layouts": LAYOUTS, "ftp": ftp, "api": {"listen": api}}
    [problem] = problems(raw)
    assert problem.startswith(f"ftp.passive_ports: '{ftp['passive_ports']}' holds the port of")
    assert f"{listen}.listen" in problem


# -- the command ----------------------------------------------------------------------


def test_renkei_check_warns_and_exits_0(tmp_path):
    quiet = account("quiet", mail={"address": "quiet@in.example.jp", "allowed_senders": []})
    config = write_config(tmp_path, account("acme") + quiet, extra='language = "en"')
    result = renkei("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"{config}: the config has 1 warning:",
        "accounts.quiet.mail.allowed_senders: empty: no one may send mail to this account;"
        " list the senders' addresses or @domain",
    ]
    assert result.stdout == f"{config}: ok (2 accounts, 1 layout)\n"


def test_renkei_check_refuses_in_japanese_and_exits_1(tmp_path):
    config = write_config(tmp_path, account("acme", on_row_eror="skip"))
    text = config.read_text(encoding="utf-8")
    text = text.replace("min_free_bytes = 0", 'min_free_bytes = 0\ntimezone = "JST"')
    config.write_text(text.replace("[smtp]", '[limits]\nmax_rows = "30"\n[smtp]'), "utf-8")
    result = renkei("check", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{config}: 設定に 3 件の問題があります:",
        "daemon.timezone: 'JST' は既知のタイムゾーンではありません。Asia/Tokyo の誤りではありませんか?",
        "limits.max_rows: '30' は文字列です。数値は引用符を付けずに 30 と書いてください",
        "accounts.acme.on_row_eror: 不明なキーです。on_row_error の誤りではありませんか?",
    ]
    assert result.stdout == ""


# -- the daemon's log -----------------------------------------------------------------


def wait_for_log(daemon: Daemon, words: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while words not in (text := daemon.log.read_text(encoding="utf-8")):
        assert time.monotonic() < deadline, text[-3000:]
        time.sleep(0.1)
    return text


def test_first_checks_are_not_missed_and_warnings_and_refusals_are_logged(tmp_path):
    now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
    to_midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    if to_midnight < 120:  # the windows below close at 23:59: no check may run then
        time.sleep(to_midnight + 2)
        now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
    day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][now.weekday()]
    today = {"weekdays": [day], "window": "00:00-23:59", "interval": "2h"}
    quiet = {"address": "quiet@in.example.jp", "allowed_senders": []}
    extra = (
        account("fresh")
        + ftp_section("fresh", "demo-fresh", **today)
        + account("known", mail=quiet)
        + ftp_section("known", "demo-known", **today)
    )
    config, _ = ftp_config(tmp_path, extra)
    state = tmp_path / "var" / "ftp" / ".last-checks.json"
    state.parent.mkdir(parents=True)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    state.write_text(json.dumps({"known": long_ago.isoformat()}))
    daemon = Daemon(config).start()
    try:
        text = wait_for_log(daemon, "check known: tick ")
        assert "check fresh: no check recorded yet; running the first now" in text
        assert "check fresh: tick" not in text  # a new install missed nothing
        assert re.search(r"check known: tick \S+ \S+ was missed; running it now", text)
        assert (
            "WARNING daemon.master: config: accounts.known.mail.allowed_senders: empty: no one"
            " may send mail to this account; list the senders' addresses or @domain"
        ) in text
        # A refused reload is logged in English, whatever the config's language.
        config.write_text(config.read_text() + "\n[smpt]\n", encoding="utf-8")
        wait_for_log(daemon, "reload refused: smpt: unknown key; did you mean smtp?")
    finally:
        assert daemon.terminate() == 0


def test_a_drop_folder_that_is_a_file_or_under_one(tmp_path):
    """check passed it; serve then could not start, and a reload to it was refused with
    a FileExistsError."""
    (tmp_path / "afile").write_text("")
    for path in ("afile", "afile/in"):
        raw = with_accounts(a={"dropdir": {"path": path}})
        assert problems(raw, tmp_path / "renkei.toml") == [
            f"accounts.a.dropdir.path: {tmp_path / 'afile'} is a file, not a folder;"
            " a drop folder must be a folder"
        ]


def test_demo_secrets_are_checked_against_the_listeners_a_reload_keeps(tmp_path, monkeypatch):
    """A listener needs a restart, so a reload keeps the old one: a config whose own
    listeners are loopback, with demo tokens, passed, and would have been served on the
    public address the daemon started with."""
    monkeypatch.setenv("RENKEI_TEST_ADMIN", "s3cret-admin-token")
    public = with_accounts(a={}) | {
        "api": {"listen": "0.0.0.0:8080", "admin_token": "env:RENKEI_TEST_ADMIN"}
    }
    served = parse(public, tmp_path / "renkei.toml")
    local = with_accounts(a={}) | {
        "api": {"listen": "127.0.0.1:8080", "admin_token": "demo-admin-token"}
    }
    new = parse(local, tmp_path / "renkei.toml")
    assert served_checks(new) == []
    effective, restart = keep_started(served, new)
    assert restart == ["api.listen"]
    [problem] = served_checks(effective)
    assert (problem.where, problem.key) == ("api.admin_token", "config.demo_secret")
    assert "api.listen = '0.0.0.0:8080'" in problem.render("en")


def test_two_layouts_whose_names_differ_only_in_case(tmp_path):
    """`sales` and `SALES` passed check and shared one SQLite table: both accounts'
    rows in it, the columns of both."""
    raw = with_accounts(a={}) | {"layouts": {**LAYOUTS, "Performance": LAYOUTS["performance"]}}
    assert problems(raw, tmp_path / "renkei.toml") == [
        "layouts.Performance: differs from layouts.performance only in case"
        " (the database would make them one table)"
    ]


def test_files_left_in_the_ftp_home_of_no_account_are_a_warning(tmp_path):
    """An FTP home is its account's name's folder: an account renamed left its waiting
    uploads in the old one, never checked again, and nothing said so."""
    ftp = {"user": "acme", "password": "demo-a"}
    settings = parse(with_accounts(acme_new={"ftp": ftp}), tmp_path / "renkei.toml")
    old = tmp_path / "var" / "ftp" / "acme"
    old.mkdir(parents=True)
    (tmp_path / "var").chmod(0o700)  # not the open data_dir's warning
    (old / "20241006.csv").write_text("member_no\n1\n")
    (old / ".20241007.csv.0123456789abcdef.part").write_text("")  # an upload's, not a file
    # Uploads moved aside for a later one of their name: hidden from `ls` and `mv *`,
    # they were not counted, and were left behind when the warning was followed.
    (old / "..held-20261206T004432563469-f24abd-20241006.csv").write_text("member_no\n0\n")
    holder = old / "..held-20261206T004432563470-f24abe"
    holder.mkdir()
    (holder / ("x" * 200 + ".csv")).write_text("member_no\n2\n")
    assert [str(w) for w in check_warnings(settings)] == [
        f"accounts: {old} holds 3 files but is no account's FTP home (an account renamed or"
        " removed?): move them all, those named ..held-… too (ls does not show them), into"
        " the home of the account that should import them"
    ]
    settings.ftp_home("acme_new").mkdir()
    for path in old.iterdir():
        if not path.name.endswith(".part"):
            path.rename(settings.ftp_home("acme_new") / path.name)
    assert check_warnings(settings) == []


def test_a_store_url_that_cannot_be_read_is_a_problem_that_shows_no_password(tmp_path):
    """A `[` in the password (unescaped) made check and serve die with a traceback
    ('Invalid IPv6 URL')."""
    config = write_config(tmp_path, account("acme"), extra='language = "en"')
    url = "postgresql://renkei:Top[SecretPG@127.0.0.1:5432/renkei"
    config.write_text(config.read_text() + f'[store]\nurl = "{url}"\n')
    for command in ("check", "serve"):
        result = renkei(command, "--config", str(config))
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and "Top[Secret" not in result.stderr
        assert (
            "store.url: cannot be read as a URL: write [ ] @ : / # ? in the password"
        ) in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("foo=bar", 'invalid URI query parameter: "foo"'),
        ("sslmode=bogus", "sslmode='bogus': disable, allow, prefer, require"),
        ("target_session_attrs=bogus", "target_session_attrs='bogus': any, read-write"),
        ("gssencmode=bogus", "gssencmode='bogus': disable, prefer, require"),
        ("port=abc", "port='abc'"),
    ],
)
def test_a_store_url_option_postgresql_refuses_is_a_problem_of_check(tmp_path, option, said):
    """check passed it with a warning worded as a server it could not reach; serve then
    refused to start."""
    config = write_config(tmp_path, account("acme"))
    url = f"postgresql://renkei:secret-pass@127.0.0.1:5432/renkei?{option}"
    config.write_text(config.read_text() + f'[store]\nurl = "{url}"\n')
    result = renkei("check", "--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "secret-pass" not in result.stderr
    assert "store.url: store.url の接続オプションを PostgreSQL が受け付けません" in result.stderr
    assert said in result.stderr
    # Read from the environment (as the example config writes it), alike.
    config.write_text(config.read_text().replace(url, "env:RENKEI_TEST_STORE"))
    result = renkei("check", "--config", str(config), env={"RENKEI_TEST_STORE": url})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "secret-pass" not in result.stderr and said in result.stderr


def test_a_line_break_in_a_value_keeps_its_sentence_on_one_line(tmp_path):
    """A quoted cell of several lines broke the row error's sentence over lines in
    the report mail, `renkei show` and the error CSV's message cell."""
    config = write_config(tmp_path, account("acme", report="never", on_row_error="skip"))
    path = tmp_path / "20240516.csv"
    path.write_bytes(b'member_no,date,sales_amount,note\r\n"1\r\n2",2024/05/16,1,a\r\n')
    result = renkei("import", str(path), "--account", "acme", "--json", "--config", str(config))
    [error] = json.loads(result.stdout)["errors"]
    assert error["value"] == "1\r\n2"  # the value itself is kept whole
    assert "値「1↵2」" in error["message"] and "\n" not in error["message"]


@pytest.mark.parametrize(
    ("where", "table", "key", "value"),
    [
        ("accounts.a.ftp.password", "ftp", "password", 98765432),
        ("accounts.a.api.token_sha256", "api", "token_sha256", "PlainToken-LEAKME"),
        ("accounts.a.ftp.password", "ftp", "password", ["SuperSecretFtp1"]),
    ],
)
def test_a_secret_written_wrong_is_named_by_its_key_not_shown(where, table, key, value):
    """check, the log of a refused reload and the admin's alert mail repeated it."""
    section = {key: value} | ({"user": "a"} if table == "ftp" else {})
    said = problems(with_accounts(a={table: section}))
    assert [line.split(":")[0] for line in said] == [where], said
    assert not any(str(value).strip("[]'") in line for line in said), said
    assert said[0].startswith(f"{where}: *** "), said


def test_a_window_that_starts_where_it_ends_is_a_warning():
    """`00:00-00:00` written for all day is one check a day."""
    ftp = {"user": "a", "password": "demo-a", "window": "00:00-00:00"}
    settings = parse(with_accounts(a={"ftp": ftp}))
    assert [str(w) for w in check_warnings(settings)] == [
        "accounts.a.ftp.window: it starts and ends at 00:00: one check a day, at 00:00;"
        " for all day write 00:00-23:59"
    ]


def test_an_ftp_home_while_ftp_intake_is_off_is_a_warning():
    raw = with_accounts(a={"ftp": {"user": "a", "password": "demo-a"}})
    settings = parse({**raw, "ftp": {"enabled": False}})
    assert [str(w) for w in check_warnings(settings)] == [
        "accounts.a.ftp: ftp.enabled = false: this account's FTP home is never checked"
    ]


def test_a_drop_folder_that_is_a_link_round_in_a_loop_is_said_so(tmp_path):
    """It was a traceback out of `renkei check` (Path.resolve's RuntimeError)."""
    (tmp_path / "var" / "drop").mkdir(parents=True)
    (tmp_path / "var" / "drop" / "loopy").symlink_to("loopy")
    raw = with_accounts(a={"dropdir": {"path": "var/drop/loopy"}})
    assert problems(raw, tmp_path / "renkei.toml") == [
        f"accounts.a.dropdir.path: {tmp_path / 'var' / 'drop' / 'loopy'} is a symbolic link"
        " round in a loop (following it leads back to it); a drop folder must be a folder"
    ]
