"""The shared outbox of report mail: one table every instance's reporter serves.

An item is claimed with `SELECT … FOR UPDATE SKIP LOCKED` in a transaction of its
own session, held while the relay is talked to and settled in the same transaction
(deleted when sent or given up, its next try written when not): another instance
passes over an item being sent, so each goes once, and an item whose instance died
goes from another. A crash mid-send releases the claim; the item goes again, as a
folder outbox's would after a crash between the relay's 250 and the unlink.
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

    @asynccontextmanager
    async def outbox_claim(self, now: float) -> AsyncIterator[Claimed | None]:
        """The next due item nobody else holds, or None."""
        async with self._claim_lock:
            session = self._claims
            await session.execute("BEGIN")
            try:
                rows = await session.execute_fetchall(
                    "SELECT item_id, message, recipients, attempts FROM mail_outbox"
                    " WHERE next_try <= ? ORDER BY next_try, item_id LIMIT 1"
                    " FOR UPDATE SKIP LOCKED",
                    (now,),
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

    async def outbox_due_now(self, now: float) -> None:
        """Every waiting mail due at `now`: the relay takes mail again."""
        await self.writer.execute(
            "UPDATE mail_outbox SET next_try = ? WHERE next_try > ?", (now, now)
        )
