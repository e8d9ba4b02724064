"""連携設定: each account's linkage as its admin thinks of it — how files come (mail,
FTP, API, drop folder), its status, where to send, who may send, the FTP schedule and
its next checks, report addresses, the layout's columns, expected files and the days
they were missed — with 今すぐチェック, 稼働 / 停止 (admin) and the upload form."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from daemon.console import audit
from daemon.console.access import Refused, Viewer, Who, admin_only, run_account, see_account
from daemon.console.render import checked_form, page
from daemon.web import context
from daemon.web.accounts import account_view as api_view

router = APIRouter()


async def account_view(request: Request, name: str) -> dict[str, Any]:
    """The API's view of the account, with what the page shows besides: its settings,
    its layout's columns, and the console's switch of it."""
    account = context.settings(request).accounts[name]
    switches = getattr(request.app.state, "switches", None)
    return await api_view(request, name) | {
        "account": account,
        "layout_spec": context.settings(request).layouts.get(account.layout),
        "switch": switches.get(name) if switches is not None else None,
    }


@router.get("/console/accounts")
async def accounts_page(request: Request, who: Who) -> Response:
    names = who.visible(list(context.settings(request).accounts))
    views = [await account_view(request, name) for name in names]
    return page(request, "accounts.html", who, views=views)


@router.get("/console/accounts/{name}")
async def account_page(request: Request, name: str, who: Who) -> Response:
    see_account(who, request, name)
    return await show_account(request, who, name)


async def show_account(
    request: Request, who: Viewer, name: str, status: int = 200, **extra: Any
) -> Response:
    view = await account_view(request, name)
    values = {"upload_error": "", "preview": None, "preview_errors": [], "preview_said": None}
    values |= extra
    return page(request, "account.html", who, status, view=view, **values)


@router.post("/console/accounts/{name}/poll")
async def poll(request: Request, name: str, who: Who) -> Response:
    await checked_form(request, who)
    run_account(who, request, name, "poll")
    settings = context.settings(request)
    account = settings.accounts[name]
    if account.status == "stopped":
        await audit.record(
            request, who.name, "poll", name, "refused", audit.detail("account_stopped")
        )
        raise Refused(409, "api.account_stopped", name=name)
    checker = context.poll(request)
    if account.ftp is None or checker is None:
        raise Refused(409, "api.no_ftp", name=name)
    if not settings.ftp.enabled:
        raise Refused(409, "api.ftp_disabled", name=name)
    ids = await checker(name)
    await audit.record(request, who.name, "poll", name, "ok", audit.detail("polled", n=len(ids)))
    notice = f"polled&taken={len(ids)}" if ids else "polled_none"
    return RedirectResponse(f"/console/accounts/{quote(name, safe='')}?notice={notice}", 303)


@router.post("/console/accounts/{name}/status")
async def switch(request: Request, name: str, who: Who) -> Response:
    form = await checked_form(request, who)
    see_account(who, request, name)
    admin_only(who, "status", name)
    status = form.get("status")
    switcher = getattr(request.app.state, "switch", None)
    if status not in ("active", "stopped") or switcher is None:
        raise Refused(422, "console.error.bad_status")
    await switcher(name, status, who.name)
    await audit.record(request, who.name, "status", name, "ok", audit.detail(str(status)))
    notice = "started" if status == "active" else "stopped"
    return RedirectResponse(f"/console/accounts/{quote(name, safe='')}?notice={notice}", 303)
