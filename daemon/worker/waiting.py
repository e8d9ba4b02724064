"""The files waiting in the spool whose runs the store has not recorded yet, as the queued
runs they are. On SQLite a run is recorded only once the importer takes its file (a
retry, an import put back and every file waiting at a start are recorded at once): the
overview's 取込待ち, its 待機中 column and the 状況確認 list count and show these too,
so that the figures and the list they link to agree, for a user limited to some
accounts as for an admin; `renkei runs` and `renkei show` list and show them as well.
A shared store (PostgreSQL) records each run at the door."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from daemon.settings import Settings
from daemon.spool.queue import Meta, pending_meta
from daemon.store.base import Store
from daemon.store.runs import RunState, queued_run
from daemon.worker.plan import with_plan

# Enough for every queued run the store holds on SQLite, where each is in the spool.
_RECORDED_MAX = 100_000
# The meta of each waiting item, per spool, read once: it stays as it came while it
# waits, and the overview and the list ask again every few seconds.
_seen: dict[Path, dict[str, Meta]] = {}


def waiting_items(root: Path) -> dict[str, Meta]:
    """The meta of each item waiting in the spool at `root`, published (a door still
    writing one has not answered its sender) and readable."""
    try:
        names = [name for name in os.listdir(root / "incoming") if not name.startswith(".")]
    except OSError:
        return {}
    before = _seen.get(root, {})
    found = {}
    for name in names:
        meta = before.get(name) or pending_meta(root, name)
        if meta is not None:
            found[name] = meta
    _seen[root] = found
    return found


async def spooled_runs(
    settings: Settings, store: Store, accounts: Collection[str] | None
) -> list[dict[str, Any]]:
    """The queued runs of `accounts` (None: every account) whose files wait in the spool
    unrecorded, the newest first, with what their account's plan already says."""
    if store.shared:
        return []
    waiting = await asyncio.to_thread(waiting_items, settings.data_dir / "spool")
    if accounts is not None:
        waiting = {id_: meta for id_, meta in waiting.items() if meta.account in accounts}
    if not waiting:
        return []
    queued = {"state": RunState.QUEUED.value}
    recorded, _ = await store.find_runs(accounts, queued, limit=_RECORDED_MAX)
    known = {run["id"] for run in recorded}
    runs = [
        with_plan(settings, queued_run(id_, meta, store.instance))
        for id_, meta in waiting.items()
        if id_ not in known
    ]
    return sorted(runs, key=lambda run: (run["received_at"], run["id"]), reverse=True)
