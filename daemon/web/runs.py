"""The run history over HTTP: `/api/v1/runs`, one run, its error CSV, its file as
received, a retry of it and an undo of it.

Reads through the store's reader connection; an account's token sees only its own
runs (another account's run is a 404). A retry is the admin's: the daemon's retrier
(spool/retry.py) spools the kept file again. An undo is the admin's too: the store
takes the run back in one transaction (store/undo.py).
"""

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel

from daemon.runview import state_of
from daemon.settings import Settings
from daemon.spool.kept import kept_file
from daemon.spool.queue import new_id, now_iso, pending_meta
from daemon.spool.retry import refusal_key
from daemon.store.runs import (
    CHANNELS,
    RunState,
    ended,
    kept_elsewhere,
    public_run,
    queued_run,
)
from daemon.store.undo import Undone, UndoRun
from daemon.web import context
from daemon.web.auth import Auth, Principal
from daemon.web.errors import ApiError, responses
from daemon.worker.error_report import WORKBOOK_REPORT_ENCODING, header_only, unread_encoding
from daemon.worker.plan import with_plan
from importers.filenames import error_report_name
from importers.messages import quoted
from importers.workbook import is_workbook

router = APIRouter()
MAX_LIMIT = 500
MAX_OFFSET = 2**62  # SQLite integers are 64-bit; past this the query itself fails
CSV_CHARSETS = {"cp932": "windows-31j", "utf-8": "utf-8", "utf-8-sig": "utf-8"}
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
# What a run's state may be; any other filter value finds no run, which a typo
# (`state=complete`) would take for an answer.
STATES = tuple(state.value for state in RunState)
# A kept file is served as what it is for renkei: a CSV, a workbook, or bytes. Never a
# type guessed from its name (a partner's `x.png`), which the API does not describe.
_WORKBOOK_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xls": "application/vnd.ms-excel",
}
_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {},
            **{media: {} for media in _WORKBOOK_TYPES.values()},
            "application/octet-stream": {},
        }
    }
}


class RetryAnswer(BaseModel):
    id: str  # the new run, or the retry of the same run still waiting
    url: str
    retry_of: str


class UndoAnswer(BaseModel):
    id: str  # the undo run
    url: str
    undo_of: str
    rows_deleted: int  # the rows the undone run had written, removed
    rows_inserted: int  # the rows it had replaced, updated or deleted, restored


_RETRIED: dict[int | str, dict[str, Any]] = {
    202: {"model": RetryAnswer, "description": "a new run imports the file again"},
    200: {"model": RetryAnswer, "description": "a retry of this run is already waiting"},
}


