"""Sends by hand over HTTP: `POST /api/v1/sends/{name}`, the admin's only (`renkei send`
calls it). The send is built and spooled before the answer; its run says the rest."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from daemon.outward.sends import Trigger
from daemon.web import context
from daemon.web.auth import Auth
from daemon.web.errors import ApiError, responses

router = APIRouter()


class SendOrder(BaseModel):
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
    outward = request.app.state.outward
    if outward is None:
        raise ApiError(503, "spool_unavailable", "api.spool_unavailable.not_running")
    trigger = Trigger("admin", where=where, executor_to=tuple(send.executor_to))
    run_id = await outward.send(name, trigger)
    base = str(request.base_url).rstrip("/")
    body: dict[str, Any] = {"id": run_id, "url": f"{base}/api/v1/runs/{run_id}"}
    return JSONResponse(body, 202)
