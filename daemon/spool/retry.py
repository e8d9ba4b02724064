"""Retry: spools a finished run's kept file again, as a new run linked to the old one.

`POST /api/v1/runs/{id}/retry` lands here (`renkei retry` calls it), in the daemon. The
kept file (kept.py; a quarantined item's file too) is spooled again under a new id with
the original's account, channel, sender, file name and import options and `retry_of`
naming the original, and the importer is woken; it imports under the config of the
day, as it reads the settings when it runs. Never through the intake sink: a retry is
no delivery, so the delivery memory neither answers it nor counts it as received.

The new run's row is written at once, as `queued`: a second retry of the same run
while the first is still pending finds it and is answered with it, not a third run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from daemon.settings import Settings
from daemon.spool.kept import kept_file
from daemon.spool.memory import account_corrects, delivery_file_key
from daemon.spool.queue import Meta, Spool
from daemon.store.base import Store
from daemon.store.keyed import KEYED
from daemon.store.runs import FINAL_STATES

# How long a retry waits for the file of a run just ended to be kept (see _kept).
_KEEPING_SECONDS = 5.0

log = logging.getLogger(__name__)


class Refusal(StrEnum):
    NOT_FINAL = "run_not_final"  # queued, running or aborted: it will be imported anyway
    NOT_KEPT = "file_not_kept"  # no file (none came, or retention removed it)
    STOPPED = "account_stopped"  # 連動稼働停止: its files make no runs
    UNKNOWN = "account_unknown"  # removed from the config: its run would only fail saying so
    SEND = "run_is_send"  # a send keeps no file: it is sent again by starting the send
    # A corrected error CSV adds its rows: imported again while they are there, twice.
    CORRECTION = "correction_imported"


def refusal_key(refusal: Refusal, run: Mapping[str, Any], elsewhere: str = "") -> str:
    """The catalog key that says `refusal` of `run`: a run whose file was set aside
    unread (its description could not be read) has no account to name; one whose file
    another instance of a shared store keeps (`elsewhere`, its name) is retried there."""
    if refusal == Refusal.UNKNOWN and not run.get("account"):
        return "api.account_unknown.unread"
    if refusal == Refusal.NOT_KEPT and elsewhere:
        return "api.file_kept_elsewhere.retry"
    return f"api.{refusal}"


@dataclass(frozen=True, slots=True)
class Retried:
    """What a retry came to: the new run, the pending retry it found, or a refusal."""

    run_id: str | None
    new: bool = False
    refusal: Refusal | None = None
    holder: str = ""  # CORRECTION: the run whose rows are in, to undo first


class Retrier:
    def __init__(
        self,
        spool: Spool,
        store: Store,
        settings: Callable[[], Settings],
        wake: Callable[[], None],
    ) -> None:
        self._spool = spool
        self._settings = settings
        self._store = store
        self._wake = wake
        # One retry at a time: the look-up for a pending retry and the spooling of a
        # new one must not interleave, or two quick retries would make two runs.
        self._lock = asyncio.Lock()
        # Retries spooled whose run could not be recorded (the database held past its
        # busy timeout): imported all the same, and the run's retry answered with them
        # while they wait, where the store knows of none to answer with.
        self._unrecorded: dict[str, str] = {}

    async def _kept(self, run: Mapping[str, Any]) -> Path | None:
        """The run's kept file. A run just ended has its file in the spool a moment
        longer, kept by the import process right after its commit: a retry asked in
        that moment (a click as the page said it ended) was refused as not kept."""
        data_dir = self._spool.data_dir
        path = kept_file(data_dir, run["id"], run["filename"])
        deadline = time.monotonic() + _KEEPING_SECONDS
        while path is None and self._spool.pending(run["id"]) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            path = kept_file(data_dir, run["id"], run["filename"])
        return path

    async def retry(self, run: Mapping[str, Any]) -> Retried:
        """Import `run`'s file again, or answer with the retry of it still pending."""
        async with self._lock:
            if run.get("direction") == "send":
                return Retried(None, refusal=Refusal.SEND)
            if await self._store.run_state_now(run["id"]) not in FINAL_STATES:
                return Retried(None, refusal=Refusal.NOT_FINAL)
            account = self._settings().accounts.get(run["account"])
            if account is None:
                return Retried(None, refusal=Refusal.UNKNOWN)
            if account.status == "stopped":
                return Retried(None, refusal=Refusal.STOPPED)
            settings = self._settings()
            if account_corrects(settings, run["account"], run["filename"]):
                # Rows it added, which a retry would add again: none when it imported
                # none, and keyed rows are matched again, never doubled.
                added = (
                    run["state"] == "completed"
                    and not run["dry_run"]
                    and not run["undone_by"]
                    and int(run["rows_imported"] or 0) > 0
                    and run.get("mode") not in KEYED
                )
                # Or put back by a retry of it since (of a retry of it, …), not undone:
                # that retry is the run to undo first.
                holder = run["id"] if added else await self._store.retry_holding_rows(run["id"])
                # Its rows replaced since by a newer file of theirs: none to add twice
                # ("undo it first" named rows no longer there); the import says the rest.
                if holder is not None and await self._store.holds_rows(
                    run["layout"], run["account"], holder
                ):
                    return Retried(None, refusal=Refusal.CORRECTION, holder=holder)
            pending = await self._store.pending_retry(run["id"])
            if pending is not None:
                return Retried(pending)
            spooled = self._unrecorded.pop(run["id"], None)
            if spooled is not None and self._spool.pending(spooled):
                self._unrecorded[run["id"]] = spooled
                return Retried(spooled)
            path = await self._kept(run)
            if path is None:
                return Retried(None, refusal=Refusal.NOT_KEPT)
            meta = Meta(
                run["account"],
                run["channel"],
                run["sender"],
                run["filename"],
                options=json.loads(run["options"] or "{}"),
                retry_of=run["id"],
                # The logical file as the config of the day has it (a pattern added since
                # may take a name the first run's did not), as a delivery's is.
                file_key=await delivery_file_key(
                    settings, self._store, run["account"], run["filename"]
                ),
                # The mail it came in is the same mail: its verdict at the door stands.
                authentication_results=run.get("authentication_results", ""),
            )
            try:
                # A copy, not a move: the original stays kept with its own run.
                item = await asyncio.to_thread(self._spool.enqueue, meta, path)
            except FileNotFoundError:  # the retention sweep took it just now
                return Retried(None, refusal=Refusal.NOT_KEPT)
            try:
                await self._store.add_run(item.id, item.meta)
            except Exception:
                # Spooled, it is imported (its run recorded then); asked again, the
                # retry is answered with it rather than spooled a second time.
                self._unrecorded[run["id"]] = item.id
                self._wake()
                raise
        self._wake()
        log.info("run %s: retried as %s (file %r)", run["id"], item.id, run["filename"])
        return Retried(item.id, new=True)
