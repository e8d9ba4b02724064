"""Health at a glance, for the console's top page: today's runs by state per account,
runs waiting (their files in the spool) and being imported, quarantined files, reports
in the outbox, deliveries refused in the last day, each account's next check, and the
latest sends onward."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request

from daemon.console.access import Viewer
from daemon.spool.queue import peek_meta
from daemon.store.base import Store
from daemon.store.runs import RunState, send_name
from daemon.web import context
from daemon.web.accounts import account_checks
from daemon.worker.waiting import spooled_runs

REFUSALS_SHOWN = 10
SENDS_SHOWN = 10
# Today's column of sends stopped part-way (強制終了): counted under `aborted`, they
# were said to run again (中断(再実行待ち)), which a send never does.
SEND_ABORTED = "send.aborted"


def _apart(today: dict[str, dict[str, int]], aborted_sends: dict[str, int]) -> None:
    """Move each account's sends stopped part-way out of its `aborted` count."""
    aborted = RunState.ABORTED.value
    for name, count in aborted_sends.items():
        if name in today:
            today[name][aborted] = today[name].get(aborted, 0) - count
            today[name][SEND_ABORTED] = count


def _count(folder: Path, pattern: str = "*") -> int:
    try:
        return sum(1 for entry in folder.glob(pattern) if not entry.name.startswith("."))
    except OSError:
        return 0


async def glance(request: Request, who: Viewer) -> dict[str, Any]:
    settings = context.settings(request)
    zone = ZoneInfo(settings.daemon.timezone)
    midnight = dt.datetime.combine(dt.datetime.now(zone).date(), dt.time(), zone)
    since = midnight.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    store = context.store(request)
    counts = await store.runs_by_state(since)
    names = who.visible(list(settings.accounts))
    today = {name: {s: n for (a, s), n in counts.items() if a == name} for name in names}
    _apart(today, await store.aborted_sends(since))
    # Those the list at 待機中 shows as well, so that each figure is what its link lists.
    accounts = None if who.is_admin else names
    spooled = await spooled_runs(context.settings(request), context.store(request), accounts)
    queued = RunState.QUEUED.value
    for run in spooled:
        if run["received_at"] >= since and run["account"] in today:
            states = today[run["account"]]
            states[queued] = states.get(queued, 0) + 1
    _, waiting = await store.find_runs(accounts, {"state": queued}, limit=0)
    checks = {name: account_checks(settings, name, 1) for name in names}
    values: dict[str, Any] = {
        "today": today,
        # The day the counts are of: their links list that day's runs, as counted.
        "day": midnight.date().isoformat(),
        "next_checks": {name: found[0] for name, found in checks.items() if found},
        "refusals": None,
        "sends": await recent_sends(request, who),
        "relay_down": _relay_down(request, settings.report.relay),
        "waiting": waiting + len(spooled),
    }
    if who.is_admin:
        values |= await _whole_daemon(request)
    else:
        values |= await _of_accounts(request, names)
    log = getattr(request.app.state.sink, "refusals", None)
    if who.is_admin and log is not None:
        day_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        found = log.recent(None, day_ago, 1000)
        values["refusals"] = [r.as_json() for r in found[:REFUSALS_SHOWN]]
        values["refusal_count"] = len(found)
    return values


async def _whole_daemon(request: Request) -> dict[str, Any]:
    """The spool and the outbox as a whole: an admin's to see."""
    data = context.settings(request).data_dir
    store = context.store(request)
    return {
        "importing": _count(data / "spool" / "active"),
        "quarantined": len(await _quarantined(store, data / "spool" / "failed")),
        "outbox": _count(data / "outbox", "*.json")
        + (await store.outbox_waiting() if store.shared else 0),
        "outbox_failed": _count(data / "outbox" / "failed", "*.json"),
    }


async def _of_accounts(request: Request, names: list[str]) -> dict[str, Any]:
    """For a user limited to some accounts, their runs being imported and their
    quarantined files: the whole daemon's counts showed other accounts' work (another
    partner's mails among them), which none of the user's lists holds. The outbox is
    the admin's to watch."""
    store = context.store(request)
    running = {"state": RunState.RUNNING.value}
    _, importing = await store.find_runs(names, running, limit=0)
    failed = context.settings(request).data_dir / "spool" / "failed"
    visible = set(names)
    quarantined = sum(1 for account in await _quarantined(store, failed) if account in visible)
    return {
        "importing": importing,
        "quarantined": quarantined,
        "outbox": None,
        "outbox_failed": None,
    }


async def _quarantined(store: Store, folder: Path) -> list[str]:
    """The account of each quarantined item whose trouble is not over: one a retry has
    since imported stays kept with its run (for retention), and kept the card red."""
    try:
        entries = [entry for entry in folder.iterdir() if not entry.name.startswith(".")]
    except OSError:
        return []
    # Named by its run id (`ID.SUFFIX` for one set aside beside another of its id).
    ids = {entry: entry.name.split(".", 1)[0] for entry in entries}
    over = await store.imported_again(sorted(set(ids.values())))
    metas = (peek_meta(entry) for entry in entries if ids[entry] not in over)
    return [meta.account if meta else "" for meta in metas]


def _relay_down(request: Request, relay: str) -> dict[str, Any] | None:
    """The relay's trouble, when report mail cannot reach it: which relay, since when,
    when the waiting mail is tried again (ISO 8601, UTC) and its last answer."""
    told = getattr(request.app.state, "relay_down", None)
    down = told() if told is not None else None
    if down is None:
        return None

    def stamp(moment: float) -> str:
        return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="seconds")

    since, until = stamp(down.since), stamp(down.until)
    answer, said = down.answer, down.said
    return {"relay": relay, "since": since, "until": until, "answer": answer, "said": said}


async def recent_sends(request: Request, who: Viewer) -> list[dict[str, Any]]:
    """The latest send runs the user may see, newest first, each with its send's name.
    A send bound to no account is an admin's to see, as its run page is."""
    accounts = None if who.is_admin else sorted(who.accounts)
    runs = await context.store(request).recent_sends(accounts, SENDS_SHOWN)
    return [run | {"send": send_name(run)} for run in runs]