@router.get("/api/v1/runs", responses=responses(401, 422))
async def list_runs(
    request: Request,
    who: Auth,
    account: str | None = None,
    state: Annotated[str | None, Query(json_schema_extra={"enum": list(STATES)})] = None,
    channel: Annotated[str | None, Query(json_schema_extra={"enum": list(CHANNELS)})] = None,
    filename: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    for name in ("account", "state", "channel", "filename", "limit", "offset"):
        # FastAPI keeps the last of a filter given twice: `state=completed&state=failed`
        # listed the failed runs alone, as if one state had been asked for.
        given = dict.fromkeys(request.query_params.getlist(name))
        if len(given) > 1:
            values = ", ".join(quoted(value) for value in given)
            raise ApiError(422, "bad_query", "api.bad_query.twice", name=name, values=values)
    one_of("state", state, STATES)
    one_of("channel", channel, CHANNELS)
    if who.account is not None:
        if account not in (None, who.account):
            return {"runs": [], "total": 0, "next": None}
        account = who.account
    filters = {"account": account, "state": state, "channel": channel, "filename": filename}
    rows, total = await context.store(request).list_runs(filters, limit, offset)
    settings = context.settings(request)
    rows = [with_plan(settings, row) for row in rows]
    following = None
    if offset + len(rows) < total:
        query = {k: v for k, v in filters.items() if v is not None and k in request.query_params}
        query.update(limit=limit, offset=offset + limit)
        # Whole, as each run's `url` is: a client follows it as given.
        following = str(request.url.replace(query=urlencode(query)))
    return {"runs": [public_run(r) for r in rows], "total": total, "next": following}


def one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    """A filter's value, or 422 `bad_query` naming those it may be."""
    if value is not None and value not in allowed:
        raise ApiError(
            422,
            "bad_query",
            "api.bad_query.filter",
            name=name,
            value=quoted(value),
            allowed=", ".join(allowed),
        )


async def visible_run(request: Request, run_id: str, who: Principal) -> dict[str, Any]:
    run = await found_run(request, run_id)
    if run is None or not who.may_see(run["account"]):
        raise ApiError(404, "not_found", "api.not_found.run", run_id=run_id)
    return with_plan(context.settings(request), run)


async def found_run(request: Request, run_id: str) -> dict[str, Any] | None:
    """The run `run_id`; on a store that records a run only once the importer takes
    its file (SQLite), one still waiting in the spool as the queued run it is, so that
    the URL a 202 named answers at once, as on PostgreSQL, whose door records it."""
    store = context.store(request)
    run = await store.get_run(run_id)
    if run is not None or store.shared:
        return run
    root = context.settings(request).data_dir / "spool"
    meta = await asyncio.to_thread(pending_meta, root, run_id)
    if meta is None:
        # Taken and recorded between the two looks, or no such run.
        return await store.get_run(run_id)
    return queued_run(run_id, meta, store.instance)


@router.get("/api/v1/runs/{run_id}", responses=responses(401, 404, 422))
async def get_run(request: Request, run_id: str, who: Auth) -> dict[str, Any]:
    """The run, and the requests sent onward for it: a send's parts, or the calls that
    followed an import, each with its answer."""
    run = public_run(await visible_run(request, run_id, who))
    return run | {"requests": await context.store(request).requests_of(run_id)}


@router.get(
    "/api/v1/runs/{run_id}/errors.csv",
    response_model=None,
    responses=_CSV | responses(401, 404, 409, 422),
)
async def run_errors(request: Request, run_id: str, who: Auth) -> Response:
    """The run's error CSV; a run without row errors has the header row alone, so a
    script can always download it. A run that read a file keeps its own (headed by
    the file's header); one that never did (ignored, refused) gets our two columns.
    409 `run_not_final` until the run has ended: the header alone then told a script
    that asked right after its 202 that there were no errors. 404
    `error_report_not_kept` when its file is no longer under data_dir; 404
    `run_is_send` for a send's run, which has none."""
    run = await visible_run(request, run_id, who)
    if run["direction"] == "send":
        raise ApiError(404, "run_is_send", "api.run_is_send.errors_csv", run_id=run_id)
    if not ended(run):
        key = "api.run_not_final.errors_csv"
        raise ApiError(409, "run_not_final", key, run_id=run_id, state=state_of(run))
    found = errors_csv(context.settings(request), run)
    if found is None:
        elsewhere = _elsewhere(request, run)
        if elsewhere:
            key = "api.error_report_kept_elsewhere"
            raise ApiError(404, "error_report_not_kept", key, run_id=run_id, instance=elsewhere)
        raise ApiError(404, "error_report_not_kept", run_id=run_id)
    return found


def _elsewhere(request: Request, run: Mapping[str, Any]) -> str:
    store = context.store(request)
    return kept_elsewhere(run, store.shared, store.instance)


def _unread_encoding(settings: Settings, run: Mapping[str, Any]) -> str:
    """The error CSV's encoding for a run that never learned its file's: a workbook's
    is always UTF-8 with a BOM, a CSV's its account's (worker/error_report.py)."""
    if is_workbook(run["filename"]):
        return WORKBOOK_REPORT_ENCODING
    account = settings.accounts.get(run["account"])
    return unread_encoding(account.encoding if account is not None else "auto")


def errors_csv(settings: Settings, run: Mapping[str, Any]) -> Response | None:
    """A run's error CSV as a download (the API's and the console's); None when the
    run wrote one that is gone (moved aside by hand, or a sweep cut short)."""
    encoding = run["encoding"] or _unread_encoding(settings, run)
    media_type = f"text/csv; charset={CSV_CHARSETS.get(encoding, 'utf-8')}"
    if not run["error_report"]:
        # As FileResponse names a file: RFC 5987 when the name is not plain ASCII.
        # A run that read no file has no name to take one from: never `.errors.csv`.
        named = error_report_name(run["filename"]) if run["filename"] else "errors.csv"
        name = quote(named)
        headers = {"Content-Disposition": f"attachment; filename*=utf-8''{name}"}
        body = header_only(encoding, settings.report.language)
        return Response(body, media_type=media_type, headers=headers)
    path = settings.data_dir / run["error_report"]
    # Looked for now: FileResponse finds a missing file only once the answer has begun.
    if not path.is_file():
        return None
    return FileResponse(path, media_type=media_type, filename=path.name)


@router.get(
    "/api/v1/runs/{run_id}/file",
    response_model=None,
    responses=_FILE | responses(401, 404, 409, 422),
)
async def run_file(request: Request, run_id: str, who: Auth) -> Response:
    """The file as received, byte for byte, under its own name, while it is kept
    (`daemon.retention_days`); 404 `file_not_kept` once swept, or when none came."""
    run = await visible_run(request, run_id, who)
    found = received_file(context.settings(request), run)
    if found is None and not ended(run):
        # Kept once its run has ended: until then "not kept" blamed retention.
        key = "api.run_not_final.file"
        raise ApiError(409, "run_not_final", key, run_id=run_id, state=state_of(run))
    if found is None:
        elsewhere = _elsewhere(request, run)
        if elsewhere:
            key = "api.file_kept_elsewhere"
            raise ApiError(404, "file_not_kept", key, run_id=run_id, instance=elsewhere)
        raise ApiError(404, "file_not_kept", run_id=run_id)
    return found


def received_file(settings: Settings, run: Mapping[str, Any]) -> Response | None:
    """A run's file as received, as a download; None when it is not kept."""
    path = kept_file(settings.data_dir, run["id"], run["filename"])
    if path is None:
        return None
    name = run["filename"] or path.name
    return FileResponse(path, media_type=_media_type(name, run["encoding"]), filename=name)


def _media_type(name: str, encoding: str) -> str:
    if encoding in CSV_CHARSETS:
        return f"text/csv; charset={CSV_CHARSETS[encoding]}"
    return _WORKBOOK_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


@router.post(
    "/api/v1/runs/{run_id}/retry",
    response_model=None,
    responses=_RETRIED | responses(401, 403, 404, 409, 422, 503),
)
async def retry_run(request: Request, run_id: str, who: Auth) -> JSONResponse:
    """Import the run's kept file again under today's config, as a new run whose
    `retry_of` names this one: 202 with its id. While a retry of this run is still
    queued or running, answers that run again (200, `Idempotent-Replayed: true`)."""
    if who.account is not None:
        raise ApiError(403, "forbidden", "api.forbidden.admin_only")
    run = await visible_run(request, run_id, who)
    retry = context.retry(request)
    if retry is None:
        raise ApiError(503, "spool_unavailable", "api.spool_unavailable.not_running")
    retried = await retry(run)
    if retried.refusal is not None:  # the run is there, but not in a state to retry
        elsewhere = _elsewhere(request, run)
        key = refusal_key(retried.refusal, run, elsewhere)
        params = {"run_id": run_id, "state": state_of(run), "name": run["account"]}
        params["instance"], params["holder"] = elsewhere, retried.holder
        raise ApiError(409, retried.refusal, key, **params)
    base = str(request.base_url).rstrip("/")
    body = {"id": retried.run_id, "url": f"{base}/api/v1/runs/{retried.run_id}", "retry_of": run_id}
    if retried.new:
        return JSONResponse(body, 202)
    return JSONResponse(body, 200, headers={"Idempotent-Replayed": "true"})


@router.post(
    "/api/v1/runs/{run_id}/undo",
    response_model=None,
    responses={201: {"model": UndoAnswer}} | responses(401, 403, 404, 409, 422),
)
async def undo_run(request: Request, run_id: str, who: Auth) -> JSONResponse:
    """Take back what a completed run changed, as a new run whose `undo_of` names it:
    201 with its id and counts. 409 when it may not be undone (not completed, a dry
    run, undone already, not the latest run of its file, its before-images not kept,
    rows it wrote or removed changed since through the Records API)."""
    if who.account is not None:
        raise ApiError(403, "forbidden", "api.forbidden.admin_only")
    run = await visible_run(request, run_id, who)
    if run["state"] == RunState.QUEUED:
        # Maybe not in the store yet (SQLite): refused as the store refuses one there.
        params = {"run_id": run_id, "state": state_of(run), "other": ""}
        raise ApiError(409, "run_not_completed", "api.run_not_completed", **params)
    undo, undone = await take_back(request, run_id, "admin")
    if undone.refusal is not None:
        params = {"run_id": run_id, "state": state_of(run), "other": undone.other}
        raise ApiError(409, undone.refusal, f"api.{undone.refusal}", **params)
    base = str(request.base_url).rstrip("/")
    body = {"id": undo.id, "url": f"{base}/api/v1/runs/{undo.id}", "undo_of": run_id}
    body |= {"rows_deleted": undone.deleted, "rows_inserted": undone.restored}
    return JSONResponse(body, 201)


async def take_back(request: Request, run_id: str, by: str) -> tuple[UndoRun, Undone]:
    """Undo run `run_id` as a new run made through the API channel by `by`."""
    settings = context.settings(request)
    undo = UndoRun(new_id(), "api", by, now_iso(), settings.report.language)
    keys = {name: layout.key for name, layout in settings.layouts.items()}
    return undo, await context.store(request).undo_run(run_id, undo, keys)
