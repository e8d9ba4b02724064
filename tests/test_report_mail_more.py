"""Report mail as the relay answers it: a recipient refused for good is never asked
again, whatever the others' answers; the log says the relay's answers plainly; a file
name holding `=?` comes back in the Subject exactly; and a relay that speaks no TLS to
`report.tls = "implicit"` is said in the catalog's words.

A real Reporter on a real store and outbox folder (or a shared PostgreSQL outbox); the
relay is a real aiosmtpd server (conftest's `relay`, tests/support.py's Relay), which
refuses the recipients a test names with the codes it chooses.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import logging
import re
import time
from collections.abc import AsyncIterator
from email.header import decode_header, make_header
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest

from daemon.report.alerts import Alerts
from daemon.report.outbox import Reporter
from daemon.settings.loading import load
from daemon.spool.queue import Meta
from daemon.store.open import open_store
from daemon.store.sqlite import SqliteStore
from importers.messages import Words, message, said
from tests.support import Relay, account, csv_bytes, renkei, write_config

ADMIN = "admin@example.jp"
OPS = "ops@acme.example"
BOSS = "boss@acme.example"
GREYLISTED = "450 4.2.0 greylisted"
NO_SUCH_USER = "550 5.1.1 no such user"


@contextlib.asynccontextmanager
async def reporter_for(
    folder: Path, relay_port: int, pg_url: str = "", relay_keys: str = "", **keys: Any
) -> AsyncIterator[Reporter]:
    """A reporter of account acme (`keys` its own), its admin alerts to ADMIN, its
    store (PostgreSQL's shared outbox with `pg_url`) and outbox in `folder`; `relay_keys`,
    more lines of the [report] section."""
    extra = f'admin_to = ["{ADMIN}"]\n{relay_keys}'
    if pg_url:
        extra += f'[store]\nurl = "{pg_url}"\n'
    config = write_config(folder, account("acme", **keys), extra=extra, relay_port=relay_port)
    settings = load(config)
    store = (
        await open_store(settings)
        if pg_url
        else await SqliteStore.open(settings.data_dir / "renkei.db")
    )
    try:
        reporter = Reporter(lambda: settings, store)
        reporter.on_refused = Alerts(lambda: settings, reporter).report_refused
        yield reporter
    finally:
        await store.close()


async def failed_run(reporter: Reporter, run_id: str, filename: str = "20240516.csv") -> None:
    """A run of acme that failed, its report queued."""
    store = reporter.store
    await store.add_run(run_id, Meta("acme", "mail", "export@acme.example", filename))
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    await store.update_run(
        run_id, state="failed", finished_at=now, report_state="pending", message="x"
    )
    await reporter.queue_run(run_id)


async def flush_until(reporter: Reporter, done: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        await reporter.flush()
        await asyncio.sleep(0.1)


def alerts_about(relay: Relay, item: str) -> list[email.message.EmailMessage]:
    with relay._lock:
        pairs = list(zip(relay.messages, relay.envelopes, strict=True))
    return [m for m, (_, to) in pairs if ADMIN in to and item in m["Subject"]]


async def test_the_report_of_a_run_whose_account_a_reload_removed_is_settled(
    tmp_path, relay, caplog
):
    """The run completed after a reload took its account away: its report stayed
    "being prepared" (送信準備中) for good, with nothing logged."""
    async with reporter_for(tmp_path, relay.port) as reporter:
        store = reporter.store
        await store.add_run("r0", Meta("gone", "mail", "export@gone.example", "20240516.csv"))
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        await store.update_run("r0", state="completed", finished_at=now, report_state="pending")
        with caplog.at_level(logging.WARNING):
            await reporter.queue_run("r0")
        assert (await store.get_run("r0"))["report_state"] == "none"
        assert "run r0: no report mail: account gone is no longer in the config" in caplog.text
        assert relay.messages == []


# -- 1. a 5xx beside 4xx recipients, nobody accepting ----------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["folder", "shared"])
async def test_a_recipient_refused_for_good_beside_one_refused_for_now_is_not_asked_again(
    tmp_path, relay, request, shared
):
    """Nobody took the mail: one recipient greylisted (450), the other unknown (550).
    The 550 was asked again at every retry and alerted only once the greylisted one
    took the mail; it is alerted at once, once, and never asked again."""
    pg_url = request.getfixturevalue("pg_url") if shared else ""
    relay.refuse[OPS] = GREYLISTED
    relay.refuse[BOSS] = NO_SUCH_USER
    keys = {"error_report_to": [OPS, BOSS], "report": "errors"}
    async with reporter_for(tmp_path, relay.port, pg_url, **keys) as reporter:
        await failed_run(reporter, "r1")
        await flush_until(
            reporter,
            lambda: relay.rcpt_attempts.count(OPS) >= 3 and alerts_about(relay, "r1"),
            "the greylisted recipient was not retried, or the refusal not alerted",
        )
        assert relay.rcpt_attempts.count(BOSS) == 1, relay.rcpt_attempts
        [alert] = alerts_about(relay, "r1")
        assert "一部の宛先に送信できませんでした" in alert["Subject"]
        body = alert.get_body().get_content()
        assert BOSS in body and NO_SUCH_USER in body
        assert "ほかの宛先には再送を続けます" in body, body
        assert OPS not in body
        # Still waiting for the greylisted one: not failed.
        assert (await reporter.store.get_run("r1"))["report_state"] == "queued"

        del relay.refuse[OPS]
        await flush_until(
            reporter, lambda: relay.envelopes[-1][1] == [OPS], "the report never reached ops"
        )
        await reporter.flush()
        assert relay.rcpt_attempts.count(BOSS) == 1, relay.rcpt_attempts
        assert len(alerts_about(relay, "r1")) == 1
        assert (await reporter.store.get_run("r1"))["report_state"] == "sent"


# -- 2. the log says the relay's answers plainly ----------------------------------------


class BusyRelay(Relay):
    """A relay that refuses every sender for now (421 at MAIL)."""

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        return "421 4.3.2 too busy, try later"


def warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def assert_plain(lines: list[str]) -> None:
    for line in lines:
        assert "SMTPRecipient" not in line and "SMTPSender" not in line, line
        assert not re.search(r"\(\d{3}, b?'", line), line  # a (code, text) tuple


async def test_the_log_says_each_refusal_as_code_and_text(tmp_path, relay, caplog):
    """The warning and error lines held `SMTPRecipientsRefused([...])` and
    `(450, 'greylisted')`: Python's reprs, where the relay had answered a code and a
    text."""
    relay.refuse[OPS] = GREYLISTED
    relay.refuse[BOSS] = NO_SUCH_USER
    keys = {"error_report_to": [OPS, BOSS], "report": "errors"}
    async with reporter_for(tmp_path, relay.port, **keys) as reporter:
        await reporter.queue_mail("alert-greylisted", _mail(), [OPS])
        await reporter.queue_mail("alert-unknown", _mail(), [BOSS])
        await reporter.queue_mail("alert-mixed", _mail(), [OPS, BOSS])
        await reporter.queue_mail("alert-partly", _mail(), [ADMIN, OPS])
        with caplog.at_level(logging.INFO, logger="daemon.report.outbox"):
            await reporter.flush()
    lines = warned(caplog)
    assert_plain(lines)
    said_of = {item: [line for line in lines if item in line] for item in _ITEMS}
    assert all(said_of.values()), lines
    assert any(f"{OPS}: {GREYLISTED}" in line for line in said_of["alert-greylisted"]), lines
    assert any(f"{BOSS}: {NO_SUCH_USER}" in line for line in said_of["alert-unknown"]), lines
    mixed = " ".join(said_of["alert-mixed"])
    assert GREYLISTED in mixed and NO_SUCH_USER in mixed, lines
    assert any(f"{OPS}: {GREYLISTED}" in line for line in said_of["alert-partly"]), lines


_ITEMS = ("alert-greylisted", "alert-unknown", "alert-mixed", "alert-partly")


async def test_the_log_says_a_relay_busy_at_mail_as_code_and_text(tmp_path, caplog):
    busy = BusyRelay()
    busy.start()
    try:
        async with reporter_for(tmp_path, busy.port) as reporter:
            await reporter.queue_mail("alert-busy", _mail(), [ADMIN])
            with caplog.at_level(logging.INFO, logger="daemon.report.outbox"):
                await reporter.flush()
            assert reporter.relay_down is not None
    finally:
        busy.stop()
    lines = warned(caplog)
    assert_plain(lines)
    assert any("421 4.3.2 too busy, try later" in line for line in lines), lines


def _mail() -> email.message.EmailMessage:
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "renkei@example.jp", ADMIN, "note"
    msg.set_content("body")
    return msg


# -- 3. `=?` in a file name, in the Subject ---------------------------------------------


@pytest.mark.parametrize(
    "filename",
    ["2024=?0516.csv", "=?utf-8?b?QQ==?=.csv", "売上 =?ISO-2022-JP?B?GyRC?= 2024.csv"],
)
@pytest.mark.parametrize("language", ["ja", "en"])
async def test_a_file_name_holding_an_encoded_word_opener_is_the_subject_exactly(
    tmp_path, relay, filename, language
):
    """The `=?` was parted by a no-break space (`=\\u00a0?`) in the Subject, where the
    subject's own encoding keeps it from being read as an encoded word."""
    keys = {"report": "errors"}
    lines = f'language = "{language}"\n'
    async with reporter_for(tmp_path, relay.port, relay_keys=lines, **keys) as reporter:
        await failed_run(reporter, "r1", filename)
        await flush_until(reporter, lambda: relay.raw, "the report was not sent")
    raw = email.message_from_bytes(relay.raw[0])  # compat32: the Subject as written
    wanted = message("report.subject.failed", language, account="acme", filename=filename)
    assert str(make_header(decode_header(raw["Subject"]))) == wanted
    parsed = email.message_from_bytes(relay.raw[0], policy=default_policy)
    assert parsed["Subject"] == wanted
    assert "\u00a0" not in parsed["Subject"]


# -- 4. report.tls = "implicit" against a relay that speaks no TLS ----------------------


IMPLICIT = 'tls = "implicit"\n'


async def test_implicit_tls_to_a_plain_relay_is_said_in_the_catalogs_words(tmp_path, relay, caplog):
    """OpenSSL's `[SSL: WRONG_VERSION_NUMBER] wrong version number` was what the
    console, `renkei show` and the log said."""
    async with reporter_for(tmp_path, relay.port, relay_keys=IMPLICIT) as reporter:
        await reporter.queue_mail("alert-tls", _mail(), [ADMIN])
        with caplog.at_level(logging.INFO, logger="daemon.report.outbox"):
            await reporter.flush()
        down = reporter.relay_down
    assert relay.messages == []
    assert down is not None and down.said == Words("relay.no_implicit_tls"), down
    ja = said(down.said, down.answer, "ja")
    en = said(down.said, down.answer, "en")
    for text in (ja, en):
        # STARTTLS is "required" (there is no "starttls" value), or the TLS port.
        assert 'report.tls = "required"' in text and "STARTTLS" in text, text
        assert "465" in text and "SSL" not in text, text
    assert "TLS で応答しません" in ja, ja
    assert "did not answer TLS" in en, en
    lines = warned(caplog)
    assert lines and all("WRONG_VERSION" not in line for line in lines), lines
    assert any(en in line for line in lines), lines


def test_renkei_import_says_a_relay_without_implicit_tls_in_the_catalogs_words(tmp_path, relay):
    config = write_config(tmp_path, account("acme"), relay_port=relay.port, extra=IMPLICIT)
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    result = renkei("import", str(source), "--account", "acme", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "TLS で応答しません" in result.stderr, result.stderr
    assert "SSL" not in result.stderr and "WRONG_VERSION" not in result.stderr
