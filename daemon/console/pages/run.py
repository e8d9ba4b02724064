"""詳細: one run — every field, its row errors a page at a time, the received file and
the error CSV, the runs that retried or undid it, the report mail that went out, and
the retry and undo buttons where the user's role and the run allow them. A send's run
shows what was sent by which send, and its requests, in a send's words."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from daemon.console import audit
from daemon.console.access import Refused, Viewer, Who, role_refused
from daemon.console.render import checked_form, last_page_offset, offset_param, page
from daemon.report.message import mode_key
from daemon.runview import state_of
from daemon.spool.kept import kept_file
from daemon.spool.queue import pending_meta
from daemon.spool.retry import refusal_key
from daemon.store.runs import FINAL_STATES, RUN_FIELDS, RunState, kept_elsewhere, send_name
from daemon.store.undo import Undone, UndoRefusal
from daemon.web import context
from daemon.web.runs import errors_csv, received_file, take_back
from importers.errors import ERRORS_KEPT
from importers.messages import words_of

router = APIRouter()
ERRORS_PAGE = 50
# How long after its run ends a file may still be on its way from the spool to where it
# is kept (Spool.finish() moves it once the run is committed): the page says it is in
# the spool, and looks again, meanwhile. Moving it takes milliseconds.
SETTLING = dt.timedelta(seconds=10)
# What a send run's page lists: what went where, with no file received, no import
# mode, no row errors; `send` is the name of its [sends.NAME].
SEND_FIELDS = [
    "id",
    "send",
    "account",
    "channel",
    "sender",
    "layout",
    "filename",
    "encoding",
    "state",
    "rows_total",
    "rows_imported",
    "rows_failed",
    "message",
    "started_at",
    "finished_at",
    "report_state",
    "direction",
    "instance",
]
# A send's fields in its own words, where they are not those of an import.
SEND_LABELS = {
    "send": "send.field.name",
    "sender": "send.field.executor",
    "layout": "send.field.layout",
    "filename": "console.send_field.filename",
    "rows_imported": "console.send_field.rows_sent",
    "rows_failed": "console.send_field.rows_unsent",
    "instance": "console.send_field.instance",
}


async def seen_run(request: Request, who: Viewer, run_id: str) -> dict[str, Any]:
    run = await context.store(request).get_run(run_id[:100])
    if run is None or not who.may_see(run["account"]):
        raise Refused(404, "console.error.no_run", run_id=run_id[:100])
    return run


def _may_retry(who: Viewer, run: dict[str, Any], kept: bool, accounts: Mapping[str, Any]) -> bool:
    """A run set aside as unreadable belongs to no account (nor one since removed from
    the config): its retry could only be refused."""
    known = run["account"] in accounts
    return known and who.may_run(run["account"]) and run["state"] in FINAL_STATES and kept


async def _undo_offered(request: Request, who: Viewer, run: dict[str, Any]) -> Undone | None:
    """Undone(None) when the undo button is shown; else None, or, for a run a later
    one superseded, the refusal the page says instead (the button would only get it).
    The store's checks are the undo's own: not completed, a dry run, undone already, an
    undo itself (it kept nothing to undo)."""
    if not who.may_run(run["account"]):
        return None
    refused = await context.store(request).undo_refusal(run)
    if refused is None:
        return Undone(None)
    return refused if refused.refusal == UndoRefusal.NOT_LATEST else None


@router.get("/console/runs/{run_id}")
async def run_page(request: Request, run_id: str, who: Who) -> Response:
    sink = request.app.state.sink
    waiting = await context.store(request).get_run(run_id[:100]) is None
    if waiting and sink is not None and await sink.known(run_id[:100]):
        # Spooled a moment ago (an upload just confirmed): its run row comes when the
        # import process takes the file. The page looks again by itself; only for a
        # user who may see its account, as the run's own page is.
        spool = context.settings(request).data_dir / "spool"
        meta = await asyncio.to_thread(pending_meta, spool, run_id[:100])
        if meta is not None and not who.may_see(meta.account):
            raise Refused(404, "console.error.no_run", run_id=run_id[:100])
        return page(request, "pending.html", who, run_id=run_id[:100])
    run = await seen_run(request, who, run_id)
    store = context.store(request)
    settings = context.settings(request)
    error_total = await store.error_count(run["id"])
    # Past the end: the last page of errors, with its pager.
    offset = min(offset_param(request, "errors"), last_page_offset(error_total, ERRORS_PAGE))
    errors = await store.error_page(run["id"], ERRORS_PAGE, offset)
    retries, _ = await store.find_runs(None, {"retry_of": run["id"]}, limit=20)
    # A run with no file name (set aside as unreadable) offers no download of "data".
    kept = (
        bool(run["filename"])
        and kept_file(settings.data_dir, run["id"], run["filename"]) is not None
    )
    had_file = _had_file(run)
    spooled = had_file and _in_spool(run, kept)
    sending = run["direction"] == "send"
    return page(
        request,
        "run.html",
        who,
        run=run | {"send": send_name(run)},
        run_said=words_of(run.get("said")),
        mode_key=mode_key(run),
        fields=SEND_FIELDS if sending else RUN_FIELDS,
        labels=SEND_LABELS if sending else {},
        errors=errors,
        error_total=error_total,
        # The rows with errors, not the errors kept: the store keeps the first
        # ERRORS_KEPT errors (several may be of one row), the error CSV all of them.
        # A problem of the whole file is no row: the errors listed are what there is.
        rows_failed=run["rows_failed"] or error_total,
        errors_cut=error_total >= ERRORS_KEPT,
        error_offset=offset,
        errors_page=ERRORS_PAGE,
        retries=retries,
        kept=kept,
        had_file=had_file,
        elsewhere="" if kept else kept_elsewhere(run, store.shared, store.instance),
        spooled=spooled,
        report=await store.run_report(run["id"]),
        requests=await store.requests_of(run["id"], words=True),
        may_retry=_may_retry(who, run, kept, settings.accounts),
        undo=await _undo_offered(request, who, run),
        # Until the file is kept too, so that the buttons and its line come right.
        live=run["state"] in (RunState.QUEUED, RunState.RUNNING) or spooled,
    )


def _had_file(run: dict[str, Any]) -> bool:
    """Whether a file came with the run: an undo took none in, nor did a mail that
    carried no CSV, whose run ended with no file's sha256. A send receives none."""
    if run["undo_of"] or run["direction"] == "send":
        return False
    return run["state"] not in FINAL_STATES or bool(run["sha256"])


