"""The console's overview says when report mail cannot reach the relay: which relay,
since when, when the waiting mail is tried again and why, in the page's language; and
says nothing once the relay takes mail again. /metrics says it too, for an alert. A real daemon and a real aiosmtpd relay,
down (its port closed) until the test starts it."""

from __future__ import annotations

import html
import re
import time

import httpx

from tests.console_support import login, users_toml
from tests.support import Daemon, Relay, account, mail, queued_ids, send, write_config


def overview(client, until: str, timeout: float = 20) -> str:
    """The overview once `until` (a pattern) is on it."""
    deadline = time.monotonic() + timeout
    while True:
        page = html.unescape(client.get("/console/").text)
        if re.search(until, page):
            return page
        assert time.monotonic() < deadline, page[-3000:]
        time.sleep(0.2)


def test_the_overview_says_the_relay_is_down_and_no_more_once_it_is_up(tmp_path):
    relay = Relay()  # not started: its port refuses connections
    accounts = account("acme") + account("beta")
    config = write_config(tmp_path, accounts, extra=users_toml(), relay_port=relay.port)
    daemon = Daemon(config).start()
    web = login(daemon.api, "view")
    try:
        page = web.get("/console/").text
        assert 'id="relay-down"' not in page  # nothing tried yet: nothing to say
        _, _, reply = send(daemon.smtp_port, mail([("20240516.csv", b"1,2024/05/16,1,a\n")]))
        run = daemon.wait_run(queued_ids(reply)[0])["id"]
        page = overview(web, 'id="relay-down"')
        assert f"メールのリレー 127.0.0.1:{relay.port} に" in page
        assert "接続を拒否されました" in page and "もう一度送ります" in page
        assert "renkei_report_relay_down 1.0" in httpx.get(f"{daemon.api}/metrics").text
        # The run's page says its report's last try in the same words.
        shown = html.unescape(web.get(f"/console/runs/{run}").text)
        assert "接続を拒否されました" in shown and "Connect call" not in shown
        web.get("/console/lang/en")
        shown = html.unescape(web.get(f"/console/runs/{run}").text)
        assert "connection refused" in shown and "Connect call" not in shown
        page = overview(web, "has not reached the relay")
        assert f"the relay 127.0.0.1:{relay.port} since" in page
        assert "connection refused" in page and "接続を拒否" not in page
        relay.start()
        relay.wait(1)
        page = overview(web, r"^(?![\s\S]*relay-down)")
        assert "has not reached the relay" not in page
        assert "renkei_report_relay_down 0.0" in httpx.get(f"{daemon.api}/metrics").text
    finally:
        web.close()
        daemon.terminate()
        relay.stop()
