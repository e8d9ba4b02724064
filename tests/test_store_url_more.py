"""`store.url` checked as serve connects with it: what `renkei check` passes, serve
takes, and what serve would refuse, check refuses at `store.url` saying what to write,
with no password shown. Literal and `env:` values alike; the PostgreSQL tests run with
CI=true."""

from __future__ import annotations

import psycopg
import pytest

from tests.support import Daemon, account, refused_port, renkei, write_config

SECRET = "secret-pass"
OPTION = "store.url: store.url の接続オプションを PostgreSQL が受け付けません: "


def check(tmp_path, url: str, *, from_env: bool = False, command: str = "check"):
    """`renkei COMMAND` on a config whose store.url is `url`, written in the file or
    read from the environment."""
    value = "env:RENKEI_TEST_STORE" if from_env else url
    config = write_config(tmp_path, account("acme"), extra=f'[store]\nurl = "{value}"\n')
    env = {"RENKEI_TEST_STORE": url} if from_env else None
    result = renkei(command, "--config", str(config), env=env, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert SECRET not in result.stdout + result.stderr, result.stderr
    return result


def refused(tmp_path, url: str, said: str, *, from_env: bool = False) -> None:
    result = check(tmp_path, url, from_env=from_env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert said in result.stderr, result.stderr


def store_problems(result) -> list[str]:
    """The lines of check about store.url but its warning that the database was not
    reached (no server listens in these tests)."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.startswith("store.url") and "照合" not in line]


@pytest.mark.parametrize(
    ("keywords", "said"),
    [
        ("host=db port=abc dbname=renkei", OPTION + "port='abc'"),
        ("host=db keepalives_count=x dbname=renkei", OPTION + "keepalives_count='x'"),
        ("host=db sslmode=bogus dbname=renkei", OPTION + "sslmode='bogus'"),
        ("host=db foo=bar dbname=renkei", OPTION + 'invalid connection option "foo"'),
        (
            f"host=db password=sec {SECRET} dbname=renkei",
            "store.url: 環境変数 RENKEI_TEST_STORE の値を libpq の key=value の形として読めません",
        ),
    ],
)
def test_the_environments_keyword_form_is_checked_as_libpq_reads_it(tmp_path, keywords, said):
    """check passed `host=db port=abc` from the environment: only a URL was checked,
    and serve then refused to start (libpq's words quoting a piece of the password)."""
    refused(tmp_path, keywords, said, from_env=True)


def test_a_good_keyword_form_from_the_environment_passes(tmp_path):
    with refused_port() as port:
        keywords = f"host=127.0.0.1 port={port} password='{SECRET} x' keepalives_count=3"
        assert store_problems(check(tmp_path, keywords, from_env=True)) == []


def test_serve_refuses_the_keyword_form_with_the_words_of_check(tmp_path):
    result = check(tmp_path, f"host=db port=abc password={SECRET}", from_env=True, command="serve")
    assert result.returncode == 1, result.stderr
    assert OPTION + "port='abc'" in result.stderr, result.stderr


@pytest.mark.parametrize("scheme", ["PostgreSQL", "POSTGRES"])
@pytest.mark.parametrize("from_env", [False, True])
def test_a_scheme_in_capitals_is_refused_saying_to_write_it_in_lower_case(
    tmp_path, scheme, from_env
):
    """libpq reads a URL only by its scheme in lower case: `PostgreSQL://…` from the
    environment passed check, and serve failed on libpq's key=value parser."""
    url = f"{scheme}://renkei:{SECRET}@127.0.0.1/renkei"
    said = f"store.url: libpq は {scheme}:// を URL と読みません(大文字と小文字を区別します)"
    refused(tmp_path, url, said + ": postgresql:// と小文字で書いてください", from_env=from_env)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://renkei:{SECRET} x@127.0.0.1/renkei",
        f"postgresql://renkei:{SECRET}@127.0.0.1/my renkei",
    ],
)
def test_a_space_in_the_url_is_refused_without_libpqs_words(tmp_path, url):
    """libpq's words quote the part with the space: the password was shown."""
    said = "store.url: URL に空白があります。libpq は空白のある URL を読みません: 空白は %20 と書いてください"
    refused(tmp_path, url, said)
    refused(tmp_path, url, said, from_env=True)


@pytest.mark.parametrize("around", [" {}", "{}\n"])
def test_a_url_from_the_environment_with_a_space_around_it_is_refused(tmp_path, around):
    """check stripped it, serve did not: libpq read ` postgresql://…` as key=value and
    took the line break into the database name."""
    url = around.format(f"postgresql://renkei:{SECRET}@127.0.0.1/renkei")
    said = "store.url: 環境変数 RENKEI_TEST_STORE の URL の前か後ろに空白か改行があります"
    refused(tmp_path, url, said, from_env=True)


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("keepalives_count=x", "keepalives_count='x'"),
        ("tcp_user_timeout=soon", "tcp_user_timeout='soon'"),
        ("require_auth=bogus", "require_auth='bogus': password, md5, scram-sha-256"),
        ("require_auth=password,!md5", "require_auth='password,!md5'"),
        ("replication=database", "replication='database': false, off, no, 0"),
        ("sslnegotiation=direct", "sslnegotiation='direct': sslmode=require"),
    ],
)
def test_an_option_libpq_refuses_at_connect_is_refused_by_check(tmp_path, option, said):
    """check passed these: it knew no values of them, and libpq refuses them only
    when it connects."""
    url = f"postgresql://renkei:{SECRET}@127.0.0.1/renkei?{option}"
    refused(tmp_path, url, OPTION + said)
    refused(tmp_path, url, OPTION + said, from_env=True)


