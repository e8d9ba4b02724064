"""The shared outbox of report mail: one table every instance's reporter serves.

An item is claimed with `SELECT … FOR UPDATE SKIP LOCKED` in a transaction of its
own session, held while the relay is talked to and settled in the same transaction
(deleted when sent or given up, its next try written when not): another instance
passes over an item being sent, so each goes once, and an item whose instance died
goes from another. The moment the relay takes a mail, `mail_sent` says so, written
by another session at once: a claim that dies after that (the server restarted, the
session ended by idle_in_transaction_session_timeout while the relay answered) rolls
back, and the item, never claimed again, is removed by the next claim. It went again
before, in a loop under such a timeout, each instance sending it in turn.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from daemon.store.postgres.connection import Connection

SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_outbox (
  item_id TEXT PRIMARY KEY,
  message BYTEA NOT NULL,
  recipients TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_try DOUBLE PRECISION NOT NULL DEFAULT 0,
  queued_by TEXT NOT NULL,
  queued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mail_sent (
  item_id TEXT PRIMARY KEY,
  sent_at TEXT NOT NULL,
  remaining TEXT NOT NULL
)
"""


@dataclass
class Claimed:
    """An outbox item this instance holds until the claim's block ends."""

    item_id: str
    message: bytes
    recipients: list[str]
    attempts: int
    _session: Connection

    async def done(self) -> None:
        await self._session.execute("DELETE FROM mail_outbox WHERE item_id = ?", (self.item_id,))

    async def retry(self, attempts: int, next_try: float, recipients: Sequence[str]) -> None:
        """Tried again at `next_try`, for `recipients` (those the relay has yet to take)."""
        await self._session.execute(
            "UPDATE mail_outbox SET attempts = ?, next_try = ?, recipients = ? WHERE item_id = ?",
            (attempts, next_try, json.dumps(list(recipients)), self.item_id),
        )


class PgMailOutbox:
    instance: str
    writer: Connection
    _claims: Connection
    _claim_lock: asyncio.Lock

    async def outbox_put(self, item_id: str, data: bytes, recipients: Sequence[str]) -> None:
        """Queue (or queue again, after a crash: its tries start over) one mail."""
        at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        await self.writer.execute(
            "INSERT INTO mail_outbox (item_id, message, recipients, queued_by, queued_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (item_id) DO UPDATE SET"
            " message = excluded.message, recipients = excluded.recipients, attempts = 0,"
            " next_try = 0, queued_by = excluded.queued_by, queued_at = excluded.queued_at",
            (item_id, data, json.dumps(list(recipients)), self.instance, at),
        )

    async def outbox_taken(self, item_id: str, remaining: Sequence[str]) -> None:
        """The relay took the item's mail, for all its recipients but `remaining`
        (refused for now): said at once, outside its claim."""
        at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        await self.writer.execute(
            "INSERT INTO mail_sent (item_id, sent_at, remaining) VALUES (?, ?, ?)"
            " ON CONFLICT (item_id) DO UPDATE SET sent_at = excluded.sent_at,"
            " remaining = excluded.remaining",
            (item_id, at, json.dumps(list(remaining))),
        )

    @asynccontextmanager
    async def outbox_claim(self, now: float, only: str = "") -> AsyncIterator[Claimed | None]:
        """The next due item nobody else holds and the relay has not taken (`only` that
        item), or None; those it took whose claim died are removed first."""
        async with self._claim_lock:
            session = self._claims
            await session.execute("BEGIN")
            try:
                await _settle_taken(session)
                rows = await session.execute_fetchall(
                    "SELECT item_id, message, recipients, attempts FROM mail_outbox AS o"
                    " WHERE next_try <= ? AND (? = '' OR item_id = ?) AND NOT EXISTS"
                    " (SELECT 1 FROM mail_sent AS s WHERE s.item_id = o.item_id)"
                    " ORDER BY next_try, item_id LIMIT 1"
                    " FOR UPDATE SKIP LOCKED",
                    (now, only, only),
                )
                if not rows:
                    yield None
                else:
                    item_id, message, recipients, attempts = rows[0]
                    yield Claimed(
                        item_id, bytes(message), json.loads(recipients), attempts, session
                    )
            except BaseException:
                await asyncio.shield(session.rollback())
                raise
            await asyncio.shield(session.commit())

    async def outbox_waiting(self) -> int:
        rows = await self.writer.execute_fetchall("SELECT count(*) FROM mail_outbox")
        return rows[0][0]

    async def outbox_next_due(self) -> float | None:
        rows = await self.writer.execute_fetchall("SELECT min(next_try) FROM mail_outbox")
        return rows[0][0] if rows else None

    async def outbox_tried(self) -> bool:
        """Whether a waiting mail was tried before (by any instance)."""
        rows = await self.reader.execute_fetchall(
            "SELECT 1 FROM mail_outbox WHERE attempts > 0 LIMIT 1"
        )
        return bool(rows)

    async def outbox_due_now(self, now: float) -> None:
        """Every waiting mail due at `now`: the relay takes mail again."""
        await self.writer.execute(
            "UPDATE mail_outbox SET next_try = ? WHERE next_try > ?", (now, now)
        )


async def _settle_taken(session: Connection) -> None:
    """Settle the items the relay took whose claim did not (it died): one taken for
    every recipient goes, one taken for some waits for the rest alone. Items another
    instance holds now are left to it (SKIP LOCKED)."""
    free = "o.item_id IN (SELECT item_id FROM mail_outbox FOR UPDATE SKIP LOCKED)"
    # A run's report the relay took for every recipient is sent, as the claim that died
    # would have recorded it: its run said "queued" for good (an alert's or a digest's
    # id is no run's, and matches none).
    taken = [
        item_id
        for (item_id,) in await session.execute_fetchall(
            "SELECT o.item_id FROM mail_outbox AS o JOIN mail_sent AS s"
            f" ON o.item_id = s.item_id WHERE s.remaining = '[]' AND {free}"
        )
    ]
    if taken:  # written only then: no claim's pass takes a lock on runs for nothing
        marks = ", ".join("?" * len(taken))
        await session.execute(
            f"UPDATE runs SET report_state = 'sent' WHERE id IN ({marks})"
            " AND report_state <> 'sent'",
            taken,
        )
        await session.execute(
            "UPDATE run_reports SET attempts = attempts + 1, sent_at = ?"
            f" WHERE run_id IN ({marks}) AND sent_at IS NULL",
            (dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), *taken),
        )
    await session.execute(
        "DELETE FROM mail_outbox AS o USING mail_sent AS s"
        f" WHERE o.item_id = s.item_id AND s.remaining = '[]' AND {free}"
    )
    await session.execute(
        "UPDATE mail_outbox AS o SET recipients = s.remaining FROM mail_sent AS s"
        f" WHERE o.item_id = s.item_id AND s.remaining <> '[]' AND {free}"
    )
    await session.execute(
        "DELETE FROM mail_sent AS s USING mail_outbox AS o"
        f" WHERE s.item_id = o.item_id AND s.remaining <> '[]' AND {free}"
    )
    await session.execute(
        "DELETE FROM mail_sent AS s"
        " WHERE NOT EXISTS (SELECT 1 FROM mail_outbox AS o WHERE o.item_id = s.item_id)"
    )
