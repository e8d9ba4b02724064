"""A report the relay took, its instance killed before it recorded so, on PostgreSQL's
shared outbox: the next claim settles it (never sent again) and its run says it was
sent, where it said "queued" for good. The real daemon, a real relay that answers its
250 late, a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest

from tests.support import Daemon, Relay, account, csv_bytes, wait_for, write_config

pytestmark = pytest.mark.slow


class SlowRelay(Relay):
    """Keeps each mail at once, and answers its 250 two seconds later."""

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(2)
        return answer


def test_a_report_the_relay_took_before_a_kill_is_recorded_sent(tmp_path, pg_url):
    relay = SlowRelay()
    relay.start()
    accounts = account("acme", report="always") + '[accounts.acme.api]\ntoken = "demo-acme"\n'
    extra = f'[store]\nurl = "{pg_url}"\n'
    config = write_config(tmp_path, accounts, extra=extra, relay_port=relay.port)
    daemon = Daemon(config).start()
    try:
        reply = httpx.post(
            f"{daemon.api}/api/v1/imports?wait=true",
            files={"file": ("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))},
            headers={"Authorization": "Bearer demo-acme"},
            timeout=60,
        )
        run_id = reply.json()["id"]
        relay.wait(1)  # the relay has the mail; its 250 comes in two seconds
        with psycopg.connect(pg_url) as db:
            # The run's row held: the report's "sent" waits behind it, and dies there.
            db.execute("SELECT id FROM runs WHERE id = %s FOR UPDATE", (run_id,))
            time.sleep(3)
            daemon.kill()
        daemon.start()

        def state() -> str:
            with psycopg.connect(pg_url) as db:
                sql = "SELECT report_state FROM runs WHERE id = %s"
                return db.execute(sql, (run_id,)).fetchone()[0]

        wait_for(lambda: state() == "sent", timeout=30)
        time.sleep(1)
        assert len(relay.messages) == 1  # taken once, never sent again
    finally:
        daemon.terminate()
        relay.stop()