def test_options_libpq_takes_pass_check(tmp_path):
    with refused_port() as port:
        options = (
            "keepalives_count=3&tcp_user_timeout=1000&require_auth=!password,!md5"
            "&replication=off&sslmode=require&sslnegotiation=direct&connect_timeout=3"
        )
        url = f"postgresql://renkei:{SECRET}@127.0.0.1:{port}/renkei?{options}"
        assert store_problems(check(tmp_path, url)) == []


@pytest.mark.parametrize(
    "hosts", ["127.0.0.1,localhost", "127.0.0.1:{port},localhost:{port}", "127.0.0.1,[::1]:{port}"]
)
def test_a_list_of_hosts_passes_check(tmp_path, hosts):
    """libpq and psycopg try each host in turn; check called the list unreadable (with
    its ports) or refused the port it read from it (',')."""
    with refused_port() as port:
        url = f"postgresql://renkei:{SECRET}@{hosts}/renkei".format(port=port)
        assert store_problems(check(tmp_path, url)) == []


def test_more_ports_than_hosts_is_refused_naming_both_counts(tmp_path):
    url = f"postgresql://renkei:{SECRET}@127.0.0.1,localhost/renkei?port=5432,5433,5434"
    refused(tmp_path, url, "store.url: ホスト 2 個にポートが 3 個あります")


def test_an_at_sign_in_the_password_is_refused_as_unreadable(tmp_path):
    """libpq ends the user's part at the first @: it connected to `pass@127.0.0.1`."""
    url = f"postgresql://renkei:{SECRET}@pass@127.0.0.1/renkei"
    refused(tmp_path, url, "store.url: URL として読めません。パスワードなどの [ ] @ : / # ?")


def test_serve_starts_on_the_second_host_of_a_list(tmp_path, pg_url):
    """What check passes, serve takes: the first host refuses, the second serves."""
    with refused_port() as port:
        head, _, rest = pg_url.partition("@")
        url = f"{head}@127.0.0.1:{port},{rest}"
        assert store_problems(check(tmp_path, url)) == []
        daemon = Daemon(tmp_path / "renkei.toml").start()  # READY=1: the store is open
        try:
            with psycopg.connect(pg_url) as conn:
                tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                assert tables.fetchone()[0] > 0  # migrated by serve
        finally:
            assert daemon.terminate() == 0
