"""The upload form of 連携設定: a file sent through the API channel, checked first.

Step one imports it as a dry run (every check, no row written, no mail) and shows the
counts and the first errors; step two, the confirm, spools the very file the dry run
read (kept with its run) for real. The confirm carries the dry run's id as its
idempotency key, so a double click imports the file once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from daemon.console import audit
from daemon.console.access import Refused, Viewer, Who, run_account
from daemon.console.pages.accounts import show_account
from daemon.console.render import checked_form, language
from daemon.spool.kept import kept_file
from daemon.store.runs import RunState, kept_elsewhere
from daemon.web import context
from handlers.api import file_options
from handlers.base import Delivery, SpoolUnavailable, bare_name
from importers.messages import message, words_of
from importers.workbook import is_workbook

router = APIRouter()
PREVIEW_SECONDS = 60.0
PREVIEW_ERRORS = 10


@router.post("/console/accounts/{name}/upload")
async def preview(request: Request, name: str, who: Who) -> Response:
    form = await checked_form(request, who)
    run_account(who, request, name, "upload_preview")
    settings = context.settings(request)
    account = settings.accounts[name]
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _refused(request, who, name, "console.upload.no_file")
    filename = bare_name(upload.filename)
    if account.status == "stopped":
        return await _refused(request, who, name, "console.upload.stopped", 409)
    sink = request.app.state.sink
    if sink is None:
        raise Refused(503, "api.spool_unavailable.not_running")
    problem = sink.filename_problem(filename, account=account, language=language(request))
    if problem is not None and is_workbook(filename) and not account.excel:
        # Said as its run would say it: the name rule, which then names only .csv,
        # left the Excel switch unsaid.
        problem = message("file.excel_off", language(request))
    if problem is not None:
        return await _refused(request, who, name, "console.upload.bad_name", detail=problem)
    limit = settings.limits_for(account).max_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        return await _refused(request, who, name, "console.upload.too_large", 413, limit=limit)
    options = _options(request, name) | {"dry_run": True}
    delivery = Delivery(name, "api", who.name, filename, data, options=options)
    run_id = await _spool(sink, delivery)
    said = audit.detail("file_run", file=filename, run=run_id)
    await audit.record(request, who.name, "upload_preview", name, "ok", said)
    # Waited for as the API's ?wait=true does; its first errors are read below, with
    # their words.
    report = await sink.finished(run_id, PREVIEW_SECONDS, 0)
    store = context.store(request)
    run = await store.get_run(run_id)
    errors = []
    if run is not None and report is not None:
        # The first errors, less a whole file's problem (an empty file, an Excel file
        # the account refuses): the run's message says that already. From the store,
        # with the words that say them in the page's language.
        found = await store.run_errors(run_id, limit=PREVIEW_ERRORS)
        errors = [e for e in found if e.message != run["message"]]
    values: dict[str, Any] = {"preview": run, "preview_errors": errors}
    values["preview_said"] = words_of(run.get("said")) if run else None
    return await show_account(request, who, name, **values)


@router.post("/console/accounts/{name}/upload/confirm")
async def confirm(request: Request, name: str, who: Who) -> Response:
    form = await checked_form(request, who)
    run_account(who, request, name, "upload")
    settings = context.settings(request)
    preview_id = str(form.get("preview", ""))[:100]
    run = await context.store(request).get_run(preview_id)
    if run is None or run["account"] != name or not run["dry_run"]:
        said = audit.detail("no_preview", run=preview_id)
        await audit.record(request, who.name, "upload", name, "refused", said)
        raise Refused(404, "console.error.no_run", run_id=preview_id)
    if run["state"] != RunState.COMPLETED:
        return await _refused(request, who, name, "console.upload.not_importable", 409, "upload")
    if settings.accounts[name].status == "stopped":  # stopped since the preview
        return await _refused(request, who, name, "console.upload.stopped", 409, "upload")
    path = kept_file(settings.data_dir, run["id"], run["filename"])
    store = context.store(request)
    if path is None and (keeper := kept_elsewhere(run, store.shared, store.instance)):
        # Checked on another instance of a shared store (a load balancer between the two
        # steps): its file is there, not gone.
        key = "console.upload.kept_elsewhere"
        return await _refused(request, who, name, key, 409, "upload", instance=keeper)
    if path is None:
        return await _refused(request, who, name, "console.upload.expired", 409, "upload")
    data = await asyncio.to_thread(path.read_bytes)
    delivery = Delivery(
        name,
        "api",
        who.name,
        run["filename"],
        data,
        options=_options(request, name),
        idempotency_key=f"console:{run['id']}",
    )
    run_id = await _spool(request.app.state.sink, delivery)
    said = audit.detail("file_run", file=run["filename"], run=run_id)
    await audit.record(request, who.name, "upload", name, "ok", said)
    return RedirectResponse(f"/console/runs/{run_id}?notice=uploaded", 303)


def _options(request: Request, name: str) -> dict[str, Any]:
    """What the account's API shape decides for its files, as an API upload would."""
    api = context.settings(request).accounts[name].api
    return file_options(api) if api is not None else {}


async def _spool(sink: Any, delivery: Delivery) -> str:
    if sink is None:
        raise Refused(503, "api.spool_unavailable.not_running")
    try:
        receipt = await sink.spool([delivery])
    except SpoolUnavailable:
        raise Refused(503, "console.upload.no_room") from None
    return receipt.ids[0]


async def _refused(
    request: Request,
    who: Viewer,
    name: str,
    key: str,
    status: int = 422,
    action: str = "upload_preview",
    **params: Any,
) -> Response:
    """The account's page saying why; audited as the step refused (確認 or 取り込む)."""
    said = audit.detail(key.replace("console.", "", 1))
    await audit.record(request, who.name, action, name, "refused", said)
    error = {"key": key, "params": params}
    return await show_account(request, who, name, status, upload_error=error)
