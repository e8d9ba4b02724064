"""Outward jobs in the shared store: sends' and calls' requests, leased by one instance.

A job (daemon/outward/jobs.py) and its request bodies are kept here instead of under
`data_dir/outward/` when the store is shared. The instance that delivers a job holds
a lease on it, renewed while it works; jobs whose lease ran out (their instance died
or stopped) are claimed by another with `FOR UPDATE SKIP LOCKED`, so each is
delivered by one instance at a time and none is left behind. A request in flight when
its instance died is sent again, with the same Idempotency-Key, as after a restart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from daemon.store.postgres.connection import Connection

SCHEMA = """
CREATE TABLE IF NOT EXISTS outward_jobs (
  job_id TEXT PRIMARY KEY,
  job TEXT NOT NULL,
  owner TEXT NOT NULL,
  lease_until DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS outward_bodies (
  job_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  body BYTEA NOT NULL,
  PRIMARY KEY (job_id, seq)
)
"""


class PgOutwardJobs:
    instance: str
    writer: Connection

    async def job_put(
        self, job_id: str, job: Mapping[str, Any], bodies: Mapping[int, bytes], lease: float
    ) -> None:
        """Keep a new job, leased to this instance, in one transaction."""
        async with self.transaction() as db:  # type: ignore[attr-defined]
            await db.executemany(
                "INSERT INTO outward_bodies (job_id, seq, body) VALUES (?, ?, ?)",
                [(job_id, seq, body) for seq, body in bodies.items()],
            )
            await db.execute(
                "INSERT INTO outward_jobs (job_id, job, owner, lease_until) VALUES (?, ?, ?, ?)",
                (job_id, json.dumps(job), self.instance, lease),
            )

    async def job_adopt(
        self, job_id: str, job: Mapping[str, Any], bodies: Mapping[int, bytes], lease: float
    ) -> None:
        """Keep a job an older renkei left in its folder, leased to this instance, in one
        transaction; one already kept (moved before a crash that left the folder) stays
        as it is, with the progress it has made since."""
        async with self.transaction() as db:  # type: ignore[attr-defined]
            taken = await db.execute_fetchall(
                "INSERT INTO outward_jobs (job_id, job, owner, lease_until) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (job_id) DO NOTHING RETURNING job_id",
                (job_id, json.dumps(job), self.instance, lease),
            )
            if taken:
                await db.executemany(
                    "INSERT INTO outward_bodies (job_id, seq, body) VALUES (?, ?, ?)",
                    [(job_id, seq, body) for seq, body in bodies.items()],
                )

    async def job_save(self, job_id: str, job: Mapping[str, Any]) -> None:
        await self.writer.execute(
            "UPDATE outward_jobs SET job = ? WHERE job_id = ?", (json.dumps(job), job_id)
        )

    async def job_body(self, job_id: str, seq: int) -> bytes:
        rows = await self.writer.execute_fetchall(
            "SELECT body FROM outward_bodies WHERE job_id = ? AND seq = ?", (job_id, seq)
        )
        return bytes(rows[0][0])

    async def job_exists(self, job_id: str) -> bool:
        rows = await self.reader.execute_fetchall(  # type: ignore[attr-defined]
            "SELECT 1 FROM outward_jobs WHERE job_id = ?", (job_id,)
        )
        return bool(rows)

    async def job_remove(self, job_id: str) -> None:
        async with self.transaction() as db:  # type: ignore[attr-defined]
            await db.execute("DELETE FROM outward_bodies WHERE job_id = ?", (job_id,))
            await db.execute("DELETE FROM outward_jobs WHERE job_id = ?", (job_id,))

    async def jobs_claim(self, now: float, lease: float) -> list[dict[str, Any]]:
        """This instance's jobs (after its restart) and those whose lease ran out,
        leased to this instance now; a job another instance is claiming is skipped."""
        async with self.transaction() as db:  # type: ignore[attr-defined]
            rows = await db.execute_fetchall(
                "UPDATE outward_jobs SET owner = ?, lease_until = ? WHERE job_id IN"
                " (SELECT job_id FROM outward_jobs WHERE owner = ? OR lease_until < ?"
                " ORDER BY job_id FOR UPDATE SKIP LOCKED) RETURNING job",
                (self.instance, lease, self.instance, now),
            )
        return [json.loads(row[0]) for row in rows]

    async def jobs_renew(self, job_ids: Sequence[str], lease: float) -> None:
        if job_ids:
            await self.writer.executemany(
                "UPDATE outward_jobs SET lease_until = ? WHERE job_id = ? AND owner = ?",
                [(lease, job_id, self.instance) for job_id in job_ids],
            )
