"""状況確認: every run, newest first, 50 to a page, filtered; its table refreshes itself
(htmx) while the first page is shown or a run on it is still queued or running; and
the filtered list as CSV, in UTF-8 with BOM (Excel opens it) or CP932."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from daemon.console.access import Who
from daemon.console.render import language, last_page_offset, offset_param, page
from daemon.console.runfilter import ACTIVE, CHANNELS, STATES, RunFilter
from daemon.runview import state_words
from daemon.web import context
from daemon.worker.error_report import escape_cell
from importers.messages import CATALOG, message, said, words_of

router = APIRouter()
PAGE = 50
EXPORT_MAX = 100_000
EXPORT_FIELDS = (
    "id",
    "received_at",
    "account",
    "layout",
    "channel",
    "filename",
    "state",
    "dry_run",  # a dry run reads 完了 with its rows: a spreadsheet's sum must tell
    "undone_by",  # so does an undone one, whose rows another run took back
    "rows_imported",
    "rows_total",
    "rows_inserted",
    "rows_updated",
    "rows_skipped",
    "rows_deleted",
    "rows_failed",
    "sender",
    "message",
)


async def _table(request: Request, who: Who) -> dict[str, Any]:
    chosen = RunFilter.of(request)
    offset = offset_param(request)
    runs, total = await chosen.runs(request, who, PAGE, offset)
    if not runs and offset > 0 and total:
        # Past the end (an old link, a narrower filter, runs since deleted): show the
        # last page instead, whose pager leads back, rather than an empty one.
        offset = last_page_offset(total, PAGE)
        runs, total = await chosen.runs(request, who, PAGE, offset)
    live = offset == 0 or any(run["state"] in ACTIVE for run in runs)
    return {
        "runs": runs,
        "total": total,
        "offset": offset,
        "page_size": PAGE,
        "live": live,
        "chosen": chosen,
        "bad_dates": chosen.problems(),
        "reversed_dates": chosen.reversed(),
    }


@router.get("/console/runs")
async def runs_page(request: Request, who: Who) -> Response:
    accounts = who.visible(list(context.settings(request).accounts))
    table = await _table(request, who)
    return page(
        request, "runs.html", who, accounts=accounts, states=STATES, channels=CHANNELS, **table
    )


@router.get("/console/runs/table")
async def runs_table(request: Request, who: Who) -> Response:
    """The table alone, for htmx's refresh."""
    return page(request, "runs_table.html", who, **await _table(request, who))


@router.get("/console/runs/export.csv")
async def export(request: Request, who: Who) -> Response:
    encoding = "cp932" if request.query_params.get("encoding") == "cp932" else "utf-8-sig"
    runs, _ = await RunFilter.of(request).runs(request, who, EXPORT_MAX)
    # The language of the page the user clicked from, not report.language.
    lang = language(request)
    zone = ZoneInfo(context.settings(request).daemon.timezone)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([message(f"console.field.{name}", lang) for name in EXPORT_FIELDS])
    for run in runs:
        writer.writerow([_cell(run, name, lang, zone) for name in EXPORT_FIELDS])
    # CP932 lacks some characters a file name may hold: they become "?", not an error.
    body = out.getvalue().encode(encoding, errors="replace")
    name = quote(message("console.runs.export_name", lang))
    headers = {"Content-Disposition": f"attachment; filename*=utf-8''{name}"}
    charset = "windows-31j" if encoding == "cp932" else "utf-8"
    return Response(body, media_type=f"text/csv; charset={charset}", headers=headers)


def _cell(run: dict[str, Any], name: str, language: str, zone: ZoneInfo) -> str:
    value = run[name]
    if name == "received_at":
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    if name == "state":
        return state_words(run, language)  # as the page says it: a send's 強制終了 too
    if name == "dry_run":
        return message("console.yes" if value else "console.no", language)
    if name == "channel":
        key = f"channel.{value}"
        return message(key, language) if key in CATALOG else value
    if name == "sender" and run["direction"] == "send":
        key = f"send.executor.{value}"  # who started a send, in words, as the page says it
        return message(key, language) if key in CATALOG else escape_cell(str(value or ""))
    if name == "message":  # in the export's language when its words were kept
        value = said(words_of(run.get("said")), value or "", language)
    # A file name or a sender comes from outside: as in the error CSV, never a formula.
    return escape_cell("" if value is None else str(value))
