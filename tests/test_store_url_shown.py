"""The database password is never shown, whatever form `store.url` gives it in: the
real `renkei runs` and `renkei serve` against a PostgreSQL that refuses connections."""

from __future__ import annotations

import pytest

from tests.support import account, refused_port, renkei, write_config

SECRET = "S3cretPW"


# (the store URL, with {port}; what the message shows of it)
FORMS = [
    (
        "postgresql://postgres:{secret}@127.0.0.1:{port}/renkei",
        "postgresql://postgres:***@127.0.0.1:{port}/renkei",
    ),
    (
        "postgresql://postgres@127.0.0.1:{port}/renkei?password={secret}",
        "postgresql://postgres@127.0.0.1:{port}/renkei?password=***",
    ),
    (
        "postgresql://postgres@127.0.0.1:{port}/renkei?passfile=/etc/pw&password={secret}"
        "&connect_timeout=5",
        "postgresql://postgres@127.0.0.1:{port}/renkei?passfile=/etc/pw&password=***"
        "&connect_timeout=5",
    ),
    (  # a list of hosts, each with its port: it was all hidden, host and database too
        "postgresql://postgres:{secret}@127.0.0.1:{port},127.0.0.1:{port}/renkei",
        "postgresql://postgres:***@127.0.0.1:{port},127.0.0.1:{port}/renkei",
    ),
    (
        "host=127.0.0.1 port={port} user=postgres password={secret} dbname=renkei",
        "host=127.0.0.1 port={port} user=postgres password=*** dbname=renkei",
    ),
    (
        "host=127.0.0.1 port={port} password = '{secret} x' dbname=renkei",
        "host=127.0.0.1 port={port} password = *** dbname=renkei",
    ),
]


@pytest.mark.parametrize(("given", "shown"), FORMS)
@pytest.mark.parametrize("command", ["runs", "serve"])
def test_the_password_is_never_shown(tmp_path, given, shown, command):
    with refused_port() as port:
        url = given.format(secret=SECRET, port=port)
        extra = '[store]\nurl = "env:RENKEI_TEST_STORE_URL"\n'
        config = write_config(tmp_path, account("acme"), extra=extra)
        env = {"RENKEI_TEST_STORE_URL": url}
        result = renkei(command, "--config", str(config), env=env, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert f"データベース {shown.format(port=port)} に接続できません" in result.stderr
