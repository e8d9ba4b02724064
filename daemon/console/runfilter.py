"""The 状況確認 filters: account, state, channel, a range of days and part of a file
name, read from the query string. Shared by the list, its live table and its CSV export,
so the export holds exactly the runs the list shows. Files waiting in the spool that the
store has not recorded yet (worker/waiting.py) come first, as the queued runs they are."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request

from daemon.console.access import Viewer
from daemon.store.runs import CHANNELS, RunState
from daemon.web import context
from daemon.worker.waiting import spooled_runs

STATES = tuple(state.value for state in RunState)
ACTIVE = (RunState.QUEUED, RunState.RUNNING)


@dataclass(frozen=True)
class RunFilter:
    account: str = ""
    state: str = ""
    channel: str = ""
    since: str = ""  # YYYY-MM-DD, a day in daemon.timezone, inclusive
    until: str = ""  # YYYY-MM-DD, inclusive
    filename: str = ""

    @classmethod
    def of(cls, request: Request) -> RunFilter:
        query = request.query_params
        values = {f.name: query.get(f.name, "").strip()[:200] for f in fields(cls)}
        if values["state"] not in STATES:
            values["state"] = ""
        if values["channel"] not in CHANNELS:
            values["channel"] = ""
        return cls(**values)

    def problems(self) -> list[str]:
        """The date fields that are not dates (the list then ignores them)."""
        return [
            name
            for name in ("since", "until")
            if getattr(self, name) and not _day(getattr(self, name))
        ]

    def reversed(self) -> bool:
        """Whether `since` is after `until`: no run can be in the range."""
        since, until = _day(self.since), _day(self.until)
        return since is not None and until is not None and since > until

    async def runs(
        self, request: Request, who: Viewer, limit: int, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        if self.account and not who.may_see(self.account):
            return [], 0
        zone = ZoneInfo(context.settings(request).daemon.timezone)
        since = _start(self.since, zone, 0)
        until = _start(self.until, zone, 1)
        accounts = None if who.is_admin else sorted(who.accounts)
        waiting = [
            run
            for run in await self._spooled(request, accounts)
            if (since is None or run["received_at"] >= since)
            and (until is None or run["received_at"] < until)
        ]
        shown = waiting[offset : offset + limit]
        equal = {"account": self.account, "state": self.state, "channel": self.channel}
        runs, total = await context.store(request).find_runs(
            accounts,
            equal,
            self.filename,
            since,
            until,
            limit=limit - len(shown),
            offset=max(0, offset - len(waiting)),
        )
        return shown + runs, total + len(waiting)

    async def _spooled(self, request: Request, accounts: list[str] | None) -> list[dict[str, Any]]:
        """The unrecorded queued runs (waiting.py) this filter admits, but for its days."""
        if self.state not in ("", RunState.QUEUED):
            return []
        name = self.filename.casefold()
        return [
            run
            for run in await spooled_runs(
                context.settings(request), context.store(request), accounts
            )
            if self.account in ("", run["account"])
            and self.channel in ("", run["channel"])
            and name in run["filename"].casefold()
        ]


def _day(text: str) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    # datetime's first and last days have no start in UTC in every zone, or no next day
    # to end at: not a day to filter by (`_start` would overflow).
    return day if dt.date.min < day < dt.date.max else None


def _start(text: str, zone: ZoneInfo, days_after: int) -> str | None:
    """The UTC instant a local day starts, `days_after` days after `text`'s."""
    day = _day(text)
    if day is None:
        return None
    local = dt.datetime.combine(day + dt.timedelta(days=days_after), dt.time(), zone)
    return local.astimezone(dt.UTC).isoformat(timespec="milliseconds")
