"""The report outbox while the relay is down: once each pause ends, a waiting report
asks the relay at once, whatever its own next try; and why the relay cannot take mail
is said in the catalog's words, never as the mail library's English.

A real Reporter on a real store and outbox folder (tests/test_outbox.py's helpers); the
relay is a real aiosmtpd server (conftest's `relay`), which offers no STARTTLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest

from daemon import metrics
from daemon.report.outbox import Reporter
from daemon.settings.loading import load
from daemon.store.sqlite import SqliteStore
from importers.messages import Words, said
from tests.support import account, write_config
from tests.test_outbox import (
    ADMIN,
    attempts_and_next_try,
    envelope,
    queued_alerts,
    reporter_of,
    waiting,
)

RETRY_SECONDS = 0.5  # tests/support.py's report.retry_seconds


def relay_down_metric() -> float:
    return metrics.RELAY_DOWN._value.get()


@pytest.mark.parametrize("shared", [False, True], ids=["folder", "shared"])
async def test_a_relay_back_is_asked_when_the_pause_ends_not_at_the_reports_own_try(
    tmp_path, relay, request, shared
):
    """One report alone waits, tried often enough that its own next try (backoff up to
    max_retry_seconds, an hour here) is seconds away: the relay back, it still goes
    within a pause, and the relay is no longer said down."""
    pg_url = request.getfixturevalue("pg_url") if shared else ""
    relay.stop()
    async with reporter_of(tmp_path, relay.port, max_retry=3600, pg_url=pg_url) as reporter:
        [item_id] = await queued_alerts(reporter, 1)
        serving = asyncio.create_task(reporter.serve())
        try:
            deadline = time.monotonic() + 30
            # Tried after 0.5, 1, 2 s: the fourth try puts the next one 4 s after it.
            while (await attempts_and_next_try(reporter, item_id))[0] < 4:
                assert time.monotonic() < deadline, "the report was not tried four times"
                await asyncio.sleep(0.05)
            _, own_next = await attempts_and_next_try(reporter, item_id)
            assert own_next > time.time() + 3
            assert reporter.relay_down is not None and relay_down_metric() == 1
            relay.start()
            back = time.time()
            while await waiting(reporter, [item_id]):
                assert time.time() < back + RETRY_SECONDS + 1, (
                    f"not sent within a pause of the relay's return (own try in"
                    f" {own_next - back:.1f} s)"
                )
                await asyncio.sleep(0.05)
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        assert [m["Subject"] for m in relay.for_recipient(ADMIN)] == ["alert 0"]
        assert reporter.relay_down is None
        assert relay_down_metric() == 0


async def test_a_relay_still_down_is_asked_by_one_report_when_the_pause_ends(tmp_path, relay):
    """The pause over, the oldest report asks (not yet due by its own try); the others
    still wait untried, and the relay rests again."""
    relay.stop()
    async with reporter_of(tmp_path, relay.port, max_retry=3600) as reporter:
        ids = await queued_alerts(reporter, 3)
        await reporter.flush()
        assert [(await attempts_and_next_try(reporter, i))[0] for i in ids] == [1, 0, 0]
        # Its own next try far off, as an outage of hours leaves it.
        far = envelope(reporter, ids[0]) | {"attempts": 1, "next_try": time.time() + 3600}
        (reporter.outbox / f"{ids[0]}.json").write_text(json.dumps(far))
        rests_until = reporter.relay_down.until
        await asyncio.sleep(max(rests_until - time.time(), 0) + 0.05)
        await reporter.flush()
        assert [(await attempts_and_next_try(reporter, i))[0] for i in ids] == [2, 0, 0]
        assert reporter.relay_down is not None and reporter.relay_down.until > rests_until


async def test_a_relay_without_starttls_under_tls_required_is_said_in_the_catalogs_words(
    tmp_path, relay
):
    """report.tls = "required" and a relay that offers no STARTTLS: the console and
    `renkei show` say why in Japanese, naming report.tls, not aiosmtplib's English."""
    config = write_config(tmp_path, account("acme"), relay_port=relay.port)
    config.write_text(config.read_text().replace("timeout = 5", 'timeout = 5\ntls = "required"'))
    settings = load(config)
    store = await SqliteStore.open(settings.data_dir / "renkei.db")
    try:
        reporter = Reporter(lambda: settings, store)
        ids = await queued_alerts(reporter, 2)
        await reporter.flush()
        assert await waiting(reporter, ids) == ids
        assert relay.messages == []
        down = reporter.relay_down
        assert down is not None and down.said == Words("relay.no_starttls"), down
        ja = said(down.said, down.answer, "ja")
        assert "STARTTLS" in ja and "report.tls" in ja and "対応していません" in ja, ja
        assert "not supported by server" not in ja
        assert "report.tls" in said(down.said, down.answer, "en")
    finally:
        await store.close()
