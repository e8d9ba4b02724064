"""Sends by hand over HTTP: `POST /api/v1/sends/{name}`, the admin's only (`renkei send`
calls it). The send is built and spooled before the answer; its run says the rest."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from daemon.outward.deliver import NotSpooled
from daemon.outward.sends import NeedsRun, Trigger
from daemon.settings.model import Column
from daemon.settings.problems import OsTrouble
from daemon.web import context
from daemon.web.auth import Auth
from daemon.web.errors import ApiError, responses
from handlers.api import RETRY_AFTER
from importers.errors import CellError
from importers.layouts import converter
from importers.messages import message, quoted

router = APIRouter()


class SendOrder(BaseModel):
    # A misspelled `wher` was passed over, and every row of the layout went.
    model_config = ConfigDict(extra="forbid")

    where: dict[str, str] = Field(
        default_factory=dict, description="only rows whose columns have these values"
    )


class SendAnswer(BaseModel):
    id: str  # the send's run
    url: str


@router.post(
    "/api/v1/sends/{name}",
    response_model=None,
    responses={202: {"model": SendAnswer}} | responses(400, 401, 403, 404, 422, 503),
)
async def send_now(
    request: Request, name: str, who: Auth, order: SendOrder | None = None
) -> JSONResponse:
    """Send `name` now: its rows as CSV to its URL, as a new run (`direction`: send);
    202 with the run's id once the requests are spooled."""
    if who.account is not None:
        raise ApiError(403, "forbidden", "api.forbidden.admin_only")
    settings = context.settings(request)
    send = settings.sends.get(name)
    if send is None:
        raise ApiError(404, "not_found", "api.not_found.send", name=name)
    where = (order or SendOrder()).where
    columns = {c.name for c in settings.layouts[send.layout].columns}
    unknown = sorted(set(where) - columns)
    if unknown:
        raise ApiError(422, "unknown_column", "api.unknown_column", columns=", ".join(unknown))
    _check_where(where, settings.layouts[send.layout].columns, context.language(request))
    outward = request.app.state.outward
    if outward is None:
        raise ApiError(503, "spool_unavailable", "api.spool_unavailable.not_running")
    trigger = Trigger("admin", where=where, executor_to=tuple(send.executor_to))
    try:
        run_id = await outward.send(name, trigger)
    except NeedsRun:
        raise ApiError(422, "send_needs_run", "api.send_needs_run", name=name) from None
    except NotSpooled as exc:
        # Its run is failed already, saying so; the disk's trouble is said here too.
        cause = OsTrouble(exc.__cause__ or exc).render(context.language(request))
        raise ApiError(
            503,
            "spool_unavailable",
            "api.spool_unavailable.send",
            headers={"Retry-After": str(RETRY_AFTER)},
            cause=cause,
        ) from None
    base = str(request.base_url).rstrip("/")
    body: dict[str, Any] = {"id": run_id, "url": f"{base}/api/v1/runs/{run_id}"}
    return JSONResponse(body, 202)


def _check_where(where: dict[str, str], columns: list[Column], language: str) -> None:
    """A value its column would refuse (a date that is none) found nothing, silently:
    said as the Records API says a search value it cannot use. An empty value is
    taken as it is (the rows whose cell is empty)."""
    by_name = {c.name: c for c in columns}
    for name, value in where.items():
        if value == "":
            continue
        try:
            converter(by_name[name])(value)
        except CellError as error:
            problem = message(error.key, language, **error.params)
            # A value of thousands of digits is not said again whole.
            params = {"column": name, "value": quoted(value), "problem": problem}
            raise ApiError(422, "invalid_search", "api.send_bad_where", **params) from None
