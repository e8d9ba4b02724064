"""An account with an FTP home while the daemon serves no FTP (`ftp.enabled = false`):
no poller runs, so no check time is listed anywhere and a check asked for now is a 409
in words. It once listed times that never came, and a check now was a 500 with a
traceback in the log (the daemon's poll raised LookupError)."""

from __future__ import annotations

import httpx
import pytest

from tests.console_support import csrf, login, users_toml
from tests.support import Daemon, account, quiet_ftp_schedule, renkei, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
FTP_HOME = '[accounts.acme.ftp]\nuser = "acme"\n' + quiet_ftp_schedule()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ftp_off")
    config = write_config(
        folder, account("acme") + FTP_HOME, extra=users_toml({"admin": ("admin", [])})
    )
    assert "[ftp]\nenabled = false" in config.read_text()
    d = Daemon(config).start()
    yield d
    assert d.terminate() == 0
    assert "Traceback" not in d.log.read_text()


def test_the_api_lists_no_check_and_refuses_a_check_now_in_words(daemon):
    view = httpx.get(f"{daemon.api}/api/v1/accounts/acme", headers=ADMIN)
    assert view.status_code == 200 and view.json()["next_checks"] == []
    poll = httpx.post(f"{daemon.api}/api/v1/accounts/acme/poll", headers=ADMIN)
    assert poll.status_code == 409, poll.text
    assert poll.json()["error"] == "no_ftp"
    assert "FTP 受付が止めてあります(ftp.enabled = false)" in poll.json()["message"]


def test_renkei_poll_says_why(daemon):
    result = renkei("poll", "acme", "--config", str(daemon.config))
    assert result.returncode == 1
    assert "ftp.enabled = false" in result.stdout + result.stderr


def test_the_consoles_check_now_is_refused_in_words(daemon):
    web = login(daemon.api, "admin")
    try:
        r = web.post("/console/accounts/acme/poll", data={"csrf": csrf(web)})
        assert r.status_code == 409 and "FTP 受付が止めてあります" in r.text
    finally:
        web.close()


def test_renkei_schedule_says_no_check_is_made(tmp_path):
    config = write_config(tmp_path, account("acme") + FTP_HOME)
    result = renkei("schedule", "acme", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "FTP 受付が止めてあります(ftp.enabled = false): acme の定期確認はありません"
    )
