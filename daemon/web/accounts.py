"""Accounts over HTTP: their status, channels, last run, next checks, expected files and
the days they were missed; check now.

An account's token sees only its own account.
"""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from daemon.poll.windows import Schedule, next_checks
from daemon.settings import Settings
from daemon.store.runs import public_run
from daemon.web import context
from daemon.web.auth import Auth
from daemon.web.errors import ApiError, responses
from handlers.api import RETRY_AFTER
from handlers.base import SpoolUnavailable

router = APIRouter()
CHANNELS = ("mail", "ftp", "api", "dropdir")


async def account_view(request: Request, name: str) -> dict[str, Any]:
    settings = context.settings(request)
    account = settings.accounts[name]
    rows, _ = await context.store(request).list_runs({"account": name}, 1)
    return {
        "name": name,
        "status": account.status,
        "layout": account.layout,
        "channels": [c for c in CHANNELS if getattr(account, c)],
        "last_run": public_run(rows[0]) if rows else None,
        "next_checks": account_checks(settings, name),
        "expected": account.expect.model_dump(exclude_none=True) if account.expect else None,
        "missing": [day for _, day in await context.store(request).open_misses(name)],
    }


@router.get("/api/v1/accounts", responses=responses(401))
async def list_accounts(request: Request, who: Auth) -> dict[str, Any]:
    names = [n for n in context.settings(request).accounts if who.may_see(n)]
    return {"accounts": [await account_view(request, n) for n in names]}


@router.get("/api/v1/accounts/{name}", responses=responses(401, 404, 422))
async def get_account(request: Request, name: str, who: Auth) -> dict[str, Any]:
    if name not in context.settings(request).accounts or not who.may_see(name):
        raise ApiError(404, "not_found", "api.not_found.account", name=name)
    return await account_view(request, name)


@router.post("/api/v1/accounts/{name}/poll", responses=responses(401, 404, 409, 422, 503))
async def poll_account(request: Request, name: str, who: Auth) -> dict[str, Any]:
    settings = context.settings(request)
    if name not in settings.accounts or not who.may_see(name):
        raise ApiError(404, "not_found", "api.not_found.account", name=name)
    account = settings.accounts[name]
    if account.status == "stopped":
        raise ApiError(409, "account_stopped", name=name)
    poll = context.poll(request)
    if account.ftp is None or poll is None:
        raise ApiError(409, "no_ftp", name=name)
    if not settings.ftp.enabled:
        raise ApiError(409, "no_ftp", "api.ftp_disabled", name=name)
    try:
        ids = await poll(name)
    except SpoolUnavailable:
        # The files wait in the home for the next check, as a full spool leaves them.
        retry = {"Retry-After": str(RETRY_AFTER)}
        raise ApiError(
            503, "spool_unavailable", "api.spool_unavailable.poll", headers=retry
        ) from None
    base = str(request.base_url).rstrip("/")
    return {"runs": [{"id": i, "url": f"{base}/api/v1/runs/{i}"} for i in ids]}


def account_checks(settings: Settings, name: str, count: int = 5) -> list[str]:
    """The account's next check times, ISO 8601 with offset; [] without FTP intake
    (the account's, or the daemon's: `ftp.enabled = false` starts no poller), and while
    the account is stopped (its scheduled checks pass it by)."""
    account = settings.accounts[name]
    ftp = account.ftp
    if ftp is None or account.status == "stopped" or not settings.ftp.enabled:
        return []
    schedule = Schedule.of(ftp, settings.daemon.timezone)
    return [t.isoformat() for t in next_checks(schedule, datetime.now(UTC), count)]
