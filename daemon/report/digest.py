"""Digest mail: one account's runs of one day in one message, in `report.language`.

Each run is a line (local time, with its date when the window spans several days;
file, state, counts) and the count sentence of its report; the error CSVs of runs with
row errors are attached, at most `MAX_ATTACHED` of them and a report's
`MAX_ATTACHED_BYTES` in all (a mail relays refuse is worse than a link), the rest
named by their `GET /api/v1/runs/{id}/errors.csv`. Built by daemon.poll.digest and queued in
the outbox like any report.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from daemon.report.message import (
    MAX_ATTACHED_BYTES,
    _charset,
    clean,
    flat,
    kind,
    run_message,
    summary,
)
from daemon.report.subject import set_subject
from importers.messages import message

MAX_ATTACHED = 20
_RUN_STAMP = "%H:%M:%S"
_RUN_STAMP_OF_DAYS = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class Day:
    """Which digest: the account, its day, the window of finished runs, the zone."""

    account: str
    day: dt.date
    start: dt.datetime
    end: dt.datetime
    zone: zoneinfo.ZoneInfo


def build(
    item_id: str,
    day: Day,
    runs: Sequence[dict[str, Any]],
    data_dir: Path,
    recipients: Sequence[str],
    sender: str,
    language: str,
) -> EmailMessage:
    errors = sum(1 for run in runs if kind(run) != "completed")
    params = {"account": flat(day.account), "day": day.day.isoformat()}
    msg = EmailMessage()
    set_subject(msg, message("digest.subject", language, runs=len(runs), errors=errors, **params))
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{item_id}@renkei>"
    msg["Auto-Submitted"] = "auto-generated"
    attached = _attachments(runs, data_dir)
    lines = [
        message(
            "digest.intro",
            language,
            start=_local(day.start, day.zone, "%Y-%m-%d %H:%M"),
            end=_local(day.end, day.zone, "%Y-%m-%d %H:%M"),
            timezone=day.zone.key,
            runs=len(runs),
            **params,
        ),
        "",
    ]
    stamp = _RUN_STAMP_OF_DAYS if _spans_days(day) else _RUN_STAMP
    for run in runs:
        lines += _run_lines(run, attached.get(run["id"]), day.zone, stamp, language)
    lines += ["-- ", message("report.footer", language)]
    msg.set_content("\n".join(lines) + "\n", charset="utf-8")
    for name, path in attached.values():
        data = path.read_bytes()
        msg.add_attachment(
            data,
            maintype="text",
            subtype="csv",
            filename=clean(name),
            params={"charset": _charset(data)},
        )
    return msg


def _spans_days(day: Day) -> bool:
    """Whether the window reaches back past the day before's digest_at (a daemon
    down over several digest_at): a time alone would not say which day a run was."""
    return day.start.astimezone(day.zone).date() < day.day - dt.timedelta(days=1)


def _run_lines(
    run: dict[str, Any],
    attached: tuple[str, Path] | None,
    zone: zoneinfo.ZoneInfo,
    stamp: str,
    language: str,
) -> list[str]:
    finished = dt.datetime.fromisoformat(run["finished_at"])
    counts = message(
        "report.counts",
        language,
        total=run["rows_total"],
        imported=run["rows_imported"],
        failed=run["rows_failed"],
    )
    state = message(f"digest.state.{kind(run)}", language)
    if run.get("undo_of"):  # an admin's undo, listed as an import of 0 rows before
        state = message("digest.state.undo", language, run=run["undo_of"])
    lines = [f"{_local(finished, zone, stamp)}  {clean(run['filename']) or '-'}  {state}"]
    if not run.get("undo_of"):
        # An undo has no rows of its own to count: its message says what it deleted and
        # restored, where its counts said 0 rows and its restored rows "newly registered".
        lines += [f"  {counts}", f"  {summary(run, language)}"]
    if run["message"]:
        # A completed run's too, as its own report says it: the sender not
        # authenticated, another attachment not taken, the rows a same-name file replaced.
        lines.append(f"  {clean(run_message(run, language))}")
    if run["rows_failed"]:
        if attached is not None:
            lines.append("  " + message("digest.errors.attached", language, name=attached[0]))
        else:
            url = f"GET /api/v1/runs/{run['id']}/errors.csv"
            lines.append("  " + message("digest.errors.download", language, url=url))
    lines += [f"  {message('report.field.run', language)}: {run['id']}", ""]
    return lines


def _attachments(runs: Sequence[dict[str, Any]], data_dir: Path) -> dict[str, tuple[str, Path]]:
    """The error CSVs to attach, by run id: the first ones that fit the bounds, each
    under a name no other attachment of the mail has."""
    chosen: dict[str, tuple[str, Path]] = {}
    names: set[str] = set()
    total = 0
    for run in runs:
        path = data_dir / run["error_report"] if run["error_report"] else None
        if not run["rows_failed"] or path is None or not path.is_file():
            continue
        size = path.stat().st_size
        if len(chosen) >= MAX_ATTACHED or total + size > MAX_ATTACHED_BYTES:
            continue
        name = path.name if path.name not in names else f"{run['id']}-{path.name}"
        names.add(name)
        chosen[run["id"]] = (name, path)
        total += size
    return chosen


def _local(moment: dt.datetime, zone: zoneinfo.ZoneInfo, fmt: str) -> str:
    return moment.astimezone(zone).strftime(fmt)
