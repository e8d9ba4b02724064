"""Where outward jobs are kept: this instance's folder, or the shared store.

`FolderJobs` puts JobFolder (jobs.py) behind the async face the Deliverer uses. With
a shared store `SharedJobs` keeps them in PostgreSQL (store/postgres/jobs.py): the
instance delivering a job holds a lease on it and renews it while it works; another
claims the jobs whose lease ran out, so a send or call whose instance died goes on
from another instance, and none is delivered by two at once. Jobs an older renkei left
in the folder before it kept them in the shared store are moved there at start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from daemon.outward.jobs import Job, JobFolder, Request, job_of

if TYPE_CHECKING:
    from daemon.store.postgres.store import PostgresStore

log = logging.getLogger(__name__)

# For tests only: a shorter lease, so that a job whose instance died is taken over in
# seconds (tests/test_instances.py).
LEASE_VARIABLE = "RENKEI_OUTWARD_LEASE_SECONDS"
LEASE_SECONDS = float(os.environ.get(LEASE_VARIABLE) or 60)
RENEW_SECONDS = LEASE_SECONDS / 4  # also how often jobs left by others are looked for


class FolderJobs:
    shared = False

    def __init__(self, folder: JobFolder) -> None:
        self.folder = folder

    async def create(self, job: Job, bodies: dict[int, bytes]) -> None:
        await asyncio.to_thread(self.folder.create, job, bodies)

    async def save(self, job: Job) -> None:
        await asyncio.to_thread(self.folder.save, job)

    async def progress(self, job: Job, requests: list[Request]) -> None:
        """The progress of `requests`, kept before the next step (jobs.py)."""
        await asyncio.to_thread(self.folder.progress, job, requests)

    async def kept(self, job_id: str) -> bool:
        """Whether a job of this id was spooled whole (its job.json written)."""
        return await asyncio.to_thread(self.folder.kept, job_id)

    async def exists(self, job_id: str) -> bool:
        """Whether a job of this id is kept."""
        return await self.kept(job_id)

    async def body(self, job: Job, seq: int) -> bytes:
        return await asyncio.to_thread(self.folder.body, job, seq)

    async def remove(self, job: Job) -> None:
        await asyncio.to_thread(self.folder.remove, job)

    async def claim(self) -> list[Job]:
        """The jobs to resume: at start, every one kept."""
        return await asyncio.to_thread(self.folder.load_all)

    async def renew(self, jobs: list[str]) -> None:
        """Nothing to renew: the folder is this instance's alone."""


class SharedJobs:
    shared = True

    def __init__(self, store: PostgresStore, folder: JobFolder) -> None:
        self.store = store
        self.folder = folder  # where a renkei before the shared table kept its jobs
        self._moved = False

    async def create(self, job: Job, bodies: dict[int, bytes]) -> None:
        await self.store.job_put(job.id, asdict(job), bodies, time.time() + LEASE_SECONDS)

    async def save(self, job: Job) -> None:
        await self.store.job_save(job.id, asdict(job))

    async def progress(self, job: Job, requests: list[Request]) -> None:
        # The shared table keeps a job as one document: saved whole, in one statement.
        await self.save(job)

    async def kept(self, job_id: str) -> bool:
        """Not asked: another instance may be spooling the job still."""
        return True

    async def exists(self, job_id: str) -> bool:
        """Whether a job of this id is kept (by any instance)."""
        return await self.store.job_exists(job_id)

    async def body(self, job: Job, seq: int) -> bytes:
        return await self.store.job_body(job.id, seq)

    async def remove(self, job: Job) -> None:
        await self.store.job_remove(job.id)

    async def claim(self) -> list[Job]:
        """This instance's jobs and those whose instance's lease ran out."""
        if not self._moved:
            await self._move_folder()
            self._moved = True
        now = time.time()
        found = await self.store.jobs_claim(now, now + LEASE_SECONDS)
        return [job_of(data) for data in found]

    async def renew(self, jobs: list[str]) -> None:
        await self.store.jobs_renew(jobs, time.time() + LEASE_SECONDS)

    async def _move_folder(self) -> None:
        """Each folder job into the shared table, kept under its id (so its requests
        keep their Idempotency-Key). The folder goes only once the table's copy is
        committed; after a crash in between, the copy already kept is left as it is."""
        for job in await asyncio.to_thread(self.folder.load_all):
            bodies = await asyncio.to_thread(self.folder.bodies, job)
            await self.store.job_adopt(job.id, asdict(job), bodies, time.time() + LEASE_SECONDS)
            await asyncio.to_thread(self.folder.remove, job)
            log.info("outward job %s moved from %s to the shared store", job.id, self.folder.root)