def _in_spool(run: dict[str, Any], kept: bool) -> bool:
    """Whether the run's file is still in the spool: the run is not final yet (waiting,
    being imported, to be imported again), or ended a moment ago. A send has none."""
    if kept or run["direction"] == "send":
        return False
    if run["state"] not in FINAL_STATES:
        return True
    ended = run["finished_at"]  # UTC ISO 8601, as spool.queue.now_iso writes it
    return bool(ended) and dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(ended) < SETTLING


@router.get("/console/runs/{run_id}/file")
async def run_file(request: Request, run_id: str, who: Who) -> Response:
    run = await seen_run(request, who, run_id)
    found = received_file(context.settings(request), run)
    if found is None:
        _kept_elsewhere(request, run)
        raise Refused(404, "console.error.not_kept", run_id=run["id"])
    return found


def _kept_elsewhere(request: Request, run: dict) -> None:
    """Refuse, naming it, when the instance of a shared store that keeps the run's
    files is another: "not kept (retention ended)" sent the admin looking for nothing."""
    store = context.store(request)
    if elsewhere := kept_elsewhere(run, store.shared, store.instance):
        raise Refused(404, "console.error.kept_elsewhere", run_id=run["id"], instance=elsewhere)


@router.get("/console/runs/{run_id}/errors.csv")
async def run_errors(request: Request, run_id: str, who: Who) -> Response:
    run = await seen_run(request, who, run_id)
    if run["direction"] == "send":
        raise Refused(404, "console.error.send_no_errors", run_id=run["id"])
    found = errors_csv(context.settings(request), run)
    if found is None:
        _kept_elsewhere(request, run)
        raise Refused(404, "console.error.errors_not_kept", run_id=run["id"])
    return found


@router.post("/console/runs/{run_id}/retry")
async def retry(request: Request, run_id: str, who: Who) -> Response:
    await checked_form(request, who)
    run = await seen_run(request, who, run_id)
    if not who.may_run(run["account"]):
        raise role_refused(who, "retry", run["id"])
    retrier = context.retry(request)
    if retrier is None:
        raise Refused(503, "api.spool_unavailable.not_running")
    retried = await retrier(run)
    if retried.refusal is not None:
        said = audit.detail(retried.refusal)
        await audit.record(request, who.name, "retry", run["id"], "refused", said)
        params = {"run_id": run["id"], "state": state_of(run), "name": run["account"]}
        store = context.store(request)
        elsewhere = kept_elsewhere(run, store.shared, store.instance)
        key = refusal_key(retried.refusal, run, elsewhere)
        raise Refused(409, key, **params, instance=elsewhere, holder=retried.holder)
    # A second click while the first retry waits is answered with that retry's run:
    # recorded as the answer it is, not as a second retry.
    code, outcome = ("retried", "ok") if retried.new else ("retry_replayed", "replayed")
    said = audit.detail(code, run=retried.run_id)
    await audit.record(request, who.name, "retry", run["id"], outcome, said)
    # A retry keeps the run's options: a dry run's retry checks the file again and
    # writes nothing, and its notice must not promise an import.
    notice = f"{code}_dry" if run["dry_run"] else code
    return RedirectResponse(f"/console/runs/{retried.run_id}?notice={notice}", 303)


@router.post("/console/runs/{run_id}/undo")
async def undo(request: Request, run_id: str, who: Who) -> Response:
    await checked_form(request, who)
    run = await seen_run(request, who, run_id)
    if not who.may_run(run["account"]):
        raise role_refused(who, "undo", run["id"])
    made, undone = await take_back(request, run["id"], who.name)
    if undone.refusal is not None:
        said = audit.detail(undone.refusal)
        await audit.record(request, who.name, "undo", run["id"], "refused", said)
        params = {"run_id": run["id"], "state": state_of(run), "other": undone.other}
        links = [("console.error.back_to_run", run["id"])]
        if isinstance(undone.other, str) and undone.other:  # the undo, or the latest run
            links.append(("console.error.to_run", undone.other))
        raise Refused(409, f"api.{undone.refusal}", links=links, **params)
    counts = {"deleted": undone.deleted, "restored": undone.restored}
    said = audit.detail("undone", run=made.id, **counts)
    await audit.record(request, who.name, "undo", run["id"], "ok", said)
    return RedirectResponse(f"/console/runs/{made.id}?notice=undone", 303)
