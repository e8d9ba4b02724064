"""Deliveries refused at the door over HTTP: `GET /api/v1/refusals`, the admin's only.

Read from the intake sink's memory of them (daemon/spool/refusals.py): the latest
since the daemon started, newest first.
"""

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from daemon.spool.refusals import KEPT, RefusalLog
from daemon.web import context
from daemon.web.accounts import CHANNELS as DOORS
from daemon.web.auth import Auth
from daemon.web.errors import ApiError, responses
from daemon.web.runs import one_of

router = APIRouter()


class RefusalOut(BaseModel):
    """One delivery refused at the door: no run was made for it."""

    at: str = Field(description="when, ISO 8601 in UTC")
    channel: str = Field(description="mail, ftp, api or dropdir")
    peer: str = Field(description="the client's address and port")
    code: str = Field(description="the reply as sent: 550 5.1.1, 553, 401 …")
    reason: str = Field(description="stable: unknown_recipient, login_failed, bad_token …")
    who: str = Field(description="the sender address, FTP user or token's account")
    what: str = Field(description="the recipient, file name or request path")
    detail: str = Field(description="a short English sentence")


class RefusalList(BaseModel):
    refusals: list[RefusalOut]


@router.get("/api/v1/refusals", response_model=RefusalList, responses=responses(401, 403, 422))
async def list_refusals(
    request: Request,
    who: Auth,
    channel: str | None = None,
    since: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=KEPT)] = 100,
) -> dict[str, Any]:
    """The latest deliveries refused at the door since the daemon started, newest
    first; `since` without an offset is in `daemon.timezone`."""
    if who.account is not None:
        raise ApiError(403, "forbidden", "api.forbidden.admin_only")
    # A channel not listed finds nothing, which a typo would take for an answer.
    one_of("channel", channel, DOORS)
    kept = _log(request)
    if kept is None:
        return {"refusals": []}
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=ZoneInfo(context.settings(request).daemon.timezone))
    found = kept.recent(channel, since, limit)
    return {"refusals": [refused.as_json() for refused in found]}


def _log(request: Request) -> RefusalLog | None:
    """The sink's memory of refusals; none when the daemon serves no door."""
    return getattr(request.app.state.sink, "refusals", None)
